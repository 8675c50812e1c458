"""Folding new events into accounts' signals, then running the detection rules on the new values.

A worker runs ``update_account_signals`` with account ids after intake commits (``accounts.tasks``). It
locks each account's ``AccountSignals`` row, reads only the events after ``processed_event_id``, folds
them in (``accounts.risk_signals``), and in the same transaction writes the values, a snapshot, the
identifiers that link accounts, the rule firings and any case opened. A redelivered message finds
nothing pending and changes nothing; a lost one is re-sent by ``sweep_pending_signals``.
"""

import ipaddress
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts import cases, detection, risk_signals
from accounts import signal_store_postgres as fast
from accounts.actions import InvalidAction, take_action
from accounts.models import (
    Account,
    AccountCase,
    AccountEvent,
    AccountIdentifier,
    AccountSignals,
    DetectionRule,
    RuleFiring,
    SignalReading,
    SignalSnapshot,
)

logger = logging.getLogger(__name__)
SIGNAL_TASK = "accounts.tasks.update_signals"
SWEEP_AFTER = timedelta(seconds=30)
MAX_RING_REFRESH = 200  # accounts re-evaluated because a sign-up joined their device or network
FIRING_COOLDOWN = timedelta(hours=24)  # a rule that keeps matching records one firing a day per account
EVENT_FIELDS = (
    "id", "account_id", "type", "occurred_at", "ip", "device_id", "country", "payment_fingerprint",
    "request_count", "distinct_creators", "window_seconds",
)  # fmt: skip


@dataclass
class _SignalsRow:
    """An ``AccountSignals`` row being updated, as plain values: a model instance each (and an ``Account`` and
    ``Author`` instance beside it) cost ~0.1 ms of Python per account, a third of a worker's time per event."""

    account_id: int
    state: dict
    processed_event_id: int
    pending_since: datetime
    values: dict | None = None


@dataclass
class _AccountRow:
    """What an update reads and writes of an ``Account`` and its author."""

    pk: int
    signed_up_at: datetime | None
    first_event_at: datetime | None
    last_event_at: datetime | None
    created_at: datetime | None  # the author's account_created_at (from the platform)
    source: str


def update_account_signals(*, account_ids: Sequence[int], now: datetime | None = None) -> int:
    """Fold the pending events of ``account_ids`` into their signals and run the rules; returns accounts updated."""
    now = now or timezone.now()
    with transaction.atomic():
        # The state comes back as text and is decoded by orjson: the json module's decoder took 0.48 s of a
        # 7 s profile of 5,000 events (2,615 states of a few kB each).
        rows = [
            _SignalsRow(account_id, orjson.loads(state), processed, pending_since)
            for account_id, state, processed, pending_since in AccountSignals.objects.select_for_update(
                skip_locked=True
            )
            .filter(account_id__in=account_ids, pending_since__isnull=False)
            .order_by("account_id")
            .values_list("account_id", Cast("state", TextField()), "processed_event_id", "pending_since")
        ]
        if not rows:
            return 0
        ids = [row.account_id for row in rows]
        events = _pending_events(rows)
        accounts = {
            values[0]: _AccountRow(*values)
            for values in Account.objects.filter(pk__in=ids).values_list(
                "pk", "signed_up_at", "first_event_at", "last_event_at", "author__account_created_at", "author__source"
            )
        }
        _record_identifiers(events, now)
        _refresh_ring_members(events, ids, now)
        links = _link_counts(ids, now)
        facts = []
        for row in rows:
            mine = events.get(row.account_id, [])
            account = accounts[row.account_id]
            folded = risk_signals.fold(
                row.state, [_facts(e) for e in mine], takeover_minutes=settings.ACCOUNT_TAKEOVER_WINDOW_MINUTES
            )
            row.state = risk_signals.prune(folded, now=now)
            row.values = risk_signals.current_values(
                row.state, now=now, links=links.get(row.account_id), created_at=account.created_at
            )
            row.processed_event_id = max((e["id"] for e in mine), default=row.processed_event_id)
            _note_event_times(account, mine, row.state)
            facts.append(
                detection.AccountFacts(
                    account_id=row.account_id,
                    source=account.source,
                    values=row.values,
                    event_types=frozenset(e["type"] for e in mine),
                    countries=frozenset(e["country"] for e in mine if e["country"]),
                )
            )
        _save(rows, list(accounts.values()), facts, now)
        run_rules(facts, now=now)
    return len(rows)


