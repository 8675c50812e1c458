"""Senior moderators' QA review of others' decisions: blind call, reveal, agree or overturn.

Every state has its own URL: ``/qa/`` picks a sample and redirects to it, ``/qa/decisions/<id>/``
shows the item without its decision, ``.../reveal?action=...&categories=...`` shows the original
decision next to the senior's own call (a GET: nothing is written yet), and a POST to
``.../verdict`` records the verdict and moves on to the next sample. htmx requests get the
``#qa`` fragment and the URL pushed; plain requests get full pages and redirects.

Authorisation is written once, in ``_decision_for_senior`` (403 for non-seniors and for decisions
the senior may not review, 404 for unknown ones); an already reviewed decision answers 409.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url, reswap, retarget

from queues.models import Decision
from review import qa, selectors
from review.models import QAReview
from review.views import _blur_images


def _ensure_senior(request: HttpRequest) -> None:
    if not qa.is_senior(request.user):
        raise PermissionDenied("QA review is for senior moderators.")


def _decision_for_senior(request: HttpRequest, decision_id: int) -> Decision:
    """The decision if this senior may QA it. Raises 403, 404, or qa.AlreadyReviewed (the caller's 409)."""
    _ensure_senior(request)
    decision = get_object_or_404(
        Decision.objects.select_related("item__author", "entry__queue", "reviewer"), pk=decision_id
    )
    try:
        qa.check_reviewable(decision=decision, user=request.user)
    except qa.NotReviewable as exc:
        raise PermissionDenied(str(exc)) from exc
    return decision


def _context(request: HttpRequest, decision: Decision | None = None, **extra) -> dict:
    context = {"rates": selectors.overturn_rates(days=30), **extra}
    if decision is None:
        return context
    item = decision.item
    return {
        **context,
        "decision": decision,
        "item": item,
        "entry": decision.entry,
        "reports": list(item.reports.all()[:50]),
        "scores": (scores := selectors.category_scores(item)),
        "score_versions": selectors.score_versions(scores),
        "history": selectors.author_history(item),
        "blur": _blur_images(request),
        "text_fold": 1500,
    }


def _revealed(request: HttpRequest, decision: Decision, call: qa.Call, **extra) -> dict:
    """The context once the senior made their call: the original decision is shown next to it."""
    return _context(
        request,
        decision,
        call=call,
        agrees=call.matches(decision),
        original_categories=list(decision.categories.all()),
        copies=decision.group_copies.count(),
        actions=[(action.value, action.label) for action in qa.QA_ACTIONS],
        **extra,
    )


def _render(request: HttpRequest, context: dict, *, status: int = 200, url: str | None = None) -> HttpResponse:
    if not request.htmx:
        return render(request, "review/qa.html", context, status=status)
    response = render(request, "review/qa.html#workspace", context, status=status)
    return push_url(response, url) if url else response


def _already_reviewed(request: HttpRequest, message: str) -> HttpResponse:
    response = _render(request, _context(request, already=message), status=409)
    # Whatever part of the page asked, the whole QA panel says so.
    return reswap(retarget(response, "#qa"), "innerHTML") if request.htmx else response


def _next(request: HttpRequest, *, skip: int | None = None, notice: str = "") -> HttpResponse:
    sample = qa.next_sample(user=request.user, exclude=[skip] if skip else [])
    if sample is None:
        return _render(request, _context(request, notice=notice), url=reverse("qa"))
    if not request.htmx:
        return redirect("qa-decision", sample.pk)
    sample = Decision.objects.select_related("item__author", "entry__queue", "reviewer").get(pk=sample.pk)
    return _render(request, _context(request, sample, notice=notice), url=reverse("qa-decision", args=[sample.pk]))


@require_GET
@login_required
def qa_next(request: HttpRequest) -> HttpResponse:
    """Pick a random decision to review and show it at its own URL; ``?skip=<id>`` passes over one."""
    _ensure_senior(request)
    skip = request.GET.get("skip", "")
    return _next(request, skip=int(skip) if skip.isdigit() else None)


@require_GET
@login_required
def qa_decision(request: HttpRequest, decision_id: int) -> HttpResponse:
    """The sampled item, blind: the senior makes their own call before seeing the decision."""
    try:
        decision = _decision_for_senior(request, decision_id)
    except qa.AlreadyReviewed as exc:
        return _already_reviewed(request, str(exc))
    return _render(request, _context(request, decision), url=reverse("qa-decision", args=[decision.pk]))


@require_GET
@login_required
def qa_reveal(request: HttpRequest, decision_id: int) -> HttpResponse:
    """After the senior's call (in the query string): the original decision, and agree or overturn."""
    try:
        decision = _decision_for_senior(request, decision_id)
    except qa.AlreadyReviewed as exc:
        return _already_reviewed(request, str(exc))
    try:
        call = qa.validate_call(action=request.GET.get("action", ""), categories=request.GET.getlist("categories"))
    except qa.InvalidVerdict as exc:
        return _render(request, _context(request, decision, error=str(exc)), status=400)
    return _render(request, _revealed(request, decision, call), url=request.get_full_path())


@require_POST
@login_required
def qa_verdict(request: HttpRequest, decision_id: int) -> HttpResponse:
    """Record agree or overturn, then hand over the next sample."""
    try:
        decision = _decision_for_senior(request, decision_id)
    except qa.AlreadyReviewed as exc:
        return _already_reviewed(request, str(exc))
    verdict = request.POST.get("verdict", "")
    overturn = verdict == QAReview.Verdict.OVERTURN
    action, categories = request.POST.get("action", ""), request.POST.getlist("categories")
    try:
        review = qa.record_qa_review(
            decision_id=decision.pk,
            user=request.user,
            verdict=verdict,
            # The form always carries the call; only an overturn puts it in place.
            action=action if overturn else "",
            categories=categories if overturn else [],
            note=request.POST.get("note", "")[:2000],
        )
    except qa.InvalidVerdict as exc:
        try:
            call = qa.validate_call(action=action, categories=categories)
        except qa.InvalidVerdict:
            call = qa.Call(action=decision.action, categories=tuple(decision.categories.all()))
        return _render(request, _revealed(request, decision, call, error=str(exc)), status=400)
    except qa.AlreadyReviewed as exc:
        return _already_reviewed(request, str(exc))
    except qa.NotReviewable as exc:
        raise PermissionDenied(str(exc)) from exc
    reviewer = decision.reviewer.get_username() if decision.reviewer else "the reviewer"
    if review.verdict == QAReview.Verdict.AGREE:
        notice = f"Agreed with {reviewer}."
    else:
        notice = f"Overturned {reviewer}'s decision: {review.get_new_action_display()}; labels replaced."
    if not request.htmx:
        messages.success(request, notice)
        return redirect("qa")  # post/redirect/get: a reload does not post the verdict again
    return _next(request, notice=notice)
