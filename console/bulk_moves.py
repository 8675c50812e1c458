"""Bulk moves and escalations: send many items to another queue, each as if moved one by one.

Same checks as a bulk decision (``console.bulk.checked_selection``: the permission, every item visible,
the size) and one more: the user must work the target queue. The worker runs the chunks through
``console.bulk.run_bulk_action`` with the handlers here:

* a **move** closes the item's open entry (status ``moved``) and opens one in the target queue that keeps the
  item's place in time (its ``enqueued_at``) and risk; audit event ``item.moved``. Undo within the usual window
  moves each item back, if it still waits unclaimed where the move put it.
* an **escalation** is the work view's escalation (``review.claims.escalate_item``): an ``escalate`` decision,
  audit event and webhook per item, a note required. It is a decision about the item, so it is not undone
  in bulk; a reviewer in the target queue decides from there.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone

from audit.services import record_event
from classifiers.models import PolicyCategory
from console.bulk import (
    BulkInvalid,
    BulkRefused,
    checked_selection,
    claim,
    open_entries,
    run_bulk_action,
    send_after_commit,
    undo_window,
    why_left_alone,
)
from console.models import BulkAction, BulkActionItem
from console.selectors import viewer_for
from queues.entries import new_entry
from queues.models import Queue, QueueEntry
from queues.scores import active_scores
from review.claims import escalate_item
from review.exceptions import InvalidDecision, LeaseLost

MOVE_KINDS = {BulkAction.Kind.MOVE, BulkAction.Kind.ESCALATE}


def start_bulk_move(
    *, user: AbstractBaseUser, item_ids: list[int], kind: str, to_queue: str, note: str = ""
) -> BulkAction:
    """Record a bulk move or escalation of ``item_ids`` to the queue with slug ``to_queue``; a worker runs it."""
    ids = checked_selection(user, item_ids)
    if kind not in MOVE_KINDS:
        raise BulkInvalid(f"Unknown bulk action {kind!r}; use move or escalate.")
    viewer = viewer_for(user)
    target = next((q for q in viewer.queues if q.slug == to_queue), None)
    if target is None:
        if Queue.objects.filter(slug=to_queue).exists():
            raise BulkRefused(f"You do not work the queue {to_queue!r}: items can only be sent to your queues.")
        raise BulkInvalid(f"There is no queue {to_queue!r}." if to_queue else "Choose the queue to send them to.")
    if kind == BulkAction.Kind.ESCALATE and not note.strip():
        raise BulkInvalid("An escalation needs a note saying why.")
    with transaction.atomic():
        bulk = BulkAction.objects.create(created_by=user, kind=kind, target_queue=target, note=note, total=len(ids))
        BulkActionItem.objects.bulk_create([BulkActionItem(bulk_action=bulk, item_id=i) for i in ids])
        record_event(
            action="bulk_action.created", target=bulk, actor=user,
            after={"kind": kind, "queue": target.name, "items": len(ids)},
        )  # fmt: skip
        send_after_commit(bulk)
    return bulk


def run_bulk_move(*, bulk_action_id: int) -> BulkAction:
    return run_bulk_action(bulk_action_id=bulk_action_id, handle_chunk=_move_chunk)


def _move_chunk(bulk: BulkAction, chunk: list[BulkActionItem], user: AbstractBaseUser, queue_ids) -> None:  # noqa: ANN001
    severities = dict(PolicyCategory.objects.values_list("slug", "severity"))
    scores = active_scores([row.item_id for row in chunk], for_risk=True)
    for row in chunk:
        try:
            with transaction.atomic():  # one bad item fails alone
                entry = _movable_entry(bulk, row.item_id, user=user, queue_ids=queue_ids)
                row.from_queue_id = entry.queue_id
                if bulk.kind == BulkAction.Kind.ESCALATE:
                    claim([entry], user=user, now=timezone.now())
                    moved = escalate_item(
                        entry_id=entry.pk, token=entry.fencing_token, user=user, to_queue=bulk.target_queue,
                        note=bulk.note,
                    )  # fmt: skip
                else:
                    moved = _move(entry, bulk.target_queue, scores=scores.get(row.item_id, {}), severities=severities)
                    record_event(
                        action="item.moved", target=entry.item, actor=user,
                        before={"queue": entry.queue.name}, after={"queue": bulk.target_queue.name, "bulk": bulk.pk},
                    )  # fmt: skip
            row.outcome, row.entry_id, row.reason = BulkActionItem.Outcome.MOVED, moved.pk, ""
        except (InvalidDecision, LeaseLost, DatabaseError) as error:
            row.outcome, row.entry_id, row.reason = BulkActionItem.Outcome.FAILED, None, str(error)[:300]


def _movable_entry(bulk: BulkAction, item_id: int, *, user: AbstractBaseUser, queue_ids) -> QueueEntry:  # noqa: ANN001
    entry = open_entries([item_id]).get(item_id)
    reason = why_left_alone(entry, user=user, queue_ids=queue_ids, now=timezone.now())
    if not reason and entry.queue_id == bulk.target_queue_id:
        reason = "Already in that queue."
    if reason:
        raise InvalidDecision(reason)
    return entry


def _move(entry: QueueEntry, to_queue: Queue, *, scores: dict[str, float], severities: dict[str, int]) -> QueueEntry:
    """Close ``entry`` as moved and open one in ``to_queue`` that keeps the item's clock and risk."""
    entry.status, entry.closed_at, entry.lease_until, entry.claimed_by = (
        QueueEntry.Status.MOVED,
        timezone.now(),
        None,
        None,
    )
    entry.save(update_fields=["status", "closed_at", "lease_until", "claimed_by"])
    moved = new_entry(
        item=entry.item, queue=to_queue, scores=scores, severities=severities, selection=QueueEntry.Selection.ROUTED,
        enqueued_at=entry.enqueued_at,
    )  # fmt: skip
    moved.save()
    return moved


