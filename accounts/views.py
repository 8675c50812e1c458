"""Account cases in the browser: work a case queue (claim, decide, next), or open one case.

Cases are claimed and leased by the content machinery (``review.claims``): the work view claims the next
entry of the queue and shows its case; a decision needs the claim's fencing token. Cases are loaded
through ``_case_for_member`` only: a moderator sees a case, and so its linked accounts, only in a queue
they belong to.
"""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from accounts import selectors
from accounts.actions import InvalidAction
from accounts.appeals import AppealRefused, decide_appeal
from accounts.case_decisions import (
    case_of_entry,
    decide_case,
    decide_second_review,
    escalate_case,
    second_review_held_by,
)
from accounts.models import AccountAction, AccountCase, Appeal
from queues.membership import queues_for
from queues.models import Queue, QueueEntry
from review import claims
from review.exceptions import InvalidDecision, LeaseLost

DECISION_KEYS = [
    (AccountAction.Kind.NONE, "n", "No action (not a violation)"),
    (AccountAction.Kind.WARN, "w", "Warn"),
    (AccountAction.Kind.RESET_CREDENTIALS, "p", "Reset password, sign out everywhere"),
    (AccountAction.Kind.RATE_LIMIT, "t", "Rate-limit"),
    (AccountAction.Kind.LOCK, "l", "Lock"),
    (AccountAction.Kind.SUSPEND, "s", "Suspend"),
    (AccountAction.Kind.BAN, "b", "Ban"),
]


def _queue_for_member(request: HttpRequest, slug: str) -> Queue:
    queue = get_object_or_404(Queue, slug=slug)
    if not queues_for(request.user).filter(pk=queue.pk).exists():
        raise PermissionDenied("You are not a member of this queue.")
    return queue


def _case_for_member(request: HttpRequest, case_id: int) -> AccountCase:
    # The membership is read in the same query as the case (and what the view shows of it): one round trip.
    case = selectors.case_for_viewer(request.user, case_id)
    if case is None:
        raise Http404("No such account case.")
    if case.queue_id is None:
        if not request.user.is_staff:
            raise PermissionDenied("This case is in no queue; only staff may open it.")
    elif not case.viewer_is_member:
        raise PermissionDenied("You are not a member of this case's queue.")
    return case


def _held_by(request: HttpRequest, case: AccountCase) -> QueueEntry | None:
    """The case's entry when this reviewer holds it under a live lease."""
    entry = case.entry
    if entry and entry.status == QueueEntry.Status.CLAIMED and entry.claimed_by_id == request.user.pk:
        return entry if entry.lease_until and entry.lease_until > timezone.now() else None
    return None


def _context(request: HttpRequest, case: AccountCase, **extra) -> dict:
    reads = selectors.case_reads(case)
    firings = reads.firings
    named = [c["field"].removeprefix("signal.") for f in firings for c in f.rule.conditions]
    second = second_review_held_by(case, request.user) if case.status == AccountCase.Status.CLOSED else None
    held = second or _held_by(request, case)
    timeline = reads.timeline
    if second:  # blind: nothing that gives the first reviewer's call away (their action on this case)
        timeline = [row for row in timeline if not (row.kind == "action" and row.at >= case.opened_at)]
    open_case = case.status == AccountCase.Status.OPEN
    return {
        "case": case,
        "held": held,
        "second_review": second is not None,
        "lease_seconds": max(0, int((held.lease_until - timezone.now()).total_seconds())) if held else 0,
        # Queued cases are decided under a claim; a case outside any queue only by staff.
        "may_decide": second is not None or (open_case and (held or (case.entry_id is None and request.user.is_staff))),
        "escalation_targets": queues_for(request.user).exclude(pk=case.queue_id) if held and not second else [],
        "summary": selectors.account_summary(case.account, open_cases=case.account_open_cases),
        "firings": firings,
        "signals": selectors.signal_rows(case.account, first=list(dict.fromkeys(named))),
        "timeline": timeline,
        "linked": reads.linked,
        "decisions": DECISION_KEYS,
        **extra,
    }


def _render(request: HttpRequest, case: AccountCase, status: int = 200, **extra) -> HttpResponse:
    template = "accounts/case.html#case" if request.htmx else "accounts/case.html"
    return render(request, template, _context(request, case, **extra), status=status)


def _next_case(request: HttpRequest, queue: Queue, **extra) -> HttpResponse:
    """Claim the next case of ``queue`` for this reviewer and show it, or say the queue is empty."""
    claim = claims.claim_next_item(queue=queue, user=request.user)
    appeal = Appeal.objects.filter(entry_id=claim.entry_id).first() if claim else None
    if appeal is not None:
        response = _render_appeal(request, _appeal_for_member(request, appeal.pk), **extra)
        return push_url(response, reverse("account-appeal", args=[appeal.pk])) if request.htmx else response
    case = case_of_entry(claim.entry_id) if claim else None
    if case is None:
        if claim is not None:  # a content item in an account queue: give it back for the work view
            claims.release_item(entry_id=claim.entry_id, token=claim.token, user=request.user)
        template = "accounts/queue_empty.html#empty" if request.htmx else "accounts/queue_empty.html"
        return render(request, template, {"queue": queue, **extra})
    case = _case_for_member(request, case.pk)
    response = _render(request, case, **extra)
    return push_url(response, reverse("account-case", args=[case.pk])) if request.htmx else response


@require_GET
@login_required
def work(request: HttpRequest, slug: str) -> HttpResponse:
    """The next case of an account queue, claimed under a lease (or the one this reviewer already holds)."""
    return _next_case(request, _queue_for_member(request, slug))


