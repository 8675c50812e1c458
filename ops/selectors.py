"""Reads for health and metrics: fresh heartbeats, and what Celery queues have live consumers."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ops.models import Heartbeat


@dataclass(frozen=True)
class WorkerView:
    name: str
    queues: list[str]
    models_ready: bool
    task_counts: dict
    age_seconds: float


def fresh_workers() -> list[WorkerView]:
    """Worker processes heard from within ``OPS_HEARTBEAT_STALE_SECONDS``."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.OPS_HEARTBEAT_STALE_SECONDS)
    rows = Heartbeat.objects.filter(kind=Heartbeat.Kind.WORKER, seen_at__gte=cutoff).order_by("name")
    return [
        WorkerView(
            name=row.name,
            queues=list(row.queues),
            models_ready=row.models_ready,
            task_counts=dict(row.task_counts),
            age_seconds=(now - row.seen_at).total_seconds(),
        )
        for row in rows
    ]


def all_worker_task_counts() -> list[tuple[str, dict]]:
    """Every known worker process's task counts, stale ones included (their counts still happened)."""
    return [(row.name, dict(row.task_counts)) for row in Heartbeat.objects.filter(kind=Heartbeat.Kind.WORKER)]


def beat_age_seconds() -> float | None:
    """Seconds since beat's last tick reached a worker; None if it never did."""
    seen = Heartbeat.objects.filter(name="beat").values_list("seen_at", flat=True).first()
    return None if seen is None else (timezone.now() - seen).total_seconds()
