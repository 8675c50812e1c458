"""Deciding an account case: the action on the account, optionally on its ring, the verdict as the case's label."""

from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.actions import InvalidAction, reverse_action, take_action
from accounts.models import Account, AccountAction, AccountCase
from accounts.selectors import linked_accounts
from queues.models import QueueEntry
from review import claims
from review.exceptions import LeaseLost

OPEN_ENTRY = (QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED)


def decide_case(
    *,
    case: AccountCase,
    user: AbstractBaseUser,
    kind: str,
    duration: timedelta | None = None,
    notice: str = "",
    note: str = "",
    ring_account_ids: Sequence[int] = (),
    token: int | None = None,
) -> list[AccountAction]:
    """Act on the case's account (and the chosen linked accounts, as one ring decision) and close the case.

    A queued case is decided like content: only by the reviewer holding its entry under ``token`` (the
    fencing token of the claim, ``review.claims``), and the entry closes with the decision. ``kind`` ``none``
    is the verdict "not a <case type>"; any other action says it is. Linked accounts must be among those the
    case view showed (``selectors.linked_accounts``); their open cases of the same type close with the same
    verdict, and leave their queues. All of it in one transaction, or nothing.
    """
    with transaction.atomic():
        case = AccountCase.objects.select_for_update().select_related("account__author").get(pk=case.pk)
        if case.status != AccountCase.Status.OPEN:
            raise InvalidAction("This case has already been decided.")
        held = None
        if case.entry_id is not None:
            if token is None:
                raise LeaseLost("Claim this case from its queue to decide it.")
            held = claims.held_entry(entry_id=case.entry_id, token=token, user=user)
        allowed = {linked.account.pk for linked in linked_accounts(case.account)}
        strangers = sorted(set(ring_account_ids) - allowed)
        if strangers:
            raise InvalidAction(
                f"Accounts {strangers} are not linked to this one; a ring decision covers linked accounts."
            )
        ring_note = f"Ring decision from case {case.pk}." + (f" {note}" if note else "")
        actions = [
            take_action(account=case.account, kind=kind, actor=user, duration=duration, notice=notice, note=note,
                        case=case)
        ]  # fmt: skip
        for account in Account.objects.filter(pk__in=ring_account_ids).order_by("pk"):
            ring_case = AccountCase.objects.filter(
                account=account, case_type=case.case_type, status=AccountCase.Status.OPEN
            ).first()
            actions.append(
                take_action(account=account, kind=kind, actor=user, duration=duration, notice=notice, note=ring_note,
                            case=ring_case)
            )  # fmt: skip
            if ring_case:
                _close(ring_case, user=user, violation=kind != AccountAction.Kind.NONE)
                if ring_case.entry_id:
                    QueueEntry.objects.filter(pk=ring_case.entry_id, status__in=OPEN_ENTRY).update(
                        status=QueueEntry.Status.DONE, closed_at=timezone.now(), lease_until=None
                    )
        if kind == AccountAction.Kind.NONE:
            # A detection rule acted by itself and sent this case for a check: "no violation" undoes its action.
            for automatic in AccountAction.objects.filter(case=case, automatic=True, reversed_by__isnull=True).exclude(
                kind=AccountAction.Kind.RESTORE
            ):
                reverse_action(action=automatic, actor=user, note=f"Not a violation (case {case.pk}).")
        _close(case, user=user, violation=kind != AccountAction.Kind.NONE)
        if held is not None:
            claims.close_entry(held)
    return actions


def _close(case: AccountCase, *, user: AbstractBaseUser, violation: bool) -> None:
    case.status = AccountCase.Status.CLOSED
    case.closed_at = timezone.now()
    case.violation = violation
    case.decided_by = user
    case.save(update_fields=["status", "closed_at", "violation", "decided_by"])
