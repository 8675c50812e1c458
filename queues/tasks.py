"""Celery tasks. Each takes ids, and calls one service; redelivery changes nothing twice."""

from celery import shared_task

from queues import active_learning, enqueue, scoring


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def score_items(item_ids: list[int]) -> int:
    """Score micro-batches, starting with ``item_ids``, while items wait; a no-op for items already taken or done."""
    return scoring.score_pending_items(item_ids=item_ids)


@shared_task(ignore_result=True)
def sweep_scoring() -> int:
    """Periodic: re-queue items stuck in scoring (lost message, killed worker)."""
    return scoring.requeue_stuck_scoring()


@shared_task(ignore_result=True)
def reroute_pending(item_ids: list[int] | None = None) -> int:
    """After a model version becomes active (or for failed items scored again): score pending items that
    have no score from an active version and route them again (only ``item_ids`` when given)."""
    return enqueue.reroute_pending_items(item_ids=item_ids)


@shared_task(ignore_result=True)
def sample_queue_depths() -> int:
    """Periodic: record each queue's depth for the overview charts."""
    return enqueue.sample_queue_depths()


@shared_task(ignore_result=True)
def rerank_labelling_queues() -> int:
    """Periodic: order the most uncertain items of labelling queues for diversity (queues.active_learning)."""
    return active_learning.rerank_labelling_queues()