def _save(
    rows: Sequence[_SignalsRow], accounts: Sequence[_AccountRow], facts: Sequence[detection.AccountFacts], now: datetime
) -> None:
    snapshots = [(f.account_id, dict(f.values), sorted(f.event_types), sorted(f.countries)) for f in facts]
    if connection.vendor == "postgresql":
        fast.save_signals(rows, now)
        fast.save_event_times(accounts, now)
        fast.insert_snapshots(snapshots, now)
        return
    AccountSignals.objects.bulk_update(
        [
            AccountSignals(
                account_id=r.account_id, state=r.state, values=r.values, processed_event_id=r.processed_event_id,
                pending_since=None, updated_at=now,
            )
            for r in rows
        ],
        ["state", "values", "processed_event_id", "pending_since", "updated_at"],
    )  # fmt: skip
    Account.objects.bulk_update(
        [
            Account(pk=a.pk, signed_up_at=a.signed_up_at, first_event_at=a.first_event_at,
                    last_event_at=a.last_event_at, updated_at=now)
            for a in accounts
        ],
        ["signed_up_at", "first_event_at", "last_event_at", "updated_at"],
    )  # fmt: skip
    SignalSnapshot.objects.bulk_create(
        SignalSnapshot(account_id=a, taken_at=now, values=v, event_types=t, countries=c) for a, v, t, c in snapshots
    )
    SignalReading.objects.bulk_create(
        SignalReading(account_id=a, taken_at=now, event_types=t, countries=c, **reading_numbers(v))
        for a, v, t, c in snapshots
    )


def reading_numbers(values: dict) -> dict[str, float | None]:
    """A snapshot's values as ``SignalReading`` columns (every signal; one without a value is NULL)."""
    return {name: None if values.get(name) is None else float(values[name]) for name in risk_signals.SIGNALS}


def _pending_events(rows: Sequence[_SignalsRow]) -> dict[int, list[dict]]:
    # Intake refuses events older than ACCOUNT_EVENT_MAX_AGE_DAYS, so older partitions need not be read.
    oldest = min(row.pending_since for row in rows) - timedelta(days=settings.ACCOUNT_EVENT_MAX_AGE_DAYS, hours=1)
    after = {row.account_id: row.processed_event_id for row in rows}
    found: dict[int, list[dict]] = defaultdict(list)
    query = AccountEvent.objects.filter(
        account_id__in=list(after), id__gt=min(after.values()), occurred_at__gte=oldest
    ).values(*EVENT_FIELDS)
    for event in query:
        if event["id"] > after[event["account_id"]]:
            found[event["account_id"]].append(event)
    return found


def _facts(event: dict) -> risk_signals.EventFacts:
    return risk_signals.EventFacts(
        type=event["type"],
        occurred_at=event["occurred_at"],
        ip=event["ip"],
        device_id=event["device_id"],
        country=event["country"],
        payment_fingerprint=event["payment_fingerprint"],
        request_count=event["request_count"],
        distinct_creators=event["distinct_creators"],
        window_seconds=event["window_seconds"],
    )


def _note_event_times(account: _AccountRow, events: Sequence[dict], state: dict) -> None:
    if not events:
        return
    times = [e["occurred_at"] for e in events]
    account.first_event_at = min([*times, account.first_event_at] if account.first_event_at else times)
    account.last_event_at = max([*times, account.last_event_at] if account.last_event_at else times)
    if account.signed_up_at is None and state.get("signup_at"):
        account.signed_up_at = datetime.fromtimestamp(state["signup_at"], tz=UTC)


def network_of(ip: str) -> str:
    """The /24 of an IPv4 address or the /48 of an IPv6 one: where a batch of sign-ups from one operator lands."""
    if ":" in ip:
        return str(ipaddress.ip_network(f"{ip}/48", strict=False))
    return ip.rsplit(".", 1)[0] + ".0/24"


