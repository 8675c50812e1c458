"""The console's pages: search with filters and saved filters, and bulk decisions with progress and undo.

Searching is open to every signed-in user, over the queues they may see; bulk actions need the
``console.run_bulk_actions`` permission (leads), and a bulk action over an item the user may not see
is refused whole with 403.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from charts import svg as charts
from console import bulk, bulk_crowd, bulk_moves, bulk_rescore, selectors, services
from console.access import access_for
from console.forms import SearchForm, filter_params
from console.models import BulkAction, SavedFilter
from console.results import result_rows_html
from console.team import team_report
from queues.models import Decision
from wellness import exposure

SAMPLE_SIZE = 5


def _search_form(
    request: HttpRequest, viewer: selectors.Viewer, data: QueryDict | dict, categories: list | None = None
) -> SearchForm:
    return SearchForm(data, queues=viewer.queues, categories=categories)


def _saved_filter(request: HttpRequest, filter_id: int) -> SavedFilter:
    """One of the user's own saved filters; 404 for anyone else's."""
    return get_object_or_404(SavedFilter, pk=filter_id, user=request.user)


def _verdict_choices() -> list[tuple[str, str]]:
    return [(a.value, a.label) for a in Decision.Action if a != Decision.Action.ESCALATE]


@require_GET
@login_required
def search(request: HttpRequest) -> HttpResponse:
    """The search page; an htmx request for more results gets the results fragment only."""
    stale = None
    data = request.GET
    saved = None
    if request.GET.get("saved", "").isdigit():
        saved = _saved_filter(request, int(request.GET["saved"]))
        data = QueryDict(mutable=True)
        data.update(saved.params)
    access = access_for(request.user)
    viewer = access.viewer
    form = _search_form(request, viewer, data, access.categories)
    page = None
    authors = []
    if form.is_valid():
        criteria = form.criteria()
        before = request.GET.get("before")
        page = selectors.search_items(
            viewer=viewer, criteria=criteria, before=int(before) if before and before.isdigit() else None
        )
        authors = selectors.search_authors(viewer=viewer, text=criteria.text) if not before else []
    elif saved is not None:
        # A saved filter that no longer parses (a deleted category, a queue one left) says so, instead of failing.
        stale = saved
    may_bulk = bulk.may_run_bulk_actions(request.user)
    context = {
        "form": form,
        "page": page,
        "rows_html": result_rows_html(page.rows, may_bulk=may_bulk) if page else "",
        "authors": authors,
        "stale": stale,
        "saved_filters": access.saved_filters,
        "params": filter_params(form),
        "may_bulk": may_bulk,
        "verdicts": _verdict_choices(),
        "categories": access.categories,
        "target_queues": viewer.queues,
        "bulk_kinds": BulkAction.Kind.choices,
        # Read only for those who may use it: the page's other readers keep their 3-5 queries.
        "task_sets": bulk_crowd.open_task_sets() if may_bulk and bulk_crowd.may_build_task_sets(request.user) else [],
    }
    if request.htmx and request.GET.get("before"):
        return render(request, "console/search.html#rows", context)
    return render(request, "console/search.html", context)


@require_POST
@login_required
def save_filter(request: HttpRequest) -> HttpResponse:
    form = _search_form(request, selectors.viewer_for(request.user), request.POST)
    if not form.is_valid():
        messages.error(request, "The filter has errors; fix them before saving it.")
        return redirect(reverse("console-search"))
    try:
        saved = services.save_filter(user=request.user, name=request.POST.get("name", ""), params=filter_params(form))
    except services.FilterRefused as error:
        messages.error(request, str(error))
        return redirect(f"{reverse('console-search')}?{request.POST.urlencode()}")
    messages.success(request, f"Saved the filter {saved.name!r}.")
    return redirect(f"{reverse('console-search')}?saved={saved.pk}")


@require_POST
@login_required
def delete_filter(request: HttpRequest, filter_id: int) -> HttpResponse:
    saved = _saved_filter(request, filter_id)
    services.delete_filter(user=request.user, filter_id=saved.pk)
    messages.success(request, f"Deleted the filter {saved.name!r}.")
    return redirect(reverse("console-search"))


def _selected_ids(request: HttpRequest, viewer: selectors.Viewer) -> list[int] | None:
    """The items a bulk form names: the ticked ones, or every match of the filter it carries; None if malformed."""
    if request.POST.get("scope") == "filter":
        form = _search_form(request, viewer, request.POST)
        if not form.is_valid():
            return None
        items = selectors.filtered_items(viewer, form.criteria())
        return list(items.values_list("pk", flat=True)[: bulk.MAX_BULK_ITEMS + 1])
    raw = request.POST.getlist("item")
    if not all(value.isdigit() for value in raw):
        return None
    return [int(value) for value in raw]


def _refused(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "console/refused.html", {"message": message}, status=status)


@require_POST
@login_required
def bulk_confirm(request: HttpRequest) -> HttpResponse:
    """The confirmation: how many items, a sample of them, and the verdict; nothing is decided yet."""
    if not bulk.may_run_bulk_actions(request.user):
        return _refused(request, "Bulk actions are for leads: you lack the 'run bulk actions' permission.", 403)
    kind = request.POST.get("kind", BulkAction.Kind.DECIDE)
    if kind == BulkAction.Kind.CROWD and not bulk_crowd.may_build_task_sets(request.user):
        message = "Adding items to a crowd task set needs the 'build crowd task sets' permission."
        return _refused(request, message, 403)
    viewer = selectors.viewer_for(request.user)
    ids = _selected_ids(request, viewer)
    if ids is None:
        return _refused(request, "The selection could not be read: item ids must be numbers.", 400)
    hidden = selectors.invisible_item_ids(viewer, ids)
    if hidden:
        message = f"{len(hidden)} of the selected items are not in a queue you may see; nothing was done."
        return _refused(request, message, 403)
    if not ids:
        return _refused(request, "Select at least one item.", 400)
    sample = list(selectors.visible_items(viewer).filter(pk__in=ids[:SAMPLE_SIZE]).order_by("-pk"))
    task_set = request.POST.get("task_set", "")
    to_queue = request.POST.get("to_queue", "")
    context = {
        "ids": ids,
        "count": len(ids),
        "too_many": len(ids) > bulk.MAX_BULK_ITEMS,
        "max_items": bulk.MAX_BULK_ITEMS,
        "sample": sample,
        "kind": kind if kind in BulkAction.Kind.values else BulkAction.Kind.DECIDE,
        "to_queue": to_queue,
        "to_queue_name": next((q.name for q in viewer.queues if q.slug == to_queue), to_queue),
        "action": request.POST.get("action", ""),
        "action_label": dict(_verdict_choices()).get(request.POST.get("action", ""), ""),
        "chosen": request.POST.getlist("category"),
        "note": request.POST.get("note", ""),
        "task_set": task_set,
        "task_set_name": next((t.name for t in bulk_crowd.open_task_sets() if str(t.pk) == task_set), ""),
    }
    return render(request, "console/bulk_confirm.html", context)


@require_POST
@login_required
def bulk_start(request: HttpRequest) -> HttpResponse:
    raw = request.POST.get("items", "")
    if not all(part.isdigit() for part in raw.split(",")):
        return _refused(request, "The selection could not be read: item ids must be numbers.", 400)
    item_ids = [int(part) for part in raw.split(",")]
    note = request.POST.get("note", "").strip()
    try:
        kind = request.POST.get("kind", BulkAction.Kind.DECIDE)
        if kind == BulkAction.Kind.CROWD:
            task_set = request.POST.get("task_set", "")
            started = bulk_crowd.start_bulk_crowd(
                user=request.user, item_ids=item_ids, task_set_id=int(task_set) if task_set.isdigit() else None
            )
        elif kind == BulkAction.Kind.RESCORE:
            started = bulk_rescore.start_bulk_rescore(user=request.user, item_ids=item_ids)
        elif kind == BulkAction.Kind.DECIDE:
            started = bulk.start_bulk_decision(
                user=request.user, item_ids=item_ids, action=request.POST.get("action", ""),
                categories=request.POST.getlist("category"), note=note,
            )  # fmt: skip
        else:
            started = bulk_moves.start_bulk_move(
                user=request.user, item_ids=item_ids, kind=request.POST.get("kind", ""),
                to_queue=request.POST.get("to_queue", ""), note=note,
            )  # fmt: skip
    except bulk.BulkRefused as error:
        return _refused(request, str(error), 403)
    except bulk.BulkInvalid as error:
        return _refused(request, str(error), 400)
    return redirect(reverse("console-bulk", args=[started.pk]))


def _own_bulk_action(request: HttpRequest, bulk_id: int) -> BulkAction:
    """One of the user's own bulk actions; 404 for anyone else's."""
    return get_object_or_404(BulkAction, pk=bulk_id, created_by=request.user)


@require_GET
@login_required
def bulk_progress(request: HttpRequest, bulk_id: int) -> HttpResponse:
    """A bulk action's progress; the page polls the ``progress`` fragment until the action is done."""
    action = _own_bulk_action(request, bulk_id)
    context = {
        "bulk": action,
        "failures": action.items.filter(outcome="failed")[:50],
        "undo_seconds": int(bulk.undo_window().total_seconds()),
    }
    template = "console/bulk.html#progress" if request.htmx else "console/bulk.html"
    return render(request, template, context)


