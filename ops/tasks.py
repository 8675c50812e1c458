"""Periodic operations tasks (beat): beat's own heartbeat, and forgetting worker processes long gone."""

from celery import shared_task

from ops.heartbeats import prune_heartbeats, record_beat_tick


@shared_task(ignore_result=True)
def beat_tick() -> None:
    """Proves beat schedules and a ``default`` worker runs what it schedules (readiness reads the time)."""
    record_beat_tick()


@shared_task(ignore_result=True)
def prune_worker_heartbeats() -> int:
    """Deletes heartbeats of worker processes not heard from for an hour."""
    return prune_heartbeats()
