"""Reads that views and the API share."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Min, Q
from django.utils import timezone

from intake.models import Item
from queues.membership import queues_for
from queues.models import Decision, Queue, QueueEntry


def item_state_counts() -> list[tuple[str, int]]:
    """How many items are in each lifecycle state, in lifecycle order, zeros included."""
    counts = dict(Item.objects.order_by().values_list("state").annotate(n=Count("id")))
    return [(label, counts.get(value, 0)) for value, label in Item.State.choices]


@dataclass(frozen=True)
class QueueStats:
    queue: Queue
    pending: int
    oldest_enqueued_at: datetime | None
    past_deadline: int


def pending_stats(queue_ids: list[int] | None = None) -> dict[int, tuple[int, datetime | None, int]]:
    """Per queue id: waiting entries, when the oldest entered, and how many are past their deadline.

    One grouped pass over the pending entries (a parallel scan of the open-entries index), where a
    subquery per queue and figure made PostgreSQL walk every open entry once per queue and figure:
    258 ms against 4.6 s with 300,000 pending entries in 5 queues.
    """
    now = timezone.now()
    rows = QueueEntry.objects.filter(status=QueueEntry.Status.PENDING)
    if queue_ids is not None:
        rows = rows.filter(queue_id__in=queue_ids)
    rows = (
        rows.order_by()
        .values("queue_id")
        .annotate(n=Count("id"), oldest=Min("enqueued_at"), late=Count("id", filter=Q(deadline_at__lt=now)))
        .values_list("queue_id", "n", "oldest", "late")
    )
    return {queue_id: (n, oldest, late) for queue_id, n, oldest, late in rows}


def queue_stats_for(user: AbstractBaseUser) -> list[QueueStats]:
    """The user's queues with their depth, oldest pending item and items past their deadline."""
    queues = list(Queue.objects.filter(pk__in=queues_for(user).values("pk")).order_by("name"))
    stats = pending_stats([queue.pk for queue in queues])
    return [QueueStats(queue, *stats.get(queue.pk, (0, None, 0))) for queue in queues]


@dataclass(frozen=True)
class QueueOverview:
    queue: Queue
    depth: list[tuple[str, float]]
    decisions_per_hour: list[tuple[str, float]]
    breaches_per_hour: list[tuple[str, float]]
    pending_now: int


def _hour(slot) -> str:  # noqa: ANN001 - an aware datetime
    return timezone.localtime(slot).strftime("%d %b %H:00")


def queue_overview(queue: Queue, *, hours: int = 48) -> QueueOverview:
    """Depth over time (from periodic samples), decisions and deadline breaches per hour."""
    from django.db.models import F
    from django.db.models.functions import TruncHour

    from queues.models import QueueDepthSample

    since = timezone.now() - timedelta(hours=hours)
    depth = [
        (timezone.localtime(sample.taken_at).strftime("%d %b %H:%M"), float(sample.pending))
        for sample in QueueDepthSample.objects.filter(queue=queue, taken_at__gte=since)
    ]
    # The present backlog, counted now: the chart shows it from the queue's first minute, before any sample.
    pending_now = QueueEntry.objects.filter(queue=queue, status=QueueEntry.Status.PENDING).count()
    depth.append((f"now ({timezone.localtime():%H:%M})", float(pending_now)))
    hour_slots = [(since + timedelta(hours=i)).replace(minute=0, second=0, microsecond=0) for i in range(1, hours + 1)]
    decided = dict(
        Decision.objects.filter(entry__queue=queue, created_at__gte=since, automatic=False)
        .annotate(hour=TruncHour("created_at"))
        .values_list("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    breached = dict(
        QueueEntry.objects.filter(queue=queue, closed_at__gte=since, closed_at__gt=F("deadline_at"))
        .annotate(hour=TruncHour("closed_at"))
        .values_list("hour")
        .annotate(n=Count("id"))
        .values_list("hour", "n")
    )
    return QueueOverview(
        queue=queue,
        depth=depth,
        decisions_per_hour=[(_hour(slot), float(decided.get(slot, 0))) for slot in hour_slots],
        breaches_per_hour=[(_hour(slot), float(breached.get(slot, 0))) for slot in hour_slots],
        pending_now=pending_now,
    )
