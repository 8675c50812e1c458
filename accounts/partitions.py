"""Daily partitions of the event table on PostgreSQL: created ahead of time, dropped past retention.

Retention is a ``DROP TABLE`` of whole days, so it costs nothing however many events a day holds. Rows
in the DEFAULT partition (events of a day whose partition did not exist yet) block creating that day's
partition; ``maintain_event_partitions`` moves them into it first. On SQLite (the embedded mode) there
are no partitions, and retention is a plain ``DELETE``.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import AccountEvent, EventReceipt, SignalReading, SignalSnapshot

PARENT = "accounts_accountevent"
DAYS_AHEAD = 3


def partition_name(day: date) -> str:
    return f"{PARENT}_{day:%Y%m%d}"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def existing_partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [PARENT],
        )
        return {row[0] for row in cursor.fetchall()}


def maintain_event_partitions(*, now: datetime | None = None) -> dict[str, int]:
    """Create the partitions from the oldest day events may carry to ``DAYS_AHEAD`` days ahead; drop expired ones.

    Returns how many partitions it created and dropped (and, on SQLite, events deleted). Idempotent.
    """
    now = now or timezone.now()
    retention = timedelta(days=settings.ACCOUNT_EVENT_RETENTION_DAYS)
    cutoff = now - retention
    EventReceipt.objects.filter(occurred_at__lt=cutoff).delete()
    # Snapshots serve rule previews (7 days) and the risk model's features: kept as long as events.
    SignalSnapshot.objects.filter(taken_at__lt=cutoff).delete()
    SignalReading.objects.filter(taken_at__lt=cutoff).delete()
    if connection.vendor != "postgresql":
        deleted, _ = AccountEvent.objects.filter(occurred_at__lt=cutoff).delete()
        return {"created": 0, "dropped": 0, "deleted": deleted}
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=settings.ACCOUNT_EVENT_MAX_AGE_DAYS + 1)
    wanted = [first + timedelta(days=n) for n in range((today - first).days + DAYS_AHEAD + 1)]
    have = existing_partitions()
    created = 0
    for day in wanted:
        if partition_name(day) not in have:
            _create_partition(day)
            created += 1
    dropped = 0
    oldest_kept = (cutoff.astimezone(UTC)).date()
    for name in sorted(have):
        suffix = name.removeprefix(PARENT + "_")
        if not suffix.isdigit():
            continue  # the DEFAULT partition
        if datetime.strptime(suffix, "%Y%m%d").date() < oldest_kept:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
            dropped += 1
    return {"created": created, "dropped": dropped, "deleted": 0}


def _create_partition(day: date) -> None:
    """One day's partition; events that already landed in DEFAULT for that day move into it, in one transaction."""
    start, end = _midnight(day), _midnight(day + timedelta(days=1))
    name = partition_name(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE "{name}" (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
        cursor.execute(
            f"WITH moved AS (DELETE FROM {PARENT}_default WHERE occurred_at >= %s AND occurred_at < %s RETURNING *) "
            f'INSERT INTO "{name}" SELECT * FROM moved',
            [start, end],
        )
        # DDL takes no bind parameters; both bounds are datetimes this module made, not input.
        cursor.execute(
            f'ALTER TABLE {PARENT} ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
