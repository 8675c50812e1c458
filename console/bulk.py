"""Bulk decisions: one verdict over many items, each item decided exactly as if a reviewer decided it alone.

``start_bulk_decision`` checks everything that can be checked up front (permission, the verdict itself,
that the user may see every item) and refuses the whole action when one check fails, writing nothing.
A worker then runs ``run_bulk_action``: per item, it claims the item's open queue entry under a lease
and calls the review decision service (``record_decision``), so each item gets its own decision,
labels, audit event, webhook event and second-review sampling. An item that cannot be decided (already
decided, held by another reviewer, a gold item) is left alone with the reason; the others go on.
``undo_bulk_action`` takes every decision of the action back within the undo window.
"""

from collections.abc import Sequence
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audit.services import record_event
from console.models import BulkAction, BulkActionItem
from console.selectors import invisible_item_ids, viewer_for
from queues import quality, review
from queues.models import Decision, Item, QueueEntry

MAX_BULK_ITEMS = 10_000
# Items decided per transaction: each item is its own savepoint (one bad item fails alone), and the
# progress the page polls moves once per chunk.
CHUNK = 50
RUN_TASK = "console.tasks.run_bulk_action"


class BulkRefused(PermissionError):
    """The user may not run this bulk action at all (HTTP 403); nothing was done."""


class BulkInvalid(ValueError):
    """The bulk action is malformed (HTTP 400); nothing was done."""


class ItemLeftAlone(RuntimeError):
    """One item of a bulk action cannot be decided; the reason is shown next to it."""


def may_run_bulk_actions(user: AbstractBaseUser) -> bool:
    return user.is_authenticated and user.has_perm("console.run_bulk_actions")


def start_bulk_decision(
    *, user: AbstractBaseUser, item_ids: Sequence[int], action: str, categories: list[str], note: str = ""
) -> BulkAction:
    """Record a bulk decision over ``item_ids`` and hand it to a worker (after commit).

    Refused whole (BulkRefused) when the user lacks the permission or may not see one of the items;
    BulkInvalid when the verdict is malformed or the selection empty or too large.
    """
    if not may_run_bulk_actions(user):
        raise BulkRefused("Bulk actions are for leads: you lack the 'run bulk actions' permission.")
    ids = list(dict.fromkeys(int(i) for i in item_ids))
    if not ids:
        raise BulkInvalid("Select at least one item.")
    if len(ids) > MAX_BULK_ITEMS:
        raise BulkInvalid(f"A bulk action takes at most {MAX_BULK_ITEMS:,} items; {len(ids):,} were selected.")
    try:
        review.check_decision(action=action, categories=categories)
    except review.InvalidDecision as error:
        raise BulkInvalid(str(error)) from error
    hidden = invisible_item_ids(viewer_for(user), ids)
    if hidden:
        sample = ", ".join(str(i) for i in hidden[:5])
        raise BulkRefused(
            f"{len(hidden)} of the {len(ids)} items are not in a queue you may see (for example {sample}); "
            "nothing was done."
        )
    with transaction.atomic():
        bulk = BulkAction.objects.create(
            created_by=user, action=action, categories=sorted(categories), note=note, total=len(ids)
        )
        BulkActionItem.objects.bulk_create([BulkActionItem(bulk_action=bulk, item_id=i) for i in ids])
        record_event(
            action="bulk_action.created",
            target=bulk,
            actor=user,
            after={"action": action, "categories": sorted(categories), "items": len(ids)},
        )
        # By name: services never import task modules.
        transaction.on_commit(lambda: current_app.send_task(RUN_TASK, args=[bulk.pk]))
    return bulk


def run_bulk_action(*, bulk_action_id: int) -> BulkAction:
    """Decide every item of the bulk action that is still to do. A redelivered message resumes where it stopped."""
    now = timezone.now()
    started = BulkAction.objects.filter(
        pk=bulk_action_id, state__in=[BulkAction.State.PENDING, BulkAction.State.RUNNING]
    ).update(state=BulkAction.State.RUNNING, started_at=now)
    bulk = BulkAction.objects.select_related("created_by").get(pk=bulk_action_id)
    if not started:
        return bulk  # done or undone already
    user = bulk.created_by
    while True:
        chunk = list(bulk.items.filter(outcome=BulkActionItem.Outcome.PENDING).order_by("id")[:CHUNK])
        if not chunk:
            break
        # Permission is read again per chunk: a lead removed from a queue mid-run stops deciding its items.
        queue_ids = viewer_for(user).queue_ids
        with transaction.atomic():
            for row in chunk:
                try:
                    row.decision_id = _decide_item(bulk, row.item_id, user=user, queue_ids=queue_ids)
                    row.outcome = BulkActionItem.Outcome.DECIDED
                except (ItemLeftAlone, review.LeaseLost, review.InvalidDecision) as error:
                    row.outcome, row.reason = BulkActionItem.Outcome.FAILED, str(error)[:300]
            BulkActionItem.objects.bulk_update(chunk, ["outcome", "decision_id", "reason"])
            decided = sum(row.outcome == BulkActionItem.Outcome.DECIDED for row in chunk)
            BulkAction.objects.filter(pk=bulk.pk).update(
                processed=F("processed") + len(chunk), succeeded=F("succeeded") + decided
            )
    BulkAction.objects.filter(pk=bulk.pk, state=BulkAction.State.RUNNING).update(
        state=BulkAction.State.DONE, finished_at=timezone.now()
    )
    bulk.refresh_from_db()
    return bulk


