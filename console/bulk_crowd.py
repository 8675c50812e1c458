"""Bulk "add to a crowd task set": the selection's items become ordinary tasks of an open task set.

The same flow as every bulk action (``console.bulk``): the whole selection is refused, writing nothing, when the
user lacks ``console.run_bulk_actions`` or ``labeling.build_crowd_task_sets``, or may not see one of the items;
a worker then adds the items one by one through labeling's own service (``labeling.crowd.add_item_to_task_set``),
so an item that cannot join (no text, already in the set) is left alone with the reason and the others go on.
No undo: a task may have been served to a crowd worker the moment it was added.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction

from audit.services import record_event
from console.bulk import BulkInvalid, BulkRefused, checked_selection, run_bulk_action, send_after_commit
from console.models import BulkAction, BulkActionItem
from labeling.crowd import CrowdError, add_item_to_task_set, may_build_task_sets
from labeling.models import CrowdTaskSet
from queues.models import QueueEntry


def open_task_sets() -> list[CrowdTaskSet]:
    """The task sets items can be added to, newest first (the bulk panel's choices)."""
    return list(CrowdTaskSet.objects.filter(state=CrowdTaskSet.State.OPEN).order_by("-created_at")[:50])


def start_bulk_crowd(*, user: AbstractBaseUser, item_ids: list[int], task_set_id: int | None) -> BulkAction:
    """Record adding ``item_ids`` to the crowd task set ``task_set_id``; a worker runs it (after commit)."""
    if not may_build_task_sets(user):
        raise BulkRefused("Adding items to a crowd task set needs the 'build crowd task sets' permission.")
    ids = checked_selection(user, item_ids)
    task_set = CrowdTaskSet.objects.filter(pk=task_set_id).first() if task_set_id else None
    if task_set is None:
        raise BulkInvalid("Choose the crowd task set to add the items to." if not task_set_id else "No such task set.")
    if task_set.state != CrowdTaskSet.State.OPEN:
        raise BulkInvalid(f"The task set {task_set.name!r} is closed: items can only join an open one.")
    with transaction.atomic():
        bulk = BulkAction.objects.create(
            created_by=user, kind=BulkAction.Kind.CROWD, target_task_set=task_set, total=len(ids)
        )
        BulkActionItem.objects.bulk_create([BulkActionItem(bulk_action=bulk, item_id=i) for i in ids])
        record_event(
            action="bulk_action.created", target=bulk, actor=user,
            after={"kind": "crowd", "task_set": task_set.name, "items": len(ids)},
        )  # fmt: skip
        send_after_commit(bulk)
    return bulk


def run_bulk_crowd(*, bulk_action_id: int) -> BulkAction:
    return run_bulk_action(bulk_action_id=bulk_action_id, handle_chunk=_add_chunk)


def _add_chunk(bulk: BulkAction, chunk: list[BulkActionItem], user: AbstractBaseUser, queue_ids) -> None:  # noqa: ANN001
    # Visibility is read again per chunk (``queue_ids`` is fresh): a lead removed from a queue mid-run stops
    # adding its items.
    visible = None
    if queue_ids is not None:
        visible = set(
            QueueEntry.objects.filter(item_id__in=[row.item_id for row in chunk], queue_id__in=queue_ids)
            .values_list("item_id", flat=True)
        )  # fmt: skip
    for row in chunk:
        if visible is not None and row.item_id not in visible:
            row.outcome, row.reason = BulkActionItem.Outcome.FAILED, "No longer in a queue you may see."
            continue
        try:
            with transaction.atomic():  # one bad item fails alone
                add_item_to_task_set(task_set_id=bulk.target_task_set_id, item_id=row.item_id, user=user)
            row.outcome, row.reason = BulkActionItem.Outcome.ADDED, ""
        except (CrowdError, DatabaseError) as error:
            row.outcome, row.reason = BulkActionItem.Outcome.FAILED, str(error)[:300]
