"""What the case view shows: the account at a glance, why it is here, its timeline and its linked accounts."""

from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
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


def _open_cases_of(account: OuterRef) -> Coalesce:
    """The open cases of the outer row's ``account``, as a subquery (an index lookup per row)."""
    open_cases = (
        AccountCase.objects.filter(account_id=account, status=AccountCase.Status.OPEN)
        .order_by()
        .values("account_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(open_cases), 0)


def cases_for_viewer(user) -> QuerySet[AccountCase]:  # noqa: ANN001 - a user
    """Account cases with, in the same query, all the case view reads of the case and its account.

    Each case comes with its account, author, signals, queue, rule and entry joined, and two annotations:
    ``viewer_is_member`` (``user`` belongs to the case's queue; the caller decides what a case in no queue
    needs) and ``account_open_cases`` (the account's open cases, for ``account_summary``). One round trip
    instead of four (case, membership, signals, open cases): under load each round trip costs more than the
    query it runs. Not the model versions: two more joins took PostgreSQL's planner from ~2 ms to ~16 ms
    (bench/RESULTS.md), and a case shows them only when a risk model scored it.
    """
    return AccountCase.objects.select_related("account__author", "account__signals", "queue", "rule", "entry").annotate(
        viewer_is_member=Exists(queues_for(user).filter(pk=OuterRef("queue_id"))),
        account_open_cases=_open_cases_of(OuterRef("account_id")),
    )


def account_summary(account: Account, *, open_cases: int | None = None) -> dict:
    """Age, state, strikes and open cases (counted unless the caller read ``open_cases`` already)."""
    born = account.signed_up_at or account.author.account_created_at
    if open_cases is None:
        open_cases = account.cases.filter(status=AccountCase.Status.OPEN).count()
    return {
        "account": account,
        "author": account.author,
        "age_days": (timezone.now() - born).days if born else None,
        "open_cases": open_cases,
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
    items = [
        TimelineRow(i.created_at, "item", f"Content {i.source}:{i.external_id}", f"{i.state}, {i.report_count} reports")
        for i in Item.objects.filter(author_id=account.pk).order_by("-created_at")[:limit]
    ]
    # Decisions are on the account's content: no content, no decisions, and one round trip saved (most accounts).
    decisions = (
        TimelineRow(d.created_at, "decision", d.get_action_display(), f"on item {d.item_id}")
        for d in (Decision.objects.filter(item__author_id=account.pk).order_by("-created_at")[:limit] if items else [])
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


# What the accounts sharing an identifier with account %(account)s share, the ``%(limit)s`` that share most first
# (ties: the lower id). ``matching`` is read once for the ranking and the rows: a carrier NAT's IP is a grouped
# scan of a thousand entries of the index ``account_identifier_unique``. Raw SQL (standard: PostgreSQL and
# SQLite), because compiling the same statement through the ORM (two EXISTS in a ranked IN subquery) cost
# more Python time than the database took to run it (bench/RESULTS.md).
_LINKED_SQL = """
WITH own AS (
    SELECT kind, value FROM {identifier} WHERE account_id = %(account)s AND kind IN ({kinds})
), matching AS (
    SELECT other.account_id, other.kind, other.value
    FROM {identifier} other JOIN own ON other.kind = own.kind AND other.value = own.value
    WHERE other.account_id <> %(account)s
), ranked AS (
    SELECT account_id, COUNT(*) AS shared FROM matching
    GROUP BY account_id ORDER BY shared DESC, account_id LIMIT %(limit)s
)
SELECT matching.account_id, matching.kind, matching.value
FROM matching JOIN ranked ON ranked.account_id = matching.account_id
ORDER BY ranked.shared DESC, matching.account_id, matching.kind, matching.value
"""


def linked_accounts(account: Account, *, limit: int = LINKED_LIMIT) -> list[LinkedAccount]:
    """Accounts sharing a device id, payment fingerprint or IP with ``account``, most shared first.

    Two queries whatever the ring's size (each round trip counts in the case view): what the ``limit``
    accounts that share most share (``_LINKED_SQL``), then those accounts with their authors and open cases.
    """
    kinds = {f"kind_{n}": kind for n, kind in enumerate(LINK_KINDS)}
    sql = _LINKED_SQL.format(
        identifier=AccountIdentifier._meta.db_table, kinds=", ".join(f"%({name})s" for name in kinds)
    )
    labels = dict(AccountIdentifier.Kind.choices)
    shared: dict[int, list[tuple[str, str]]] = {}  # in rank order
    with connection.cursor() as cursor:
        cursor.execute(sql, {"account": account.pk, "limit": limit, **kinds})
        for account_id, kind, value in cursor.fetchall():
            shared.setdefault(account_id, []).append((labels[kind], value))
    if not shared:
        return []
    accounts = (
        Account.objects.select_related("author")
        .annotate(open_case_count=_open_cases_of(OuterRef("pk")))
        .in_bulk(list(shared))
    )
    return [
        LinkedAccount(accounts[pk], shared=rows, open_cases=accounts[pk].open_case_count) for pk, rows in shared.items()
    ]


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
