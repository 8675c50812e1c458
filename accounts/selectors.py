"""What the case view shows: the account at a glance, why it is here, its timeline and its linked accounts."""

from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import (
    Account,
    AccountAction,
    AccountCase,
    AccountEvent,
    AccountIdentifier,
    DetectionRule,
    RuleFiring,
)
from accounts.risk_signals import SIGNALS
from intake.models import Item
from queues.membership import queues_for
from queues.models import Decision, Queue

TIMELINE_LIMIT = 100
LINKED_LIMIT = 50
LINK_KINDS = (AccountIdentifier.Kind.DEVICE, AccountIdentifier.Kind.PAYMENT, AccountIdentifier.Kind.IP)


@dataclass
class LinkedAccount:
    account: Account
    shared: list[tuple[str, str]] = field(default_factory=list)  # (kind label, value)
    open_cases: int = 0


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    kind: str  # event | action | item | decision
    text: str
    detail: str = ""


def account_queue_ids() -> set[int]:
    """Queues that hold account cases (not content): those detection rules open cases in, those with open case
    entries, and the strike and appeal queues named in the settings."""
    named = Queue.objects.filter(slug__in=[settings.ACCOUNT_STRIKE_QUEUE, settings.ACCOUNT_APPEALS_QUEUE])
    return (
        set(DetectionRule.objects.exclude(queue=None).values_list("queue_id", flat=True))
        | set(
            AccountCase.objects.filter(status=AccountCase.Status.OPEN)
            .exclude(queue=None)
            .order_by()
            .values_list("queue_id", flat=True)
            .distinct()  # one row per queue, not per open case: the home page reads it on every view
        )
        | set(named.values_list("pk", flat=True))
    )


def account_summary(account: Account) -> dict:
    """Age, state, strikes and open cases."""
    born = account.signed_up_at or account.author.account_created_at
    return {
        "account": account,
        "author": account.author,
        "age_days": (timezone.now() - born).days if born else None,
        "open_cases": account.cases.filter(status=AccountCase.Status.OPEN).count(),
    }


def why_here(case: AccountCase) -> list[RuleFiring]:
    """The firings of the case, each with the rule and the values that made it fire."""
    return list(case.firings.select_related("rule").order_by("fired_at"))


def signal_rows(account: Account, *, first: list[str] = ()) -> list[tuple[str, object, str]]:
    """``(name, value, description)`` of every signal, those named in ``first`` (the firing rules') first."""
    values = getattr(account, "signals", None)
    current = values.values if values else {}
    names = [*first, *(name for name in SIGNALS if name not in first)]
    return [(name, current.get(name), SIGNALS[name]) for name in names if name in SIGNALS]


def timeline(account: Account, *, limit: int = TIMELINE_LIMIT) -> list[TimelineRow]:
    """Events, actions, content and decisions on that content, newest first."""
    events = (
        TimelineRow(e.occurred_at, "event", e.get_type_display(), _event_detail(e))
        for e in AccountEvent.objects.filter(account=account).order_by("-occurred_at")[:limit]
    )
    actions = (
        TimelineRow(a.created_at, "action", a.get_kind_display(), f"{a.state_before} → {a.state_after} {a.note}")
        for a in AccountAction.objects.filter(account=account).order_by("-created_at")[:limit]
    )
    items = (
        TimelineRow(i.created_at, "item", f"Content {i.source}:{i.external_id}", f"{i.state}, {i.report_count} reports")
        for i in Item.objects.filter(author_id=account.pk).order_by("-created_at")[:limit]
    )
    decisions = (
        TimelineRow(d.created_at, "decision", d.get_action_display(), f"on item {d.item_id}")
        for d in Decision.objects.filter(item__author_id=account.pk).order_by("-created_at")[:limit]
    )
    return sorted(chain(events, actions, items, decisions), key=lambda row: row.at, reverse=True)[:limit]


def _event_detail(event: AccountEvent) -> str:
    parts = [
        f"ip {event.ip}" if event.ip else "",
        f"device {event.device_id}" if event.device_id else "",
        event.country,
        f"card {event.payment_fingerprint[:12]}…" if event.payment_fingerprint else "",
        f"{event.amount} {event.currency}" if event.amount is not None else "",
        event.outcome,
        f"{event.request_count} requests, {event.distinct_creators} creators"
        if event.request_count is not None
        else "",
    ]
    return " · ".join(part for part in parts if part)


def linked_accounts(account: Account, *, limit: int = LINKED_LIMIT) -> list[LinkedAccount]:
    """Accounts sharing a device id, payment fingerprint or IP with ``account``, most shared first.

    The database ranks them (a count per account over the identifiers equal to one of this account's, on the
    index ``account_identifier_unique``), so an IP shared by a thousand accounts behind a carrier NAT costs
    one grouped scan of a thousand index entries, not a thousand model rows; only the ``limit`` linked
    accounts shown are then loaded, with their open cases and what they share. Three queries whatever the
    ring's size (each round trip counts in the case view). Ties go to the older account (lower id).
    """
    own = AccountIdentifier.objects.filter(account=account, kind=OuterRef("kind"), value=OuterRef("value"))
    matching = AccountIdentifier.objects.filter(Exists(own), kind__in=LINK_KINDS).exclude(account_id=account.pk)
    ranked_ids = list(
        matching.values("account_id")
        .annotate(n=Count("id"))
        .order_by("-n", "account_id")
        .values_list("account_id", flat=True)[:limit]
    )
    if not ranked_ids:
        return []
    accounts = (
        Account.objects.select_related("author")
        .annotate(open_case_count=Count("cases", filter=Q(cases__status=AccountCase.Status.OPEN)))
        .in_bulk(ranked_ids)
    )
    found = {pk: LinkedAccount(accounts[pk], open_cases=accounts[pk].open_case_count) for pk in ranked_ids}
    labels = dict(AccountIdentifier.Kind.choices)
    shared = matching.filter(account_id__in=ranked_ids).order_by("kind", "value")
    for account_id, kind, value in shared.values_list("account_id", "kind", "value"):
        found[account_id].shared.append((labels[kind], value))
    return list(found.values())


SEARCH_LIMIT = 50


def search_cases(user, query: str, *, limit: int = SEARCH_LIMIT) -> list[AccountCase]:  # noqa: ANN001 - a user
    """Cases in ``user``'s queues whose account matches ``query``: its handle, external id, or a device id, IP or
    payment fingerprint it was seen with (exact, except handles, which match on a part). Newest first."""
    query = query.strip()
    if not query:
        return []
    by_identifier = AccountIdentifier.objects.filter(kind__in=LINK_KINDS, value=query).values("account_id")
    matches = (
        Q(account__author__external_id=query)
        | Q(account__author__handle__icontains=query)
        | Q(account_id__in=by_identifier)
    )
    return list(
        AccountCase.objects.filter(matches, queue__in=queues_for(user))
        .select_related("account__author", "queue")
        .order_by("-opened_at")[:limit]
    )