def _record_identifiers(events: dict[int, list[dict]], now: datetime) -> None:
    seen: dict[tuple[str, str, int], list[datetime]] = {}

    def note(kind: str, value: str | None, account_id: int, at: datetime) -> None:
        if not value:
            return
        times = seen.setdefault((kind, value, account_id), [at, at])
        times[0], times[1] = min(times[0], at), max(times[1], at)

    for account_id, mine in events.items():
        for e in mine:
            at = e["occurred_at"]
            note(AccountIdentifier.Kind.DEVICE, e["device_id"], account_id, at)
            note(AccountIdentifier.Kind.PAYMENT, e["payment_fingerprint"], account_id, at)
            note(AccountIdentifier.Kind.IP, e["ip"], account_id, at)
            if e["type"] == AccountEvent.Type.SIGNUP:
                note(AccountIdentifier.Kind.SIGNUP_DEVICE, e["device_id"], account_id, at)
                note(AccountIdentifier.Kind.SIGNUP_NETWORK, e["ip"] and network_of(e["ip"]), account_id, at)
    if not seen:
        return
    rows = [(k, v, a, t[0], t[1]) for (k, v, a), t in sorted(seen.items())]  # sorted: one lock order for all
    if connection.vendor == "postgresql":
        fast.upsert_identifiers(rows)
        return
    AccountIdentifier.objects.bulk_create(
        [
            AccountIdentifier(kind=k, value=v, account_id=a, first_seen_at=f, last_seen_at=last)
            for k, v, a, f, last in rows
        ],
        update_conflicts=True,
        unique_fields=["kind", "value", "account"],
        update_fields=["last_seen_at"],
    )


def _refresh_ring_members(events: dict[int, list[dict]], batch: Sequence[int], now: datetime) -> None:
    """A sign-up raises the sign-up counts of the accounts that signed up on its device or network before it:
    mark those pending, so their signals (and rules) see the ring grow, not only the newest member's."""
    devices, networks = set(), set()
    for mine in events.values():
        for e in mine:
            if e["type"] == AccountEvent.Type.SIGNUP and e["device_id"]:
                devices.add(e["device_id"])
            if e["type"] == AccountEvent.Type.SIGNUP and e["ip"]:
                networks.add(network_of(e["ip"]))
    if not devices and not networks:
        return
    linked = AccountIdentifier.objects.filter(
        Q(kind=AccountIdentifier.Kind.SIGNUP_DEVICE, value__in=devices)
        | Q(kind=AccountIdentifier.Kind.SIGNUP_NETWORK, value__in=networks, first_seen_at__gt=now - timedelta(days=1))
    ).exclude(account_id__in=batch)
    ids = list(linked.values_list("account_id", flat=True).distinct()[:MAX_RING_REFRESH])
    # SKIP LOCKED: a row another worker holds is being updated now; waiting for it could deadlock with that
    # worker doing the same for our rows.
    free = list(
        AccountSignals.objects.select_for_update(skip_locked=True)
        .filter(account_id__in=ids, pending_since__isnull=True)
        .values_list("account_id", flat=True)
    )
    if free:
        AccountSignals.objects.filter(account_id__in=free).update(pending_since=now)
        transaction.on_commit(lambda: send_updates(free), robust=True)


def _link_counts(account_ids: Sequence[int], now: datetime) -> dict[int, dict[str, int]]:
    """For each account: other accounts sharing its device ids, payment fingerprints and IPs (seen in the last
    7 days), and the sign-ups from its sign-up device and network; one query for the whole batch."""
    table = AccountIdentifier._meta.db_table
    placeholders = ", ".join(["%s"] * len(account_ids))
    week, day = now - timedelta(days=7), now - timedelta(days=1)
    sql = f"""
        SELECT mine.account_id, mine.kind, COUNT(DISTINCT other.account_id)
        FROM {table} mine JOIN {table} other ON other.kind = mine.kind AND other.value = mine.value
        WHERE mine.account_id IN ({placeholders})
          AND ((mine.kind IN ('device', 'payment', 'ip') AND mine.last_seen_at > %s
                AND other.account_id <> mine.account_id AND other.last_seen_at > %s)
            OR mine.kind = 'signup_device'
            OR (mine.kind = 'signup_network' AND other.first_seen_at > %s))
        GROUP BY mine.account_id, mine.kind
    """
    names = {
        "device": "accounts_sharing_device",
        "payment": "accounts_sharing_payment",
        "ip": "accounts_sharing_ip",
        "signup_device": "signups_on_device",
        "signup_network": "signups_in_network_24h",
    }
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*account_ids, week, week, day])
        for account_id, kind, n in cursor.fetchall():
            counts[account_id][names[kind]] = n
    return counts