def _decide_item(bulk: BulkAction, item_id: int, *, user: AbstractBaseUser, queue_ids: frozenset[int] | None) -> int:
    """Claim the item's open entry for ``user`` and decide it through the review service; the decision's id."""
    with transaction.atomic():  # a savepoint: an item left alone leaves nothing behind
        entry = (
            QueueEntry.objects.select_for_update(of=("self",), skip_locked=connection.vendor == "postgresql")
            .select_related("queue")
            .filter(item_id=item_id, status__in=[QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED])
            .first()
        )
        if entry is None:
            raise ItemLeftAlone("Not waiting in a queue: already decided, not routed yet, or being decided right now.")
        if queue_ids is not None and entry.queue_id not in queue_ids:
            raise ItemLeftAlone(f"Now in the queue {entry.queue.name!r}, which you may not work.")
        if entry.selection in quality.QC_SELECTIONS:
            raise ItemLeftAlone("A gold item or an independent second review: it is decided one by one.")
        now = timezone.now()
        if entry.status == QueueEntry.Status.CLAIMED and entry.claimed_by_id != user.pk and entry.lease_until > now:
            raise ItemLeftAlone("Another reviewer holds it now; it is left to them.")
        entry.status = QueueEntry.Status.CLAIMED
        entry.claimed_by = user
        entry.claimed_at = now
        entry.lease_until = now + timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
        entry.fencing_token += 1
        entry.save(update_fields=["status", "claimed_by", "claimed_at", "lease_until", "fencing_token"])
        [decision, *_] = review.record_decision(
            entry_id=entry.pk, token=entry.fencing_token, user=user, action=bulk.action,
            categories=list(bulk.categories), note=bulk.note or f"Bulk action #{bulk.pk}",
        )  # fmt: skip
        return decision.pk


def undo_window() -> timedelta:
    """How long after a bulk action ends it can be undone: the reviewer's usual undo window."""
    return timedelta(seconds=settings.REVIEW_UNDO_SECONDS)


def undo_bulk_action(*, bulk_action_id: int, user: AbstractBaseUser) -> BulkAction:
    """Take back every decision of one's own finished bulk action; the items wait in their queues again.

    Within ``undo_window()`` of the action's end. Each decision is undone as a reviewer's undo would:
    the decision and its labels are removed, the second review it opened is withdrawn, and the audit
    log keeps both the decision and its undoing.
    """
    with transaction.atomic():
        bulk = BulkAction.objects.select_for_update().filter(pk=bulk_action_id).first()
        if bulk is None or bulk.created_by_id != user.pk:
            raise BulkRefused("There is no bulk action of yours to undo.")
        if bulk.state != BulkAction.State.DONE or bulk.finished_at is None:
            raise BulkInvalid(f"Only a finished bulk action can be undone; this one is {bulk.get_state_display()}.")
        if timezone.now() - bulk.finished_at > undo_window():
            raise BulkInvalid(f"Bulk actions can be undone for {settings.REVIEW_UNDO_SECONDS} seconds after they end.")
        rows = list(bulk.items.filter(outcome=BulkActionItem.Outcome.DECIDED, decision_id__isnull=False))
        decisions = {d.pk: d for d in Decision.objects.filter(pk__in=[r.decision_id for r in rows])}
        for row in rows:
            decision = decisions.get(row.decision_id)
            if decision is not None:
                _withdraw_decision(decision, user=user)
            row.outcome = BulkActionItem.Outcome.UNDONE
        BulkActionItem.objects.bulk_update(rows, ["outcome"])
        bulk.state, bulk.undone_at = BulkAction.State.UNDONE, timezone.now()
        bulk.save(update_fields=["state", "undone_at"])
        record_event(action="bulk_action.undone", target=bulk, actor=user, before={"decisions": len(rows)})
    return bulk


def _withdraw_decision(decision: Decision, *, user: AbstractBaseUser) -> None:
    """Undo one decision: the item goes back to pending in the queue it was decided in."""
    entry = decision.entry
    quality.withdraw_second_review(decision)
    record_event(
        action="decision.undone",
        target=decision,
        actor=user,
        before={"item": decision.item_id, "action": decision.action, "bulk": True},
    )
    decision.delete()
    if entry is None or QueueEntry.objects.filter(item_id=entry.item_id, status__in=quality.OPEN).exists():
        return
    QueueEntry.objects.filter(pk=entry.pk).update(
        status=QueueEntry.Status.PENDING, closed_at=None, claimed_by=None, lease_until=None
    )
    Item.objects.filter(pk=entry.item_id).update(state=Item.State.QUEUED, updated_at=timezone.now())
