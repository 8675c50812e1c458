"""Heartbeats: each Celery worker process says every few seconds that it is alive, what it consumes, whether
its models are loaded, and how many tasks it finished per queue; beat's schedule ticks once a period.

Readiness (ops.health) and the metrics (ops.metrics) read these rows; a killed worker simply stops writing,
so its row goes stale and readiness says so within ``OPS_HEARTBEAT_STALE_SECONDS``.
"""

import logging
import os
import socket
import threading
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from ops.models import Heartbeat

logger = logging.getLogger(__name__)

OUTCOMES = ("succeeded", "failed", "retried")


class TaskCounters:
    """Tasks finished by this process, per Celery queue and outcome (thread-safe; Celery may run threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))

    def add(self, *, queue: str, outcome: str) -> None:
        with self._lock:
            self._counts[queue or "unknown"][outcome] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {queue: dict(counts) for queue, counts in self._counts.items()}


class ProcessState:
    """What this worker process reports: its queues, whether its models are loaded, its task counts."""

    def __init__(self) -> None:
        self.queues: list[str] = []
        self.models_ready = False
        self.counters = TaskCounters()
        self.started_at = timezone.now()
        self.heartbeat: HeartbeatThread | None = None
        self.pid = os.getpid()


_state = ProcessState()


def process_state() -> ProcessState:
    """This process's state; a forked child starts afresh instead of inheriting its parent's counts."""
    global _state
    if _state.pid != os.getpid():
        _state = ProcessState()
    return _state


def process_name() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def record_worker_heartbeat(
    *, name: str, queues: list[str], models_ready: bool, task_counts: dict, started_at: datetime
) -> None:
    """Write one worker process's heartbeat row (insert or update)."""
    Heartbeat.objects.update_or_create(
        name=name,
        defaults={
            "kind": Heartbeat.Kind.WORKER,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "queues": sorted(queues),
            "models_ready": models_ready,
            "task_counts": task_counts,
            "started_at": started_at,
            "seen_at": timezone.now(),
        },
    )


def record_beat_tick() -> None:
    """Beat's schedule reached a worker: the periodic task that calls this ran."""
    now = timezone.now()
    Heartbeat.objects.update_or_create(
        name="beat", defaults={"kind": Heartbeat.Kind.BEAT, "started_at": now, "seen_at": now}
    )


def prune_heartbeats(*, older_than: timedelta = timedelta(hours=1)) -> int:
    """Forget worker processes not heard from for ``older_than`` (restarted or gone). Returns how many."""
    deleted, _ = Heartbeat.objects.filter(kind=Heartbeat.Kind.WORKER, seen_at__lt=timezone.now() - older_than).delete()
    return deleted


def beat_once() -> None:
    """Write this process's heartbeat now."""
    state = process_state()
    record_worker_heartbeat(
        name=process_name(),
        queues=state.queues,
        models_ready=state.models_ready,
        task_counts=state.counters.snapshot(),
        started_at=state.started_at,
    )


class HeartbeatThread(threading.Thread):
    """Writes the process's heartbeat every ``OPS_HEARTBEAT_SECONDS`` until the process ends."""

    def __init__(self) -> None:
        super().__init__(name="ops-heartbeat", daemon=True)
        self.stopped = threading.Event()
        self._wake = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                close_old_connections()
                beat_once()
            except DatabaseError as exc:
                # The database is away (a restart): try again next period, on a fresh connection.
                logger.warning("heartbeat not written: %s", type(exc).__name__)
                connection.close()
            self._wake.wait(settings.OPS_HEARTBEAT_SECONDS)
            self._wake.clear()
        connection.close()  # this thread's own connection

    def beat_now(self) -> None:
        """Write the heartbeat at once instead of at the end of the period (the state it reports changed)."""
        self._wake.set()

    def stop(self) -> None:
        self.stopped.set()
        self._wake.set()


def start_heartbeat(*, queues: list[str]) -> None:
    """Start this process's heartbeat thread (once per process)."""
    state = process_state()
    state.queues = queues
    if state.heartbeat is None or not state.heartbeat.is_alive():
        state.heartbeat = HeartbeatThread()
        state.heartbeat.start()


def mark_models_ready() -> None:
    """Called once the worker process has loaded its models: the heartbeat says so at once, not at the end of its
    period (``OPS_HEARTBEAT_SECONDS``, 10 s), so readiness and metrics follow the load within a moment."""
    state = process_state()
    state.models_ready = True
    if state.heartbeat is not None and state.heartbeat.is_alive():
        state.heartbeat.beat_now()
