"""Celery tasks of the console. Each takes ids and calls one service."""

from celery import shared_task

from console import bulk, bulk_crowd, bulk_moves, bulk_rescore
from console.models import BulkAction


@shared_task(name="console.tasks.run_bulk_action", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_bulk_action(bulk_action_id: int) -> int:
    """Act on the items of a bulk action still to do; a redelivered message resumes, acting on nothing twice."""
    kind = BulkAction.objects.filter(pk=bulk_action_id).values_list("kind", flat=True).first()
    if kind == BulkAction.Kind.RESCORE:
        return bulk_rescore.run_bulk_rescore(bulk_action_id=bulk_action_id).processed
    if kind == BulkAction.Kind.CROWD:
        return bulk_crowd.run_bulk_crowd(bulk_action_id=bulk_action_id).processed
    if kind in bulk_moves.MOVE_KINDS:
        return bulk_moves.run_bulk_move(bulk_action_id=bulk_action_id).processed
    return bulk.run_bulk_action(bulk_action_id=bulk_action_id).processed


@shared_task(name="console.tasks.sweep_pending_bulk_actions", ignore_result=True)
def sweep_pending_bulk_actions() -> int:
    """Beat: re-send bulk actions whose message was lost (the broker was down when they were started)."""
    return bulk.sweep_pending_bulk_actions()
