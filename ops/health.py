"""Health checks: is the process alive, and can this deployment do its work right now?

Each check answers ok or not with a few numbers and, when not ok, the kind of error (its class name only: an
exception's text can hold a host name or a DSN). Nothing here names an item, a queue or a user.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import current_app as celery_app
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from kombu.exceptions import KombuError

from ops.selectors import beat_age_seconds, fresh_workers


@dataclass
class CheckResult:
    ok: bool
    details: dict = field(default_factory=dict)


def _timed(check: Callable[[], CheckResult]) -> CheckResult:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # noqa: BLE001 - a check that breaks is a failed check, never a 500
        result = CheckResult(ok=False, details={"error": type(exc).__name__})
    result.details["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        # Drop the broken connection now, so the next request reconnects instead of failing on it.
        connection.close_if_unusable_or_obsolete()
        return CheckResult(ok=False, details={"error": type(exc).__name__})
    return CheckResult(ok=True)


def check_broker() -> CheckResult:
    """Connect to the broker (one attempt, a short timeout): can a web process queue work right now?"""
    timeout = settings.OPS_CHECK_TIMEOUT_SECONDS
    with celery_app.connection_for_write(connect_timeout=timeout) as conn:
        try:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        except (KombuError, OSError) as exc:
            return CheckResult(ok=False, details={"error": type(exc).__name__})
    return CheckResult(ok=True)


def check_cache() -> CheckResult:
    key = "ops:health:cache"
    value = str(time.time())
    cache.set(key, value, timeout=30)
    if cache.get(key) != value:
        return CheckResult(ok=False, details={"error": "read back a different value"})
    return CheckResult(ok=True)


def check_workers() -> CheckResult:
    """Every queue in ``OPS_REQUIRED_QUEUES`` has a live consumer; the inference queue's has loaded its models."""
    workers = fresh_workers()
    per_queue: dict[str, dict[str, int]] = {}
    for queue in settings.OPS_REQUIRED_QUEUES:
        consumers = [worker for worker in workers if queue in worker.queues]
        per_queue[queue] = {
            "processes": len(consumers),
            "models_ready": sum(1 for worker in consumers if worker.models_ready),
        }
    ok = all(counts["processes"] > 0 for counts in per_queue.values())
    if "inference" in per_queue:
        ok = ok and per_queue["inference"]["models_ready"] > 0
    return CheckResult(ok=ok, details={"queues": per_queue})


def check_beat() -> CheckResult:
    age = beat_age_seconds()
    if age is None:
        return CheckResult(ok=False, details={"error": "no tick seen yet"})
    return CheckResult(ok=age <= settings.OPS_BEAT_STALE_SECONDS, details={"age_seconds": round(age, 1)})


CHECKS: dict[str, Callable[[], CheckResult]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
    "workers": check_workers,
    "beat": check_beat,
}


def readiness() -> tuple[bool, dict[str, dict]]:
    """Run every check; the deployment is ready when all pass. The worker and beat checks need the database,
    so with the database away they fail too (and say why) instead of raising."""
    results = {name: _timed(check) for name, check in CHECKS.items()}
    return all(result.ok for result in results.values()), {
        name: {"ok": result.ok, **result.details} for name, result in results.items()
    }
