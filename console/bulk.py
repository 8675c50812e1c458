"""Bulk decisions: one verdict over many items, each item decided exactly as if a reviewer decided it alone.

``start_bulk_decision`` checks everything that can be checked up front (permission, the verdict itself,
that the user may see every item) and refuses the whole action when one check fails, writing nothing.
A worker then runs ``run_bulk_action``: per item, it claims the item's open queue entry under a lease
and calls the review decision service (``record_decision``), so each item gets its own decision,
labels, audit event, webhook event and second-review sampling. An item that cannot be decided (already
decided, held by another reviewer, a gold item) is left alone with the reason; the others go on.
``undo_bulk_action`` takes every decision of the action back within the undo window.
"""

from collections.abc import Callable, Sequence
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from api.exceptions import Forbidden, Invalid
from audit.services import record_event, record_events
from console.models import BulkAction, BulkActionItem
from console.selectors import invisible_item_ids, viewer_for
from intake.models import Item
from queues.models import OPEN, QC_SELECTIONS, Decision, QueueEntry
from review.decisions import check_decision, decide_entries, record_decision
from review.exceptions import InvalidDecision, LeaseLost

MAX_BULK_ITEMS = 10_000
# Items decided per transaction: each item is its own savepoint (one bad item fails alone), and the
# progress the page polls moves once per chunk.
CHUNK = 50
RUN_TASK = "console.tasks.run_bulk_action"
# Outcomes that count as done in a bulk action's progress.
SUCCEEDED = {
    BulkActionItem.Outcome.DECIDED,
    BulkActionItem.Outcome.MOVED,
    BulkActionItem.Outcome.SENT,
    BulkActionItem.Outcome.ADDED,
}


class BulkRefused(Forbidden):
    """The user may not run this bulk action at all (HTTP 403); nothing was done."""


class BulkInvalid(Invalid):
    """The bulk action is malformed (HTTP 400); nothing was done."""


class ItemLeftAlone(RuntimeError):
    """One item of a bulk action cannot be decided; the reason is shown next to it."""


def may_run_bulk_actions(user: AbstractBaseUser) -> bool:
    return user.is_authenticated and user.has_perm("console.run_bulk_actions")


def checked_selection(user: AbstractBaseUser, item_ids: Sequence[int]) -> list[int]:
    """The selection without repeats, once the user may run bulk actions and see every item of it.

    Raises BulkRefused (403) for a missing permission or an item the user may not see, BulkInvalid (400) for an
    empty or too large selection; whatever kind of bulk action, nothing is written before this passes.
    """
    if not may_run_bulk_actions(user):
        raise BulkRefused("Bulk actions are for leads: you lack the 'run bulk actions' permission.")
    ids = list(dict.fromkeys(int(i) for i in item_ids))
    if not ids:
        raise BulkInvalid("Select at least one item.")
    if len(ids) > MAX_BULK_ITEMS:
        raise BulkInvalid(f"A bulk action takes at most {MAX_BULK_ITEMS:,} items; {len(ids):,} were selected.")
    hidden = invisible_item_ids(viewer_for(user), ids)
    if hidden:
        sample = ", ".join(str(i) for i in hidden[:5])
        raise BulkRefused(
            f"{len(hidden)} of the {len(ids)} items are not in a queue you may see (for example {sample}); "
            "nothing was done."
        )
    return ids


def start_bulk_decision(
    *, user: AbstractBaseUser, item_ids: Sequence[int], action: str, categories: list[str], note: str = ""
) -> BulkAction:
    """Record a bulk decision over ``item_ids`` and hand it to a worker (after commit).

    Refused whole (BulkRefused) when the user lacks the permission or may not see one of the items;
    BulkInvalid when the verdict is malformed or the selection empty or too large.
    """
    ids = checked_selection(user, item_ids)
    try:
        check_decision(action=action, categories=categories)
    except InvalidDecision as error:
        raise BulkInvalid(str(error)) from error
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
        send_after_commit(bulk)
    return bulk


def send_after_commit(bulk: BulkAction) -> None:
    """Hand ``bulk`` to a worker once the transaction commits.

    By name: services never import task modules. Robust: the action is saved before the message is sent, so a
    broker that is down is logged rather than shown as an error page for an action that exists;
    ``sweep_pending_bulk_actions`` sends it once the broker answers.
    """
    transaction.on_commit(lambda: current_app.signature(RUN_TASK, args=[bulk.pk]).delay(), robust=True)


def sweep_pending_bulk_actions(*, waiting_for: timedelta = timedelta(minutes=2)) -> int:
    """Re-send bulk actions no worker has started for ``waiting_for`` (their message was lost). Returns re-sent.

    A duplicate message is harmless: ``run_bulk_action`` works one chunk at a time under a lock on the action.
    """
    cutoff = timezone.now() - waiting_for
    ids = list(
        BulkAction.objects.filter(state=BulkAction.State.PENDING, created_at__lt=cutoff).values_list("pk", flat=True)
    )
    for bulk_id in ids:
        current_app.signature(RUN_TASK, args=[bulk_id]).delay()
    return len(ids)