def undo_bulk_move(*, bulk_action_id: int, user: AbstractBaseUser) -> BulkAction:
    """Move every item of one's own finished bulk move back, within the undo window, if it still waits unclaimed
    where the move put it; the others stay and say why."""
    with transaction.atomic():
        bulk = BulkAction.objects.select_for_update().filter(pk=bulk_action_id).first()
        if bulk is None or bulk.created_by_id != user.pk:
            raise BulkRefused("There is no bulk action of yours to undo.")
        if bulk.kind != BulkAction.Kind.MOVE:
            raise BulkInvalid("An escalation is a decision about each item; it is not undone in bulk.")
        if bulk.state != BulkAction.State.DONE or bulk.finished_at is None:
            raise BulkInvalid(f"Only a finished bulk action can be undone; this one is {bulk.get_state_display()}.")
        if timezone.now() - bulk.finished_at > undo_window():
            raise BulkInvalid(
                f"Bulk actions can be undone for {int(undo_window().total_seconds())} seconds after they end."
            )
        rows = list(bulk.items.filter(outcome=BulkActionItem.Outcome.MOVED))
        queues = Queue.objects.in_bulk({row.from_queue_id for row in rows})
        waiting = {
            e.pk: e
            for e in QueueEntry.objects.select_for_update(of=("self",)).select_related("item", "queue")
            .filter(pk__in=[row.entry_id for row in rows], status=QueueEntry.Status.PENDING)
        }  # fmt: skip
        severities = dict(PolicyCategory.objects.values_list("slug", "severity"))
        scores = active_scores([row.item_id for row in rows], for_risk=True)
        for row in rows:
            entry, home = waiting.get(row.entry_id), queues.get(row.from_queue_id)
            if entry is None or home is None:
                row.reason = "Not moved back: someone holds or decided it since, or its queue is gone."
                continue
            _move(entry, home, scores=scores.get(row.item_id, {}), severities=severities)
            record_event(
                action="item.moved", target=entry.item, actor=user,
                before={"queue": entry.queue.name}, after={"queue": home.name, "bulk_undone": bulk.pk},
            )  # fmt: skip
            row.outcome = BulkActionItem.Outcome.UNDONE
        BulkActionItem.objects.bulk_update(rows, ["outcome", "reason"], batch_size=500)
        bulk.state, bulk.undone_at = BulkAction.State.UNDONE, timezone.now()
        bulk.save(update_fields=["state", "undone_at"])
        moved_back = sum(row.outcome == BulkActionItem.Outcome.UNDONE for row in rows)
        record_event(action="bulk_action.undone", target=bulk, actor=user, before={"moved_back": moved_back})
    return bulk
