"""Loading a simulation (``accounts.simulator``) through the real intake and signal services, in time order.

Signals are windows ending "now", and rules fire when an update runs, seconds after the events in
production. Replaying a day at once would evaluate every window at the end of the day and miss a burst
that happened in the morning, so the replay stores and folds the events slice by slice, each update
running with ``now`` at the end of its slice.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.event_input import parse_events
from accounts.event_intake import record_events
from accounts.models import AccountSignals
from accounts.signal_updates import update_account_signals
from accounts.simulator import Simulation

BATCH = 1000


def load_simulation(
    simulation: Simulation, *, slice_minutes: int = 5, progress: Callable[[int, int], None] | None = None
) -> int:
    """Store every event of ``simulation`` and fold it into signals, a slice at a time; returns events stored."""
    if not simulation.events:
        return 0
    stored = 0
    first = datetime.fromisoformat(simulation.events[0]["occurred_at"])
    width = timedelta(minutes=slice_minutes)
    slice_end = first + width
    pending: list[dict] = []
    for event in [*simulation.events, None]:
        at = datetime.fromisoformat(event["occurred_at"]) if event else None
        if event is None or at >= slice_end:
            stored += _store_and_fold(pending, now=min(slice_end, timezone.now()))
            pending = []
            if progress:
                progress(stored, len(simulation.events))
            while at is not None and at >= slice_end:
                slice_end += width
        if event is not None:
            pending.append(event)
    return stored


def _store_and_fold(events: list[dict], *, now: datetime) -> int:
    stored, touched = 0, set()
    for start in range(0, len(events), BATCH):
        parsed, _ = parse_events(
            {"events": events[start : start + BATCH]},
            now=timezone.now(),
            max_age=timedelta(days=settings.ACCOUNT_EVENT_MAX_AGE_DAYS),
            max_ahead=timedelta(seconds=settings.ACCOUNT_EVENT_MAX_FUTURE_SECONDS),
            max_batch=BATCH,
        )
        result = record_events(events=parsed)
        stored += result.stored
        touched.update(result.account_ids)
    ids = sorted(touched)
    for _ in range(3):  # then the accounts those updates marked pending (ring members), as workers would
        for start in range(0, len(ids), settings.ACCOUNT_SIGNAL_TASK_BATCH):
            update_account_signals(account_ids=ids[start : start + settings.ACCOUNT_SIGNAL_TASK_BATCH], now=now)
        ids = list(AccountSignals.objects.filter(pending_since__isnull=False).values_list("account_id", flat=True))
        if not ids:
            break
    return stored
