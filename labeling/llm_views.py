"""Staff pages for LLM labelers: a run's progress (polled by htmx), and an item's LLM second opinions.

The model's rationale is untrusted text like any user content: templates print it with autoescape on and never
mark it safe, so a rationale holding HTML shows as text. The second opinion is marked as an LLM's and never
pre-selects anything in the work view.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from intake.models import Item
from labeling.bulk_views import may_see_run
from labeling.llm_runs import run_progress
from labeling.models import LLMResult, LLMRun
from queues.membership import queues_for

RESULTS_SHOWN = 200


@require_GET
@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """A run's progress, for staff and for the lead who started it."""
    run = get_object_or_404(LLMRun.objects.select_related("labeler__prompt__category", "labeler__endpoint"), pk=run_id)
    if not may_see_run(request.user, run):
        raise PermissionDenied("Only staff and the lead who started this run may see it.")
    results = run.results.select_related("item").order_by("-finished_at", "id")[:RESULTS_SHOWN]
    context = {"run": run, "progress": run_progress(run), "results": results}
    template = "labeling/run.html#progress" if request.htmx else "labeling/run.html"
    return render(request, template, context)


def _item_for_moderator(request: HttpRequest, item_id: int) -> Item:
    """The item if the user may review it: staff, or a member of a queue the item is (or was) in."""
    item = get_object_or_404(Item, pk=item_id)
    if request.user.is_staff or item.entries.filter(queue__in=queues_for(request.user)).exists():
        return item
    raise PermissionDenied("This item is not in any of your queues.")


@require_GET
@login_required
def item_opinions(request: HttpRequest, item_id: int) -> HttpResponse:
    """The latest LLM verdict per labeler on the item: a fragment the work view loads beside the model scores."""
    item = _item_for_moderator(request, item_id)
    latest: dict[int, LLMResult] = {}
    results = LLMResult.objects.filter(item=item, state=LLMResult.State.DONE).select_related(
        "labeler__prompt__category"
    )
    for result in results.order_by("-finished_at"):
        latest.setdefault(result.labeler_id, result)
    if not latest:
        return HttpResponse(status=204)  # htmx swaps nothing: the work view shows no empty LLM panel
    return render(request, "labeling/_item_opinions.html", {"opinions": list(latest.values())})
