"""Bulk re-scoring: the selection's items whose scoring failed are scored again, as the item API's rescore does.

``intake.rescoring.rescore_failed_items`` decides per item: not routed yet, back to scoring; waiting in a
queue, the rerouting task scores it and refreshes its entry in place. Items that were scored (or that a
reviewer holds or decided) are left alone with the reason: scoring an item again with the same active model
gives the same scores, and a new model version rescores pending items itself when it becomes active.
No undo: scores are facts about the model, not a verdict.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audit.services import record_event
from console.bulk import checked_selection, run_bulk_action, send_after_commit
from console.models import BulkAction, BulkActionItem
from intake.rescoring import failed_items, rescore_failed_items

NOT_FAILED = "Its scoring did not fail (or a reviewer holds or decided it): only failed items are scored again."


def start_bulk_rescore(*, user: AbstractBaseUser, item_ids: list[int]) -> BulkAction:
    ids = checked_selection(user, item_ids)
    with transaction.atomic():
        bulk = BulkAction.objects.create(created_by=user, kind=BulkAction.Kind.RESCORE, total=len(ids))
        BulkActionItem.objects.bulk_create([BulkActionItem(bulk_action=bulk, item_id=i) for i in ids])
        record_event(
            action="bulk_action.created", target=bulk, actor=user, after={"kind": "rescore", "items": len(ids)}
        )
        send_after_commit(bulk)
    return bulk


def run_bulk_rescore(*, bulk_action_id: int) -> BulkAction:
    return run_bulk_action(bulk_action_id=bulk_action_id, handle_chunk=_rescore_chunk)


def _rescore_chunk(bulk: BulkAction, chunk: list[BulkActionItem], user: AbstractBaseUser, queue_ids) -> None:  # noqa: ANN001
    failed = set(
        failed_items([row.item_id for row in chunk]).exclude(entries__status="claimed").values_list("id", flat=True)
    )
    rescore_failed_items(item_ids=sorted(failed))
    for row in chunk:
        if row.item_id in failed:
            row.outcome, row.reason = BulkActionItem.Outcome.SENT, ""
        else:
            row.outcome, row.reason = BulkActionItem.Outcome.FAILED, NOT_FAILED
