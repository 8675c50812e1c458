"""Celery tasks of the console. Each takes ids and calls one service."""

from celery import shared_task

from console import bulk


@shared_task(name="console.tasks.run_bulk_action", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_bulk_action(bulk_action_id: int) -> int:
    """Decide the items of a bulk action still to do; a redelivered message resumes, deciding nothing twice."""
    return bulk.run_bulk_action(bulk_action_id=bulk_action_id).processed
