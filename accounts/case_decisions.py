"""Deciding an account case: the action on the account, optionally on its ring, the verdict as the case's label.

A queued case goes through the content queues' machinery, not a copy of it: claimed and leased by
``review.claims``, escalated by ``review.claims.escalate_subject`` (the case then follows its new entry), and
decided into a ``queues.Decision`` without an item on its entry, so second reviews (``review.second_review``),
reviewer agreement (``quality.agreement``) and every throughput count (team page, queue charts, decisions
today, labeler table) see cases as they see items. A sampled decision opens a blind second-review entry in
the same queue for another reviewer; their verdict is recorded as a decision only (the first reviewer's
action stands, the account is not acted on twice) and disagreements show on the quality page.
"""

from collections.abc import Sequence
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.actions import InvalidAction, reverse_action, take_action
from accounts.models import Account, AccountAction, AccountCase
from accounts.selectors import linked_accounts
from audit.services import record_event
from queues.models import Decision, Queue, QueueEntry
from review import claims, second_review
from review.exceptions import InvalidDecision, LeaseLost

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
        ring_copies: list[int] = []  # entries of ring members' cases closed by this decision
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
                if ring_case.entry_id and QueueEntry.objects.filter(
                    pk=ring_case.entry_id, status__in=OPEN_ENTRY
                ).update(status=QueueEntry.Status.DONE, closed_at=timezone.now(), lease_until=None):
                    ring_copies.append(ring_case.entry_id)
        if kind == AccountAction.Kind.NONE:
            # A detection rule acted by itself and sent this case for a check: "no violation" undoes its action.
            for automatic in AccountAction.objects.filter(case=case, automatic=True, reversed_by__isnull=True).exclude(
                kind=AccountAction.Kind.RESTORE
            ):
                reverse_action(action=automatic, actor=user, note=f"Not a violation (case {case.pk}).")
        _close(case, user=user, violation=kind != AccountAction.Kind.NONE)
        if held is not None:
            claims.close_entry(held)
            decision = _record(held, user=user, kind=kind, note=note)
            # Like a near-duplicate group: each closed ring entry gets a copy, counted but never re-reviewed.
            Decision.objects.bulk_create(
                [
                    Decision(entry_id=entry_id, reviewer=user, action=decision.action, note=ring_note,
                             applied_from=decision)
                    for entry_id in ring_copies
                ]
            )  # fmt: skip
            second_review.sample_second_review(held, decision, user=user)
    return actions


def _verdict(kind: str) -> str:
    return Decision.Action.NO_VIOLATION if kind == AccountAction.Kind.NONE else Decision.Action.REMOVE


def _record(entry: QueueEntry, *, user: AbstractBaseUser, kind: str, note: str) -> Decision:
    """The queues' decision for a case's entry (the verdict, the account action named in the note), audited."""
    decision = Decision.objects.create(
        entry=entry, reviewer=user, action=_verdict(kind), claimed_at=entry.claimed_at,
        note=f"Account action: {kind}." + (f" {note}" if note else ""),
    )  # fmt: skip
    record_event(
        action="decision.created",
        target=decision,
        actor=user,
        after={"entry": entry.pk, "action": decision.action, "account_action": kind, "queue": entry.queue.name,
               "second_review": entry.selection == QueueEntry.Selection.SECOND_REVIEW},
    )  # fmt: skip
    return decision


def case_of_entry(entry_id: int) -> AccountCase | None:
    """The case an entry serves: its own entry, or the one a second-review entry re-reviews."""
    entry = QueueEntry.objects.filter(pk=entry_id, item__isnull=True).values("pk", "second_review_of_id").first()
    if entry is None:
        return None
    return AccountCase.objects.filter(entry_id=entry["second_review_of_id"] or entry["pk"]).first()


def second_review_held_by(case: AccountCase, user: AbstractBaseUser) -> QueueEntry | None:
    """The blind second-review entry of ``case`` that ``user`` holds under a live lease, if any."""
    if case.entry_id is None:
        return None
    return (
        QueueEntry.objects.select_related("queue")
        .filter(
            second_review_of_id=case.entry_id,
            selection=QueueEntry.Selection.SECOND_REVIEW,
            status=QueueEntry.Status.CLAIMED,
            claimed_by=user,
            lease_until__gt=timezone.now(),
        )
        .first()
    )


def decide_second_review(*, case: AccountCase, user: AbstractBaseUser, kind: str, note: str, token: int) -> Decision:
    """A second reviewer's blind verdict on a decided case: a decision on the second-review entry, nothing more.

    The account is not acted on again (the first decision's action and the case's label stand); the pair of
    verdicts is what ``quality.agreement`` compares. Only the holder of the entry under ``token``, never the
    first reviewer (``review.claims`` refuses the excluded reviewer).
    """
    if kind not in AccountAction.Kind.values or kind == AccountAction.Kind.RESTORE:
        raise InvalidAction(f"Unknown action {kind!r}.")
    with transaction.atomic():
        entry = QueueEntry.objects.filter(
            second_review_of_id=case.entry_id, selection=QueueEntry.Selection.SECOND_REVIEW
        ).order_by("-pk").first() if case.entry_id else None  # fmt: skip
        if entry is None:
            raise LeaseLost("This case has no second review waiting.")
        held = claims.held_entry(entry_id=entry.pk, token=token, user=user)
        claims.close_entry(held)
        return _record(held, user=user, kind=kind, note=note)


def escalate_case(*, case: AccountCase, user: AbstractBaseUser, to_queue: Queue, note: str, token: int) -> QueueEntry:
    """Move a held case to another queue, as an item is escalated: the case follows its new entry."""
    with transaction.atomic():
        case = AccountCase.objects.select_for_update().get(pk=case.pk)
        if case.status != AccountCase.Status.OPEN or case.entry_id is None:
            raise InvalidDecision("Only an open case in a queue can be escalated.")
        moved = claims.escalate_subject(entry_id=case.entry_id, token=token, user=user, to_queue=to_queue, note=note)
        case.entry, case.queue = moved, to_queue
        case.save(update_fields=["entry", "queue"])
    return moved


def _close(case: AccountCase, *, user: AbstractBaseUser, violation: bool) -> None:
    case.status = AccountCase.Status.CLOSED
    case.closed_at = timezone.now()
    case.violation = violation
    case.decided_by = user
    case.save(update_fields=["status", "closed_at", "violation", "decided_by"])
