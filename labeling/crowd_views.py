"""The crowd labeler's pages: their task sets, one blind task at a time, answered from the keyboard.

Only members of the crowd group get here, and they see only the item's text with personal data masked: no
author, no reporters, no metadata, no scores, nobody else's answer. A task that is not theirs is a 403; a second
answer is a 409; an answer that is not an option is a 400. htmx requests get the ``workspace`` fragment.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from labeling import crowd
from labeling.models import CrowdAssignment, CrowdTaskSet
from labeling.pii import mask_personal_data

TEMPLATE = "labeling/crowd_task.html"


def _ensure_crowd_labeler(request: HttpRequest) -> None:
    if not crowd.is_crowd_labeler(request.user):
        raise PermissionDenied("Crowd labelling is for members of the crowd labelers group.")


def _task_set_for_labeler(request: HttpRequest, task_set_id: int) -> CrowdTaskSet:
    _ensure_crowd_labeler(request)
    return get_object_or_404(crowd.task_sets_for(request.user), pk=task_set_id)


def _assignment_for_labeler(request: HttpRequest, task_id: int) -> CrowdAssignment:
    _ensure_crowd_labeler(request)
    assignment = (
        CrowdAssignment.objects.select_related("task__item", "task__task_set")
        .filter(task_id=task_id, labeler=request.user)
        .first()
    )
    if assignment is None:
        raise PermissionDenied("This task is not assigned to you.")
    return assignment


def _render_task(request: HttpRequest, assignment: CrowdAssignment | None, *, task_set, status=200, error=""):
    context = {"task_set": task_set, "assignment": assignment, "error": error}
    if assignment is not None:
        context |= {
            "text": mask_personal_data(assignment.task.item.text),
            "options": [(str(i), option) for i, option in enumerate(crowd.answer_options(task_set))],
        }
    template = f"{TEMPLATE}#workspace" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_GET
@login_required
def crowd_home(request: HttpRequest) -> HttpResponse:
    _ensure_crowd_labeler(request)
    return render(request, "labeling/crowd_home.html", {"task_sets": crowd.task_sets_for(request.user)})


@require_GET
@login_required
def crowd_next(request: HttpRequest, task_set_id: int) -> HttpResponse:
    task_set = _task_set_for_labeler(request, task_set_id)
    assignment = crowd.next_assignment(task_set=task_set, user=request.user)
    if assignment is None:
        return _render_task(request, None, task_set=task_set)
    return redirect("crowd-task", task_id=assignment.task_id)


@require_GET
@login_required
def crowd_task(request: HttpRequest, task_id: int) -> HttpResponse:
    assignment = _assignment_for_labeler(request, task_id)
    if assignment.answered_at is not None:
        return _render_task(request, None, task_set=assignment.task.task_set, error="You have answered this task.")
    return _render_task(request, assignment, task_set=assignment.task.task_set)


@require_POST
@login_required
def crowd_answer(request: HttpRequest, task_id: int) -> HttpResponse:
    _ensure_crowd_labeler(request)
    try:
        assignment = crowd.record_answer(task_id=task_id, user=request.user, answer=request.POST.get("answer", ""))
    except crowd.CrowdError as exc:
        if exc.status == 403:
            raise PermissionDenied(str(exc)) from exc
        held = CrowdAssignment.objects.select_related("task__item", "task__task_set").get(
            task_id=task_id, labeler=request.user
        )
        again = held if exc.status == 400 else None
        return _render_task(request, again, task_set=held.task.task_set, status=exc.status, error=str(exc))
    task_set = assignment.task.task_set
    following = crowd.next_assignment(task_set=task_set, user=request.user)
    if not request.htmx:
        return redirect("crowd-task", task_id=following.task_id) if following else redirect("crowd-next", task_set.pk)
    response = _render_task(request, following, task_set=task_set)
    target = reverse("crowd-task", args=[following.task_id]) if following else reverse("crowd-next", args=[task_set.pk])
    return push_url(response, target)