ChunkHandler = Callable[[BulkAction, list[BulkActionItem], AbstractBaseUser, frozenset[int] | None], None]


def run_bulk_action(*, bulk_action_id: int, handle_chunk: ChunkHandler | None = None) -> BulkAction:
    """Work through every item of the bulk action still to do, a chunk per transaction; a redelivered message
    resumes where it stopped. ``handle_chunk`` sets each row's outcome (default: decide the chunk)."""
    handle_chunk = handle_chunk or _decide_or_one_by_one
    now = timezone.now()
    started = BulkAction.objects.filter(
        pk=bulk_action_id, state__in=[BulkAction.State.PENDING, BulkAction.State.RUNNING]
    ).update(state=BulkAction.State.RUNNING, started_at=now)
    bulk = BulkAction.objects.select_related("created_by", "target_queue").get(pk=bulk_action_id)
    if not started:
        return bulk  # done or undone already
    user = bulk.created_by
    while True:
        # Permission is read again per chunk: a lead removed from a queue mid-run stops acting on its items.
        queue_ids = viewer_for(user).queue_ids
        with transaction.atomic():
            # One runner at a time: a redelivered or swept message that overlaps a live run waits here, then
            # reads only the rows the other left pending.
            BulkAction.objects.select_for_update().filter(pk=bulk.pk).values_list("pk").first()
            chunk = list(bulk.items.filter(outcome=BulkActionItem.Outcome.PENDING).order_by("id")[:CHUNK])
            if not chunk:
                break
            handle_chunk(bulk, chunk, user, queue_ids)
            BulkActionItem.objects.bulk_update(chunk, ["outcome", "decision_id", "reason", "from_queue_id", "entry_id"])
            succeeded = sum(row.outcome in SUCCEEDED for row in chunk)
            BulkAction.objects.filter(pk=bulk.pk).update(
                processed=F("processed") + len(chunk), succeeded=F("succeeded") + succeeded
            )
    BulkAction.objects.filter(pk=bulk.pk, state=BulkAction.State.RUNNING).update(
        state=BulkAction.State.DONE, finished_at=timezone.now()
    )
    bulk.refresh_from_db()
    return bulk


def _decide_or_one_by_one(bulk: BulkAction, chunk: list[BulkActionItem], user: AbstractBaseUser, queue_ids) -> None:  # noqa: ANN001
    try:
        with transaction.atomic():
            _decide_chunk(bulk, chunk, user=user, queue_ids=queue_ids)
    except DatabaseError:
        # Something no check foresaw: decide this chunk item by item, so the bad one fails alone.
        for row in chunk:
            _decide_alone(bulk, row, user=user, queue_ids=queue_ids)


def why_left_alone(entry: QueueEntry | None, *, user: AbstractBaseUser, queue_ids, now) -> str:  # noqa: ANN001
    """Why the bulk action may not decide this entry; empty when it may."""
    if entry is None:
        return "Not waiting in a queue: already decided, not routed yet, or being decided right now."
    if queue_ids is not None and entry.queue_id not in queue_ids:
        return f"Now in the queue {entry.queue.name!r}, which you may not work."
    if entry.selection in QC_SELECTIONS:
        return "A gold item or an independent second review: it is decided one by one."
    if entry.excluded_reviewer_id == user.pk:
        return "A second review of your own decision: someone else decides it."
    if entry.status == QueueEntry.Status.CLAIMED and entry.claimed_by_id != user.pk and entry.lease_until > now:
        return "Another reviewer holds it now; it is left to them."
    return ""


def open_entries(item_ids: list[int]) -> dict[int, QueueEntry]:
    """The open entry of each item, locked; entries another transaction holds locked are skipped on PostgreSQL."""
    locked = (
        QueueEntry.objects.select_for_update(of=("self",), skip_locked=connection.vendor == "postgresql")
        .select_related("queue", "item")
        .filter(item_id__in=item_ids, status__in=OPEN)
    )
    return {entry.item_id: entry for entry in locked}


def claim(entries: list[QueueEntry], *, user: AbstractBaseUser, now) -> None:  # noqa: ANN001
    """Hold ``entries`` (locked by the caller) for ``user`` under a lease, as a reviewer's claim would."""
    until = now + timedelta(seconds=settings.REVIEW_LEASE_SECONDS)
    QueueEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
        status=QueueEntry.Status.CLAIMED, claimed_by=user, claimed_at=now, lease_until=until,
        fencing_token=F("fencing_token") + 1,
    )  # fmt: skip
    for entry in entries:
        entry.status, entry.claimed_by, entry.claimed_at, entry.lease_until = (
            QueueEntry.Status.CLAIMED,
            user,
            now,
            until,
        )
        entry.fencing_token += 1