@require_POST
@login_required
def bulk_undo(request: HttpRequest, bulk_id: int) -> HttpResponse:
    action = _own_bulk_action(request, bulk_id)
    if action.kind == BulkAction.Kind.CROWD:
        messages.error(request, "Tasks added to a crowd task set are not undone: workers may have them already.")
        return redirect(reverse("console-bulk", args=[action.pk]))
    try:
        if action.kind == BulkAction.Kind.DECIDE:
            bulk.undo_bulk_action(bulk_action_id=action.pk, user=request.user)
        else:
            bulk_moves.undo_bulk_move(bulk_action_id=action.pk, user=request.user)
    except bulk.BulkInvalid as error:
        messages.error(request, str(error))
    else:
        noun = "decision" if action.kind == BulkAction.Kind.DECIDE else "move"
        messages.success(request, f"Undid {action.succeeded} {noun}{'s' if action.succeeded != 1 else ''}.")
    return redirect(reverse("console-bulk", args=[action.pk]))


@require_GET
@login_required
def team(request: HttpRequest) -> HttpResponse:
    """For leads: throughput, median handling time and QA overturns per reviewer and queue, backlog and breaches."""
    if not request.user.has_perm("console.view_team_page"):
        return _refused(request, "The team page is for leads: you lack the 'view team page' permission.", 403)
    viewer = selectors.viewer_for(request.user)
    report = team_report(viewer)
    context = {
        "report": report,
        "exposure": exposure.team_exposure(),
        "decisions_chart": charts.bar_chart(
            [(row.reviewer, float(row.decisions)) for row in report.reviewers], unit="decisions, last 7 days"
        ),
    }
    return render(request, "console/team.html", context)
