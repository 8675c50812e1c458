"""Builders for account tests: events in the API's shape, stored through the real services."""

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from accounts.event_input import parse_events
from accounts.event_intake import IntakeResult, record_events

_counter = itertools.count(1)


def event(type: str = "login_succeeded", *, account: str = "u-1", source: str = "tests", **fields) -> dict:
    """One event as the platform sends it; ``at`` (a datetime) sets ``occurred_at``."""
    at = fields.pop("at", None) or timezone.now() - timedelta(minutes=1)
    body = {
        "id": fields.pop("id", f"evt-{next(_counter)}"),
        "source": source,
        "account": account,
        "type": type,
        "occurred_at": at.isoformat() if isinstance(at, datetime) else at,
    }
    body.update(fields)
    return body


def store(*events: dict) -> IntakeResult:
    """Validate and store events as the API does (same checks, same service)."""
    parsed, _ = parse_events(
        {"events": list(events)},
        now=timezone.now(),
        max_age=timedelta(days=7),
        max_ahead=timedelta(minutes=5),
        max_batch=1000,
    )
    return record_events(events=parsed)
