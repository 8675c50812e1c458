"""Celery tasks for webhook delivery (queue ``default``). Each takes ids; a redelivered message changes nothing."""

from celery import shared_task

from webhooks import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver(delivery_ids: list[int]) -> int:
    """Attempt a few due deliveries one after another; each is claimed on its own, so none is sent twice.

    Returns how many were attempted (the others were done, in flight elsewhere, or not due).
    """
    return sum(services.deliver(delivery_id=delivery_id) is not None for delivery_id in delivery_ids)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Periodic: send due retries and deliveries whose message or worker was lost."""
    return services.requeue_deliveries()