@require_GET
@login_required
def case_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _render(request, _case_for_member(request, case_id))


@require_POST
@login_required
def decide(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_for_member(request, case_id)
    if case.status == AccountCase.Status.CLOSED and second_review_held_by(case, request.user):
        return _decide_second_review(request, case)
    try:
        hours = request.POST.get("duration_hours", "").strip()
        token = request.POST.get("token", "").strip()
        actions = decide_case(
            case=case,
            user=request.user,
            kind=request.POST.get("action", ""),
            duration=timedelta(hours=float(hours)) if hours else None,
            notice=request.POST.get("notice", ""),
            note=request.POST.get("note", "")[:2000],
            ring_account_ids=[int(pk) for pk in request.POST.getlist("ring")],
            token=int(token) if token else None,
        )
    except LeaseLost as exc:
        return _render(request, case, status=409, error=str(exc))
    except (InvalidAction, ValueError, OverflowError) as exc:  # InvalidAction is a ValueError too
        return _render(request, case, status=400, error=str(exc))
    notice = f"Decided: {actions[0].get_kind_display()}" + (
        f" on {len(actions)} accounts." if len(actions) > 1 else "."
    )
    if case.queue_id is not None and case.entry_id is not None:
        return _next_case(request, case.queue, notice=notice)
    # Read again as the view reads it: the decision changed the case, the account and its open cases.
    return _render(request, _case_for_member(request, case.pk), notice=notice)


def _decide_second_review(request: HttpRequest, case: AccountCase) -> HttpResponse:
    queue = case.queue
    try:
        decide_second_review(
            case=case,
            user=request.user,
            kind=request.POST.get("action", ""),
            note=request.POST.get("note", "")[:2000],
            token=int(request.POST.get("token", "").strip() or 0),
        )
    except LeaseLost as exc:
        return _render(request, case, status=409, error=str(exc))
    except (InvalidAction, ValueError) as exc:
        return _render(request, case, status=400, error=str(exc))
    return _next_case(request, queue, notice="Second review recorded.")


@require_POST
@login_required
def escalate(request: HttpRequest, case_id: int) -> HttpResponse:
    """Move a held case to another queue the reviewer belongs to, with a note; then the next case."""
    case = _case_for_member(request, case_id)
    from_queue = case.queue
    target = queues_for(request.user).filter(pk=request.POST.get("to_queue") or 0).first()
    try:
        if target is None:
            raise InvalidDecision("Choose a queue you belong to to escalate to.")
        escalate_case(
            case=case,
            user=request.user,
            to_queue=target,
            note=request.POST.get("note", "")[:2000],
            token=int(request.POST.get("token", "").strip() or 0),
        )
    except LeaseLost as exc:
        return _render(request, case, status=409, error=str(exc))
    except (InvalidDecision, ValueError) as exc:
        return _render(request, case, status=400, error=str(exc))
    return _next_case(request, from_queue, notice=f"Escalated to {target.name}.")


def _appeal_for_member(request: HttpRequest, appeal_id: int) -> Appeal:
    appeal = get_object_or_404(
        Appeal.objects.select_related("action__account__author", "action__case", "action__actor", "queue", "entry"),
        pk=appeal_id,
    )
    if appeal.queue_id is None:
        if not request.user.is_staff:
            raise PermissionDenied("This appeal is in no queue; only staff may open it.")
    elif not queues_for(request.user).filter(pk=appeal.queue_id).exists():
        raise PermissionDenied("You are not a member of this appeal's queue.")
    return appeal


def _render_appeal(request: HttpRequest, appeal: Appeal, status: int = 200, **extra) -> HttpResponse:
    entry = appeal.entry
    held = (
        entry
        if entry
        and entry.status == QueueEntry.Status.CLAIMED
        and entry.claimed_by_id == request.user.pk
        and entry.lease_until
        and entry.lease_until > timezone.now()
        else None
    )
    account = appeal.action.account
    context = {
        "appeal": appeal,
        "held": held,
        "summary": selectors.account_summary(account),
        "firings": selectors.why_here(appeal.action.case) if appeal.action.case_id else [],
        "timeline": selectors.timeline(account),
        **extra,
    }
    template = "accounts/appeal.html#appeal" if request.htmx else "accounts/appeal.html"
    return render(request, template, context, status=status)


@require_GET
@login_required
def appeal_view(request: HttpRequest, appeal_id: int) -> HttpResponse:
    return _render_appeal(request, _appeal_for_member(request, appeal_id))


@require_POST
@login_required
def decide_appeal_view(request: HttpRequest, appeal_id: int) -> HttpResponse:
    appeal = _appeal_for_member(request, appeal_id)
    try:
        token = request.POST.get("token", "").strip()
        decide_appeal(
            appeal=appeal,
            user=request.user,
            overturn=request.POST.get("outcome") == "overturn",
            note=request.POST.get("note", "")[:2000],
            token=int(token) if token else None,
        )
    except (LeaseLost, AppealRefused) as exc:
        return _render_appeal(request, appeal, status=409, error=str(exc))
    except ValueError as exc:
        return _render_appeal(request, appeal, status=400, error=str(exc))
    appeal.refresh_from_db()
    notice = f"Appeal {appeal.get_status_display().lower()}."
    if appeal.queue_id is not None and appeal.entry_id is not None:
        return _next_case(request, appeal.queue, notice=notice)
    return _render_appeal(request, appeal, notice=notice)


@require_GET
@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Find cases by handle, external id, device id, IP or payment fingerprint, within the user's queues."""
    query = request.GET.get("q", "")[:255]
    return render(
        request, "accounts/search.html", {"query": query, "cases": selectors.search_cases(request.user, query)}
    )
