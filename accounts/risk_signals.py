"""Per-account signals as pure functions: fold new events into a small state, read windowed values from it.

Nothing here touches the database. ``fold`` takes the state saved after the last update and only the
events since, so an update costs what the new events cost, never a rescan of the account's history.

The state (a JSON object):
- ``b5`` and ``b60``: per counter, event counts in 5-minute buckets (kept 25 hours) and hourly buckets
  (kept 7 days), keyed by the bucket's start in epoch seconds. The 1-hour and 24-hour windows are summed
  from 5-minute buckets, the 7-day window from hourly ones: a window edge is exact to its bucket.
- ``seen``: per kind of value (ip, device, country, payment), each value's first and last time seen,
  kept 7 days and at most ``MAX_VALUES`` values (the least recent go first): distinct counts per window.
- ``new_device_logins``: times of successful logins from a device the account had not used before.
- ``takeovers``: times of sensitive changes made within ``takeover_minutes`` of such a login, and the
  gap of the latest one.
- ``traffic``: the recent traffic summaries, as (time, requests a minute, creators viewed).

Link signals (accounts sharing a device, a payment fingerprint or an IP; sign-ups per device and
network) need other accounts' rows; ``accounts.signal_updates`` computes them and passes them to
``current_values``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

HOUR = 3600
DAY = 24 * HOUR
WEEK = 7 * DAY
WINDOWS = {"1h": HOUR, "24h": DAY, "7d": WEEK}
MAX_VALUES = 200
MAX_TIMES = 100
SENSITIVE_CHANGES = frozenset({"email_changed", "payout_changed", "two_factor_changed", "password_reset"})
COUNTED = {
    "login_failed": "failed_logins",
    "payment_failed": "payments_failed",
    "payment_charged_back": "chargebacks",
    "payment_succeeded": "payments_succeeded",
    "signup": "signups",
}

SIGNALS: dict[str, str] = {}
for _counter, _words in [
    ("failed_logins", "failed logins"),
    ("payments_failed", "failed payments"),
    ("chargebacks", "payments charged back"),
]:
    for _window in WINDOWS:
        SIGNALS[f"{_counter}_{_window}"] = f"Number of {_words} in the last {_window}."
for _kind, _words in [("ips", "IP addresses"), ("devices", "device ids"), ("countries", "countries")]:
    for _window in WINDOWS:
        SIGNALS[f"distinct_{_kind}_{_window}"] = f"Different {_words} the account used in the last {_window}."
SIGNALS.update(
    {
        "distinct_payment_fingerprints_24h": "Different payment instruments tried in the last 24h (card testing).",
        "payments_succeeded_7d": "Successful payments in the last 7d.",
        "new_device_sensitive_changes_7d": (
            "Times in the last 7d that the e-mail, payout address, two-factor settings or password changed soon "
            "after a login from a device the account had never used (ACCOUNT_TAKEOVER_WINDOW_MINUTES)."
        ),
        "minutes_new_device_to_sensitive_change": (
            "Minutes between the new-device login and the sensitive change, for the latest such change."
        ),
        "account_age_days": "Days since sign-up (or since the platform says the account was created).",
        "account_age_days_at_first_payout_change": "How old the account was when its payout address first changed.",
        "signups_on_device": "Accounts that signed up from the device this account signed up from (itself included).",
        "signups_in_network_24h": (
            "Accounts that signed up in the last 24h from the same network (/24 for IPv4, /48 for IPv6) as this one."
        ),
        "accounts_sharing_device": "Other accounts seen with one of this account's device ids.",
        "accounts_sharing_payment": "Other accounts seen with one of this account's payment fingerprints.",
        "accounts_sharing_ip": "Other accounts seen from one of this account's IP addresses.",
        "requests_per_minute_peak_24h": "The highest request rate of a traffic summary in the last 24h, per minute.",
        "creators_viewed_24h": "Distinct creators' pages viewed in the last 24h, summed over traffic summaries.",
    }
)
LINK_SIGNALS = (
    "signups_on_device",
    "signups_in_network_24h",
    "accounts_sharing_device",
    "accounts_sharing_payment",
    "accounts_sharing_ip",
)


@dataclass(frozen=True)
class EventFacts:
    """What folding needs of an event (a plain copy of the row's fields)."""

    type: str
    occurred_at: datetime
    ip: str | None = None
    device_id: str = ""
    country: str = ""
    payment_fingerprint: str = ""
    request_count: int | None = None
    distinct_creators: int | None = None
    window_seconds: int | None = None


def fold(state: Mapping, events: Iterable[EventFacts], *, takeover_minutes: int) -> dict:
    """The state after ``events`` (taken in time order), from the state before them. Pure; returns a new dict."""
    new = {
        "b5": {k: dict(v) for k, v in state.get("b5", {}).items()},
        "b60": {k: dict(v) for k, v in state.get("b60", {}).items()},
        "seen": {k: {value: list(times) for value, times in v.items()} for k, v in state.get("seen", {}).items()},
        "new_device_logins": list(state.get("new_device_logins", [])),
        "takeovers": list(state.get("takeovers", [])),
        "takeover_gap_minutes": state.get("takeover_gap_minutes"),
        "traffic": [list(row) for row in state.get("traffic", [])],
        "signup_at": state.get("signup_at"),
        "first_payout_change_at": state.get("first_payout_change_at"),
        "events": state.get("events", 0),
    }
    for event in sorted(events, key=lambda e: e.occurred_at):
        _fold_one(new, event, takeover_minutes * 60)
    return new


def _fold_one(state: dict, event: EventFacts, takeover_seconds: int) -> None:
    t = int(event.occurred_at.timestamp())
    counter = COUNTED.get(event.type)
    if counter:
        _bump(state["b5"], counter, t - t % 300)
        _bump(state["b60"], counter, t - t % HOUR)
    seen = state["seen"]
    device_is_new = bool(event.device_id) and event.device_id not in seen.get("device", {}) and state["events"] > 0
    for kind, value in (
        ("ip", event.ip),
        ("device", event.device_id),
        ("country", event.country),
        ("payment", event.payment_fingerprint),
    ):
        if value:
            times = seen.setdefault(kind, {}).setdefault(value, [t, t])
            times[0], times[1] = min(times[0], t), max(times[1], t)
    if event.type == "signup" and state["signup_at"] is None:
        state["signup_at"] = t
    if event.type == "login_succeeded" and device_is_new:
        state["new_device_logins"].append(t)
    if event.type in SENSITIVE_CHANGES:
        recent = [login for login in state["new_device_logins"] if 0 <= t - login <= takeover_seconds]
        if recent:
            state["takeovers"].append(t)
            state["takeover_gap_minutes"] = round((t - max(recent)) / 60, 1)
    if event.type == "payout_changed" and state["first_payout_change_at"] is None:
        state["first_payout_change_at"] = t
    if event.type == "traffic_summary" and event.request_count is not None and event.window_seconds:
        rate = event.request_count * 60 / event.window_seconds
        state["traffic"].append([t, round(rate, 2), event.distinct_creators or 0])
    state["events"] += 1


def _bump(buckets: dict, counter: str, start: int) -> None:
    key = str(start)
    per = buckets.setdefault(counter, {})
    per[key] = per.get(key, 0) + 1


def prune(state: dict, *, now: datetime) -> dict:
    """Drop what no window can see any more; keeps the state small whatever the account's history."""
    t = int(now.timestamp())
    for name, keep in (("b5", DAY + HOUR), ("b60", WEEK)):
        for counter, per in list(state[name].items()):
            state[name][counter] = {k: n for k, n in per.items() if int(k) > t - keep}
    for kind, values in state["seen"].items():
        recent = sorted(((times[1], value) for value, times in values.items() if times[1] > t - WEEK), reverse=True)
        state["seen"][kind] = {value: values[value] for _, value in recent[:MAX_VALUES]}
    for name in ("new_device_logins", "takeovers"):
        state[name] = [x for x in state[name] if x > t - WEEK][-MAX_TIMES:]
    state["traffic"] = [row for row in state["traffic"] if row[0] > t - DAY][-MAX_TIMES:]
    return state


def current_values(
    state: Mapping, *, now: datetime, links: Mapping[str, int] | None = None, created_at: datetime | None = None
) -> dict[str, float | int | None]:
    """Every signal's value at ``now`` (the names and meanings are ``SIGNALS``)."""
    t = int(now.timestamp())
    values: dict[str, float | int | None] = {}
    for counter in ("failed_logins", "payments_failed", "chargebacks"):
        for window, seconds in WINDOWS.items():
            values[f"{counter}_{window}"] = _count(state, counter, t, seconds)
    values["payments_succeeded_7d"] = _count(state, "payments_succeeded", t, WEEK)
    seen = state.get("seen", {})
    for kind, name in (("ip", "ips"), ("device", "devices"), ("country", "countries")):
        for window, seconds in WINDOWS.items():
            values[f"distinct_{name}_{window}"] = sum(
                1 for times in seen.get(kind, {}).values() if times[1] > t - seconds
            )
    values["distinct_payment_fingerprints_24h"] = sum(
        1 for times in seen.get("payment", {}).values() if times[1] > t - DAY
    )
    values["new_device_sensitive_changes_7d"] = sum(1 for x in state.get("takeovers", []) if x > t - WEEK)
    values["minutes_new_device_to_sensitive_change"] = state.get("takeover_gap_minutes")
    born = state.get("signup_at") or (int(created_at.timestamp()) if created_at else None)
    values["account_age_days"] = round((t - born) / DAY, 2) if born is not None else None
    payout = state.get("first_payout_change_at")
    values["account_age_days_at_first_payout_change"] = (
        round((payout - born) / DAY, 2) if payout is not None and born is not None else None
    )
    traffic = [row for row in state.get("traffic", []) if row[0] > t - DAY]
    values["requests_per_minute_peak_24h"] = max((row[1] for row in traffic), default=0)
    values["creators_viewed_24h"] = sum(row[2] for row in traffic)
    for name in LINK_SIGNALS:
        values[name] = (links or {}).get(name, 0)
    return values


def _count(state: Mapping, counter: str, t: int, seconds: int) -> int:
    # Windows up to a day are summed from 5-minute buckets, longer ones from hourly buckets.
    buckets = state.get("b5" if seconds <= DAY else "b60", {}).get(counter, {})
    return sum(n for start, n in buckets.items() if int(start) > t - seconds)
