"""Building a queue entry: its risk and its place in the queue's order of service."""

from datetime import datetime

from django.utils import timezone

from intake.models import Item
from queues.models import Queue, QueueEntry
from queues.priority import oldest_sort_key, risk_of, risk_sort_key, uncertainty_sort_key


def sort_key_for(queue: Queue, *, risk: float, scores: dict[str, float], enqueued_at: datetime) -> float:
    if queue.ordering == Queue.Ordering.UNCERTAIN:
        return uncertainty_sort_key(scores)
    if queue.ordering == Queue.Ordering.OLDEST:
        return oldest_sort_key(enqueued_at)
    return risk_sort_key(risk=risk, enqueued_at=enqueued_at, deadline=queue.deadline)


def new_entry(
    *,
    item: Item,
    queue: Queue,
    scores: dict[str, float],
    severities: dict[str, int],
    selection: str,
    enqueued_at: datetime | None = None,
    sort_risk: float | None = None,
    **fields,
) -> QueueEntry:
    """An entry for ``item`` in ``queue``; ``enqueued_at`` keeps the original clock when an item moves.

    ``sort_risk``, when given, orders the entry as if that were its risk (exploration); the entry still
    records and shows the item's real risk.
    """
    enqueued_at = enqueued_at or timezone.now()
    risk = risk_of(scores, severities)
    order_risk = risk.value if sort_risk is None else sort_risk
    return QueueEntry(
        item=item,
        queue=queue,
        sort_key=sort_key_for(queue, risk=order_risk, scores=scores, enqueued_at=enqueued_at),
        risk=risk.value,
        risk_category=risk.category or "",
        selection=selection,
        enqueued_at=enqueued_at,
        deadline_at=enqueued_at + queue.deadline,
        **fields,
    )


def copy_entry(entry: QueueEntry, *, queue: Queue, selection: str, **fields) -> QueueEntry:
    """A new entry for the same subject as ``entry`` in ``queue``, at the risk ``entry`` had.

    For subjects without an item (an account case): their risk was set by their own app when they were
    queued, and there are no item scores to recompute it from.
    """
    now = timezone.now()
    return QueueEntry(
        item_id=entry.item_id,
        queue=queue,
        sort_key=sort_key_for(queue, risk=entry.risk, scores={}, enqueued_at=now),
        risk=entry.risk,
        risk_category=entry.risk_category,
        selection=selection,
        enqueued_at=now,
        deadline_at=now + queue.deadline,
        **fields,
    )