def active_rules() -> list[detection.Rule]:
    return [
        detection.Rule(
            id=rule.pk,
            conditions=rule.conditions,
            case_type=rule.case_type,
            severity=rule.severity,
            shadow=rule.mode == DetectionRule.Mode.SHADOW,
            queue_id=rule.queue_id,
            action=rule.action,
            action_duration=rule.action_duration,
            review_share=rule.review_share,
        )
        for rule in DetectionRule.objects.exclude(mode=DetectionRule.Mode.OFF)
    ]


def run_rules(facts: Iterable[detection.AccountFacts], *, now: datetime) -> list[RuleFiring]:
    """Record the firings of every rule on these accounts and open the cases active rules call for."""
    rules = active_rules()
    facts = list(facts)
    if not rules or not facts:
        return []
    recent = set(
        RuleFiring.objects.filter(
            account_id__in=[f.account_id for f in facts], fired_at__gt=now - FIRING_COOLDOWN
        ).values_list("rule_id", "account_id")
    )
    recorded = []
    for account in facts:
        matched = [f for f in detection.firings(account, rules) if (f.rule.id, account.account_id) not in recent]
        for firing in matched:
            case = None
            rule = firing.rule
            if not rule.shadow and detection.sampled_for_review(rule, account.account_id):
                case = _open_case(rule, account.account_id, now)
            if not rule.shadow and rule.action:
                try:
                    # Linked to the sampled case: a reviewer who finds no violation there reverses it.
                    take_action(
                        account=Account(pk=account.account_id), kind=rule.action, actor=None,
                        duration=rule.action_duration, note=f"Detection rule {rule.id} fired.", case=case,
                        automatic=True,
                    )  # fmt: skip
                except InvalidAction as exc:
                    # A rule saved around the admin's checks (a suspension without a duration) must not stop
                    # every account's signal updates: it opens a case instead, for a human to act on.
                    logger.error("detection rule %s could not act on account %s: %s", rule.id, account.account_id, exc)
                    case = case or _open_case(rule, account.account_id, now)
            recorded.append(
                RuleFiring(
                    rule_id=firing.rule.id,
                    account_id=account.account_id,
                    case=case,
                    shadow=firing.rule.shadow,
                    values=firing.values,
                    fired_at=now,
                )
            )
    return RuleFiring.objects.bulk_create(recorded)


def _open_case(rule: detection.Rule, account_id: int, now: datetime) -> AccountCase:
    return cases.open_case(
        account_id=account_id,
        case_type=rule.case_type,
        severity=rule.severity,
        rule_id=rule.id,
        queue_id=rule.queue_id,
        now=now,
    )


def sweep_pending_signals(*, older_than: timedelta = SWEEP_AFTER, limit: int = 10_000) -> int:
    """Re-send updates for accounts pending longer than ``older_than`` (a lost message, a killed worker)."""
    ids = list(
        AccountSignals.objects.filter(pending_since__lt=timezone.now() - older_than)
        .order_by("pending_since")
        .values_list("account_id", flat=True)[:limit]
    )
    send_updates(ids)
    return len(ids)


def send_updates(account_ids: Sequence[int]) -> None:
    """Ask workers to update these accounts (by task name: services never import tasks)."""
    chunk = settings.ACCOUNT_SIGNAL_TASK_BATCH
    for start in range(0, len(account_ids), chunk):
        current_app.send_task(SIGNAL_TASK, args=[list(account_ids[start : start + chunk])])