def _decide_chunk(bulk: BulkAction, chunk: list[BulkActionItem], *, user: AbstractBaseUser, queue_ids) -> None:  # noqa: ANN001
    """Claim and decide the chunk's items together; those that may not be decided get their reason."""
    now = timezone.now()
    known = check_decision(action=bulk.action, categories=bulk.categories)
    entries = open_entries([row.item_id for row in chunk])
    ready: list[tuple[BulkActionItem, QueueEntry]] = []
    for row in chunk:
        entry = entries.get(row.item_id)
        reason = why_left_alone(entry, user=user, queue_ids=queue_ids, now=now)
        if reason:
            row.outcome, row.reason = BulkActionItem.Outcome.FAILED, reason
        else:
            ready.append((row, entry))
    claim([entry for _, entry in ready], user=user, now=now)
    decisions = decide_entries(
        [entry for _, entry in ready], user=user, action=bulk.action, categories=[known[s] for s in bulk.categories],
        note=bulk.note or f"Bulk action #{bulk.pk}", all_categories=list(known.values()),
    )  # fmt: skip
    for (row, _), decision in zip(ready, decisions, strict=True):
        row.outcome, row.decision_id = BulkActionItem.Outcome.DECIDED, decision.pk


def _decide_alone(bulk: BulkAction, row: BulkActionItem, *, user: AbstractBaseUser, queue_ids) -> None:  # noqa: ANN001
    """One item through the one-by-one decision service, in its own savepoint."""
    try:
        with transaction.atomic():
            now = timezone.now()
            entry = open_entries([row.item_id]).get(row.item_id)
            reason = why_left_alone(entry, user=user, queue_ids=queue_ids, now=now)
            if reason:
                raise ItemLeftAlone(reason)
            claim([entry], user=user, now=now)
            [decision, *_] = record_decision(
                entry_id=entry.pk, token=entry.fencing_token, user=user, action=bulk.action,
                categories=list(bulk.categories), note=bulk.note or f"Bulk action #{bulk.pk}",
            )  # fmt: skip
        row.outcome, row.decision_id, row.reason = BulkActionItem.Outcome.DECIDED, decision.pk, ""
    except (ItemLeftAlone, LeaseLost, InvalidDecision, DatabaseError) as error:
        row.outcome, row.decision_id, row.reason = BulkActionItem.Outcome.FAILED, None, str(error)[:300]


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
        if bulk.kind != BulkAction.Kind.DECIDE:
            raise BulkInvalid("This is not a bulk decision; undo it from its own page.")
        if bulk.state != BulkAction.State.DONE or bulk.finished_at is None:
            raise BulkInvalid(f"Only a finished bulk action can be undone; this one is {bulk.get_state_display()}.")
        if timezone.now() - bulk.finished_at > undo_window():
            raise BulkInvalid(f"Bulk actions can be undone for {settings.REVIEW_UNDO_SECONDS} seconds after they end.")
        rows = list(bulk.items.filter(outcome=BulkActionItem.Outcome.DECIDED, decision_id__isnull=False))
        for start in range(0, len(rows), 500):
            part = rows[start : start + 500]
            _withdraw_decisions(list(Decision.objects.filter(pk__in=[r.decision_id for r in part])), user=user)
        for row in rows:
            row.outcome = BulkActionItem.Outcome.UNDONE
        BulkActionItem.objects.bulk_update(rows, ["outcome"], batch_size=500)
        bulk.state, bulk.undone_at = BulkAction.State.UNDONE, timezone.now()
        bulk.save(update_fields=["state", "undone_at"])
        record_event(action="bulk_action.undone", target=bulk, actor=user, before={"decisions": len(rows)})
    return bulk


def _withdraw_decisions(decisions: list[Decision], *, user: AbstractBaseUser) -> None:
    """Undo decisions as a reviewer's undo would, together: the items go back to pending in the queues they were
    decided in (unless already open elsewhere), the second reviews they opened are withdrawn, the audit log keeps
    both the decisions and their undoing."""
    if not decisions:
        return
    item_ids = [d.item_id for d in decisions]
    # What review.second_review.withdraw_second_review does per decision: every decision here is the same reviewer's.
    QueueEntry.objects.filter(
        item_id__in=item_ids, selection=QueueEntry.Selection.SECOND_REVIEW, excluded_reviewer_id=user.pk,
        status__in=OPEN,
    ).delete()  # fmt: skip
    record_events(
        action="decision.undone",
        targets=decisions,
        actor=user,
        before=[{"item": d.item_id, "action": d.action, "bulk": True} for d in decisions],
    )
    entry_ids = [d.entry_id for d in decisions if d.entry_id is not None]
    Decision.objects.filter(pk__in=[d.pk for d in decisions]).delete()  # labels and categories go with them
    still_open = set(QueueEntry.objects.filter(item_id__in=item_ids, status__in=OPEN).values_list("item_id", flat=True))
    reopen = QueueEntry.objects.filter(pk__in=entry_ids).exclude(item_id__in=still_open)
    reopened = list(reopen.values_list("item_id", flat=True))
    reopen.update(status=QueueEntry.Status.PENDING, closed_at=None, claimed_by=None, lease_until=None)
    Item.objects.filter(pk__in=reopened).update(state=Item.State.QUEUED, updated_at=timezone.now())
