"""What a detection rule would have done: the accounts it would have fired on in the last days, and, for a
rule that has been running (in shadow or not), how often reviewers agreed with it."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts import detection
from accounts.models import AccountCase, SignalReading
from intake.models import Author

PREVIEW_DAYS = 7
SAMPLE = 25
_SQL_OPS = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}


@dataclass(frozen=True)
class Preview:
    days: int
    accounts: int
    sample_account_ids: list[int]
    open_cases: int  # of those accounts, how many already have an open case of the rule's type
    snapshots_checked: int


def signal_filter(conditions: list[dict[str, Any]]) -> Q:
    """The signal conditions as a filter on ``SignalReading`` columns (a signal with no value never matches)."""
    q = Q()
    for condition in conditions:
        name = condition["field"]
        if not name.startswith("signal."):
            continue
        column = name.removeprefix("signal.")
        lookup = _SQL_OPS.get(condition["op"], "exact")
        q &= Q(**{f"{column}__isnull": False, f"{column}__{lookup}": condition["value"]})
    return q


def preview_rule(
    *, conditions: list[dict[str, Any]], case_type: str, source: str = "", now: datetime | None = None
) -> Preview:
    """The accounts on which ``conditions`` held after any signal update of the last ``PREVIEW_DAYS`` days.

    The database narrows the snapshots by the signal conditions; the rule's own code
    (``accounts.detection``) then decides on each, so the preview and live firing cannot disagree.
    """
    now = now or timezone.now()
    # The narrow readings beside the snapshots, and of them only the columns the rule names: a snapshot's
    # full values are a kilobyte of JSON, and scanning 7 days of them was most of a preview's time.
    named = sorted({c["field"].removeprefix("signal.") for c in conditions if c["field"].startswith("signal.")})
    # The event types and countries are JSON, decoded per row: fetched only when a condition looks at them
    # (a rule over signals alone had 54,000 candidates, and decoding cost more than the scan).
    event_fields = {c["field"] for c in conditions} & {detection.EVENT_TYPES_FIELD, detection.EVENT_COUNTRY_FIELD}
    event_columns = ["event_types", "countries"] if event_fields else []
    snapshots = (
        SignalReading.objects.filter(taken_at__gte=now - timedelta(days=PREVIEW_DAYS))
        .filter(signal_filter(conditions))
        .values_list("account_id", *event_columns, *named)
    )
    candidates = list(snapshots.iterator(chunk_size=5000))
    # The account's source, for rules that name it: one lookup by id (an account's id is its author's), not
    # a join of every snapshot to every account and author.
    sources: dict[int, str] = {}
    if any(c["field"] == detection.SOURCE_FIELD for c in conditions):
        ids = sorted({row[0] for row in candidates})
        for start in range(0, len(ids), 10_000):
            sources.update(Author.objects.filter(pk__in=ids[start : start + 10_000]).values_list("pk", "source"))
    matched: list[int] = []
    seen: set[int] = set()
    rule = detection.Rule(id=0, conditions=conditions, case_type=case_type, severity=0)
    for account_id, *columns in candidates:
        if account_id in seen:
            continue
        event_types, countries = columns[:2] if event_columns else ([], [])
        values = columns[2:] if event_columns else columns
        facts = detection.AccountFacts(
            account_id=account_id,
            source=sources.get(account_id, source),
            values=dict(zip(named, values, strict=True)),
            event_types=frozenset(event_types),
            countries=frozenset(countries),
        )
        if detection.firings(facts, [rule]):
            seen.add(account_id)
            matched.append(account_id)
    checked = len(candidates)
    # The open cases of the type are a queue's worth; the matched accounts can be tens of thousands, too many
    # for an IN list: intersect here.
    open_of_type = AccountCase.objects.filter(case_type=case_type, status=AccountCase.Status.OPEN)
    open_cases = len(seen.intersection(open_of_type.values_list("account_id", flat=True).iterator(chunk_size=10_000)))
    return Preview(PREVIEW_DAYS, len(matched), matched[:SAMPLE], open_cases, checked)
