"""The admin's prompt editor: write a policy prompt, preview its verdicts on recent items, then save a version.

Previewing asks the endpoint about a handful of recent items (at most ``MAX_PREVIEW_ITEMS``, and no more than
``llm_runs.PREVIEW_SECONDS`` of asking) on an ``llm`` worker: the admin's request only records what to ask, and the
page polls for the answers, so a model that takes 40 s an item never holds a web worker. It writes no label and
is charged to the endpoint's daily budget. Saving writes the next version of the category's prompt.
"""

import json

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from classifiers.models import PolicyCategory
from labeling import llm_runs
from labeling.models import LLMEndpoint, PolicyPrompt, PromptPreview

MAX_PREVIEW_ITEMS = 20


class PromptForm(forms.Form):
    category = forms.ModelChoiceField(PolicyCategory.objects.filter(is_active=True))
    endpoint = forms.ModelChoiceField(LLMEndpoint.objects.filter(active=True), help_text="Only for the preview.")
    policy_text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 100}))
    examples = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 100}),
        required=False,
        initial="[]",
        help_text='[{"text": "...", "violates": true, "rationale": "..."}]',
    )
    max_rationale_chars = forms.IntegerField(min_value=20, max_value=2000, initial=500)
    preview_items = forms.IntegerField(min_value=1, max_value=MAX_PREVIEW_ITEMS, initial=3)

    def clean_examples(self) -> list:
        try:
            examples = json.loads(self.cleaned_data["examples"] or "[]")
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        prompt = PolicyPrompt(examples=examples)
        try:
            prompt.clean()
        except Exception as exc:  # noqa: BLE001 - a ValidationError whose message the form shows
            raise forms.ValidationError(getattr(exc, "message_dict", {}).get("examples", str(exc))) from None
        return examples


@staff_member_required
@require_http_methods(["GET", "POST"])
def prompt_editor(request: HttpRequest) -> HttpResponse:
    form = PromptForm(request.POST or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "save" in request.POST:
            prompt = llm_runs.create_prompt_version(
                category=data["category"],
                policy_text=data["policy_text"],
                examples=data["examples"],
                max_rationale_chars=data["max_rationale_chars"],
                user=request.user,
            )
            messages.success(request, f"Saved {prompt}.")
            return redirect("admin:labeling_policyprompt_changelist")
        preview = llm_runs.request_preview(
            category=data["category"],
            endpoint=data["endpoint"],
            policy_text=data["policy_text"],
            examples=data["examples"],
            max_rationale_chars=data["max_rationale_chars"],
            items=data["preview_items"],
            user=request.user,
        )
    context = {"form": form, "preview": preview, "title": "Policy prompt"}
    return render(request, "labeling/prompt_editor.html", context)


@staff_member_required
@require_GET
def preview_answers(request: HttpRequest, preview_id: int) -> HttpResponse:
    """The preview's answers once the worker has them (htmx polls this fragment while it is pending)."""
    preview = llm_runs.give_up_unanswered_preview(
        get_object_or_404(PromptPreview, pk=preview_id, requested_by=request.user)
    )
    return render(request, "labeling/prompt_editor.html#preview", {"preview": preview})
