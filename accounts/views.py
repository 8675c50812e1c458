"""The account case view: who the account is, why it is here, what it did, who it is linked to; decide it.

Cases are loaded through ``_case_for_member`` only: a moderator sees a case, and so its linked accounts,
only in a queue they belong to.
"""

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors
from accounts.actions import InvalidAction
from accounts.case_decisions import decide_case
from accounts.models import AccountAction, AccountCase
from queues.membership import queues_for

DECISION_KEYS = [
    (AccountAction.Kind.NONE, "n", "No action (not a violation)"),
    (AccountAction.Kind.WARN, "w", "Warn"),
    (AccountAction.Kind.RESET_CREDENTIALS, "p", "Reset password, sign out everywhere"),
    (AccountAction.Kind.RATE_LIMIT, "t", "Rate-limit"),
    (AccountAction.Kind.LOCK, "l", "Lock"),
    (AccountAction.Kind.SUSPEND, "s", "Suspend"),
    (AccountAction.Kind.BAN, "b", "Ban"),
]


def _case_for_member(request: HttpRequest, case_id: int) -> AccountCase:
    case = get_object_or_404(AccountCase.objects.select_related("account__author", "queue", "rule"), pk=case_id)
    if case.queue_id is None:
        if not request.user.is_staff:
            raise PermissionDenied("This case is in no queue; only staff may open it.")
    elif not queues_for(request.user).filter(pk=case.queue_id).exists():
        raise PermissionDenied("You are not a member of this case's queue.")
    return case


def _context(case: AccountCase, **extra) -> dict:
    firings = selectors.why_here(case)
    named = [c["field"].removeprefix("signal.") for f in firings for c in f.rule.conditions]
    return {
        "case": case,
        "summary": selectors.account_summary(case.account),
        "firings": firings,
        "signals": selectors.signal_rows(case.account, first=list(dict.fromkeys(named))),
        "timeline": selectors.timeline(case.account),
        "linked": selectors.linked_accounts(case.account),
        "decisions": DECISION_KEYS,
        **extra,
    }


def _render(request: HttpRequest, case: AccountCase, status: int = 200, **extra) -> HttpResponse:
    template = "accounts/case.html#case" if request.htmx else "accounts/case.html"
    return render(request, template, _context(case, **extra), status=status)


@require_GET
@login_required
def case_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _render(request, _case_for_member(request, case_id))


@require_POST
@login_required
def decide(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_for_member(request, case_id)
    try:
        hours = request.POST.get("duration_hours", "").strip()
        duration = timedelta(hours=float(hours)) if hours else None
        actions = decide_case(
            case=case,
            user=request.user,
            kind=request.POST.get("action", ""),
            duration=duration,
            notice=request.POST.get("notice", ""),
            note=request.POST.get("note", "")[:2000],
            ring_account_ids=[int(pk) for pk in request.POST.getlist("ring")],
        )
    except (InvalidAction, ValueError, OverflowError) as exc:  # InvalidAction is a ValueError too
        return _render(request, case, status=400, error=str(exc))
    case.refresh_from_db()
    notice = f"Decided: {actions[0].get_kind_display()}" + (
        f" on {len(actions)} accounts." if len(actions) > 1 else "."
    )
    return _render(request, case, notice=notice)
