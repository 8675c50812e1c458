"""What the work view says around the item: which queue, how many items are left, the deadline in words, and
where the item has been on its way up an escalation chain. Time words are pure functions of plain values."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from queues.models import QueueEntry


def duration_in_words(delta: timedelta) -> str:
    """A duration as people say it, to the unit that matters: "45 s", "25 min", "3 h", "3 h 20 min", "2 days"."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        # Minutes matter under 10 hours ("in 2 h 30 min"); past that, the hour is precise enough.
        return f"{hours} h {rest} min" if rest and hours < 10 else f"{hours} h"
    days, hours = divmod(hours, 24)
    day_word = "day" if days == 1 else "days"
    return f"{days} {day_word} {hours} h" if hours and days < 3 else f"{days} {day_word}"


def deadline_in_words(deadline_at: datetime, now: datetime) -> str:
    """ "in 3 h", "overdue by 20 min", or "due now" within the minute."""
    left = deadline_at - now
    if abs(left) < timedelta(minutes=1):
        return "due now"
    return f"in {duration_in_words(left)}" if left > timedelta(0) else f"overdue by {duration_in_words(left)}"


@dataclass(frozen=True)
class WorkContext:
    queue_name: str
    items_left: int  # pending in the queue, not counting the item on screen
    deadline_words: str
    overdue: bool
    escalation_chain: list[str]  # queue names the item went through before this one, oldest first


def work_context(entry: QueueEntry, *, now: datetime) -> WorkContext:
    """The work view's header for ``entry``: two small queries (the queue's depth and the item's earlier stays)."""
    items_left = QueueEntry.objects.filter(queue_id=entry.queue_id, status=QueueEntry.Status.PENDING).count()
    chain: list[str] = []
    if entry.selection == QueueEntry.Selection.ESCALATED:
        chain = list(
            QueueEntry.objects.filter(item_id=entry.item_id, status=QueueEntry.Status.MOVED, enqueued_at__lte=now)
            .order_by("enqueued_at", "pk")
            .values_list("queue__name", flat=True)
        )
    return WorkContext(
        queue_name=entry.queue.name,
        items_left=items_left,
        deadline_words=deadline_in_words(entry.deadline_at, now),
        overdue=entry.deadline_at < now,
        escalation_chain=chain,
    )
