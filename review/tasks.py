"""Celery tasks of review. Names keep the ``queues.tasks`` prefix they had, so that messages already queued
and beat entries still match."""

from celery import shared_task

from review import claims


@shared_task(ignore_result=True, name="queues.tasks.release_expired_leases")
def release_expired_leases() -> int:
    """Periodic: items whose reviewer's lease ran out go back to their queue."""
    return claims.release_expired_leases()
