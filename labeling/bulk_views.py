"""Leads' pages: start a bulk LLM labeling run over a selection, and build a crowd task set from one.

Each page is a form; while it is filled in, htmx asks for the estimate fragment (items, cache hits, tokens, cost,
time, today's budget left; or gold tasks and answers needed), so nothing starts before the lead has seen what it
costs. Starting a run needs ``labeling.start_llm_runs``, building a task set ``labeling.build_crowd_task_sets``
(staff have both); the selection only offers queues the user may work (``labeling.selection``).
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from classifiers.models import PolicyCategory
from labeling import crowd, llm_runs
from labeling.crowd import may_build_task_sets
from labeling.models import CrowdTaskSet, LLMEndpoint, LLMRun, PolicyPrompt
from labeling.selection import SelectionForm, queues_visible_to

START_RUNS = "labeling.start_llm_runs"


def may_start_llm_runs(user: AbstractBaseUser) -> bool:
    return user.is_staff or user.has_perm(START_RUNS)


class PromptChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, prompt: PolicyPrompt) -> str:
        return f"{prompt.category.name}, version {prompt.version}{' (default)' if prompt.is_default else ''}"


class LLMRunForm(SelectionForm):
    prompt = PromptChoiceField(
        PolicyPrompt.objects.select_related("category").order_by("category__slug", "-version"),
        help_text="The policy prompt version the model is asked with.",
    )
    endpoint = forms.ModelChoiceField(LLMEndpoint.objects.filter(active=True).order_by("name"))

    field_order = ["prompt", "endpoint", "queue", "category", "since", "until", "limit"]


class CrowdSetForm(SelectionForm):
    name = forms.CharField(max_length=200)
    answer_categories = forms.ModelMultipleChoiceField(
        PolicyCategory.objects.filter(is_active=True).order_by("position", "slug"),
        help_text="The answers offered, besides 'none'.",
    )
    labels_per_item = forms.IntegerField(min_value=1, max_value=15, initial=3, label="Labelers per item (k)")
    gold_rate = forms.FloatField(min_value=0.0, max_value=0.5, initial=0.1)
    agreement_threshold = forms.FloatField(min_value=0.0, max_value=1.0, initial=0.8)

    field_order = ["name", "answer_categories", "labels_per_item", "gold_rate", "agreement_threshold", "queue"]

    def __init__(self, *args, user: AbstractBaseUser, **kwargs) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.fields["review_queue"] = forms.ModelChoiceField(
            queues_visible_to(user).order_by("name"),
            required=False,
            help_text="Where items the crowd disagrees on go.",
        )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if CrowdTaskSet.objects.filter(name=name).exists():
            raise forms.ValidationError("A task set with this name exists.")
        return name


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise PermissionDenied(f"{what} needs the lead's permission.")


@login_required
@require_http_methods(["GET", "POST"])
def new_llm_run(request: HttpRequest) -> HttpResponse:
    _require(may_start_llm_runs(request.user), "Starting an LLM labeling run")
    form = LLMRunForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        item_ids = form.item_ids()
        if not item_ids:
            form.add_error(None, "The selection holds no items with text.")
        else:
            labeler = llm_runs.llm_labeler_for(prompt=data["prompt"], endpoint=data["endpoint"])
            run = llm_runs.start_llm_run(
                labeler=labeler, item_ids=item_ids, user=request.user, selection=form.describe()
            )
            messages.success(request, f"Started LLM run {run.pk} over {len(item_ids)} items.")
            return redirect("llm-run", run_id=run.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "labeling/llm_run_new.html", {"form": form}, status=status)


@login_required
@require_GET
def llm_run_estimate(request: HttpRequest) -> HttpResponse:
    """The estimate fragment for the form's current values (htmx, on every change)."""
    _require(may_start_llm_runs(request.user), "Starting an LLM labeling run")
    form = LLMRunForm(request.GET, user=request.user)
    context = {"form": form}
    if form.is_valid():
        data = form.cleaned_data
        context["estimate"] = llm_runs.estimate_run(
            prompt=data["prompt"], endpoint=data["endpoint"], item_ids=form.item_ids()
        )
        context["endpoint"] = data["endpoint"]
    return render(request, "labeling/llm_run_new.html#estimate", context)


@login_required
@require_http_methods(["GET", "POST"])
def new_crowd_set(request: HttpRequest) -> HttpResponse:
    _require(may_build_task_sets(request.user), "Building a crowd task set")
    form = CrowdSetForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        item_ids = form.item_ids()
        if not item_ids:
            form.add_error(None, "The selection holds no items with text.")
        else:
            try:
                task_set = crowd.create_task_set(
                    name=data["name"],
                    categories=list(data["answer_categories"]),
                    item_ids=item_ids,
                    labels_per_item=data["labels_per_item"],
                    gold_rate=data["gold_rate"],
                    agreement_threshold=data["agreement_threshold"],
                    review_queue=data["review_queue"],
                    user=request.user,
                )
            except IntegrityError:  # the same name, saved by someone else a moment ago
                form.add_error("name", "A task set with this name exists.")
            else:
                messages.success(request, f"Built the crowd task set '{task_set.name}' over {len(item_ids)} items.")
                return redirect("crowd-set", task_set_id=task_set.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "labeling/crowd_set_new.html", {"form": form}, status=status)


@login_required
@require_GET
def crowd_set_estimate(request: HttpRequest) -> HttpResponse:
    _require(may_build_task_sets(request.user), "Building a crowd task set")
    form = CrowdSetForm(request.GET, user=request.user)
    context = {"form": form}
    form.is_valid()
    # The name is checked on submit; the estimate needs only the selection and k.
    if not (set(form.errors) - {"name"}):
        data = form.cleaned_data
        item_ids = form.item_ids()
        context["estimate"] = {
            "items": len(item_ids),
            "gold": crowd.gold_tasks_available(item_ids=item_ids, categories=list(data["answer_categories"])),
            "answers": len(item_ids) * data["labels_per_item"],
        }
    return render(request, "labeling/crowd_set_new.html#estimate", context)


@login_required
@require_GET
def crowd_set_detail(request: HttpRequest, task_set_id: int) -> HttpResponse:
    """A task set's progress: answers in, items aggregated, items sent to a moderator (polled while open)."""
    _require(may_build_task_sets(request.user), "A crowd task set's page")
    task_set = get_object_or_404(CrowdTaskSet, pk=task_set_id)
    context = {"task_set": task_set, "progress": crowd.task_set_progress(task_set)}
    template = "labeling/crowd_set.html#progress" if request.htmx else "labeling/crowd_set.html"
    return render(request, template, context)


def may_see_run(user: AbstractBaseUser, run: LLMRun) -> bool:
    """Staff see every run; a lead sees the runs they started."""
    return user.is_staff or (user.has_perm(START_RUNS) and run.requested_by_id == user.pk)
