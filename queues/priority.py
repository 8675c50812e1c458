"""Priority arithmetic: pure functions of plain values, tested without a database.

Risk is the highest, over categories, of probability x severity weight, scaled to [0, 1]
(severity 5 of 5 at probability 1 is risk 1). Queues order by a key computed once, when the item
enters the queue, so the database serves the order from an index instead of sorting:

* highest risk first, with linear aging: the effective priority ``risk + k * age`` grows until, at
  the queue's deadline, even a zero-risk item has gained a full point of risk. Ordering by
  ``risk + k * (now - enqueued_at)`` descending is ordering by ``k * enqueued_at - risk`` ascending,
  because ``k * now`` is the same for every item at a given moment.
* most uncertain first: ``min |p - 0.5|`` over categories, ascending.
* oldest first: the time it entered the queue.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_SEVERITY = 5


@dataclass(frozen=True)
class Risk:
    value: float
    category: str | None  # the category that drove it; None when there are no scores


def risk_of(scores: dict[str, float], severities: dict[str, int]) -> Risk:
    """The highest probability x severity weight over the categories that have a severity."""
    best = Risk(0.0, None)
    for slug, probability in scores.items():
        if slug not in severities:
            continue
        value = probability * severities[slug] / MAX_SEVERITY
        if value > best.value:
            best = Risk(round(value, 6), slug)
    return best


def aging_rate(deadline: timedelta) -> float:
    """Risk gained per second of waiting: a full point over the queue's deadline."""
    return 1.0 / max(deadline.total_seconds(), 1.0)


def risk_sort_key(*, risk: float, enqueued_at: datetime, deadline: timedelta) -> float:
    """Ascending key for 'highest risk first, aged towards the deadline'."""
    return aging_rate(deadline) * enqueued_at.timestamp() - risk


def effective_priority(*, risk: float, enqueued_at: datetime, deadline: timedelta, now: datetime) -> float:
    """What the key orders by, at ``now`` (for display and tests)."""
    return risk + aging_rate(deadline) * (now - enqueued_at).total_seconds()


def uncertainty_sort_key(scores: dict[str, float]) -> float:
    """Ascending key for 'most uncertain first': the smallest distance of any score from 0.5."""
    return min((abs(p - 0.5) for p in scores.values()), default=0.5)


def oldest_sort_key(enqueued_at: datetime) -> float:
    return enqueued_at.timestamp()


def is_past_deadline(*, enqueued_at: datetime, deadline: timedelta, now: datetime) -> bool:
    return now > enqueued_at + deadline
