"""What the case view shows: the account at a glance, why it is here, its timeline and its linked accounts."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import raw_rows
from accounts.models import (
    Account,
    AccountAction,
    AccountCase,
    AccountEvent,
    AccountIdentifier,
    AccountSignals,
    DetectionRule,
    RuleFiring,
)
from accounts.risk_signals import SIGNALS
from api.prepared import fetch_together, prepared_cursor
from intake.models import Author, Item
from queues.membership import is_member_sql, queues_for
from queues.models import Decision, Queue, QueueEntry

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

    @property
    def when(self) -> str:
        """``at`` as the template's ``date:"Y-m-d H:i:s"`` shows it, at a tenth of the filter's cost (up to 100
        rows a page; bench/RESULTS-casefast2.md)."""
        return timezone.localtime(self.at).strftime("%Y-%m-%d %H:%M:%S")


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


@cache
def _case_statement() -> tuple[str, list[raw_rows.Reader]]:
    """The case view's case query and the readers of its columns, in order (built once per process)."""
    readers = [
        raw_rows.Reader(AccountCase),
        raw_rows.Reader(Account),
        raw_rows.Reader(Author),
        # Not ``state`` (the time buckets the worker counts windows from): the view shows only the values.
        raw_rows.Reader(AccountSignals, only=("account_id", "values")),
        raw_rows.Reader(Queue),
        raw_rows.Reader(QueueEntry),
    ]
    aliases = ["c", "a", "au", "s", "q", "e"]
    columns = ", ".join(reader.select_list(alias) for reader, alias in zip(readers, aliases, strict=True))
    sql = f"""
SELECT {columns},
    CASE WHEN {is_member_sql("c.queue_id", "%(user)s")} THEN 1 ELSE 0 END,
    (SELECT COUNT(*) FROM {AccountCase._meta.db_table} o WHERE o.account_id = c.account_id AND o.status = 'open')
FROM {AccountCase._meta.db_table} c
JOIN {Account._meta.db_table} a ON a.author_id = c.account_id
JOIN {Author._meta.db_table} au ON au.id = a.author_id
LEFT JOIN {AccountSignals._meta.db_table} s ON s.account_id = c.account_id
LEFT JOIN {Queue._meta.db_table} q ON q.id = c.queue_id
LEFT JOIN {QueueEntry._meta.db_table} e ON e.id = c.entry_id
WHERE c.id = %(case)s"""
    return sql, readers


def case_for_viewer(user, case_id: int) -> AccountCase | None:  # noqa: ANN001 - a user
    """The case ``case_id`` with, from the same statement, all the case view reads of it and its account.

    It comes with its account, author, signal values, queue and entry, and two attributes: ``viewer_is_member``
    (``user`` belongs to the case's queue, by ``queues_for``'s definition; the caller decides what a case in no
    queue needs) and ``account_open_cases`` (the account's open cases, for ``account_summary``). One round trip
    instead of four (case, membership, signals, open cases), written as SQL and run prepared: through the ORM,
    compiling it (seven joins, two subqueries) cost more than PostgreSQL took to run it (bench/RESULTS.md).
    Not the model versions: they are read lazily, as a case shows them only when a risk model scored it.
    """
    sql, readers = _case_statement()
    with prepared_cursor() as cursor:
        cursor.execute(sql, {"user": user.pk, "case": case_id})
        row = cursor.fetchone()
    if row is None:
        return None
    built, start = [], 0
    for reader in readers:
        values = row[start : start + len(reader)]
        start += len(reader)
        # A LEFT JOIN that found nothing (no signals yet, no queue, no entry) leaves its key NULL.
        built.append(None if values[0] is None else reader.instance(values))
    case, account, author, signals, queue, entry = built
    # Into the relations' caches, as select_related puts them (a missing one cached as None, not looked up again).
    for owner, relation, value in (
        (account, Account._meta.get_field("author"), author),
        (account, Account._meta.get_field("signals"), signals),
        (case, AccountCase._meta.get_field("account"), account),
        (case, AccountCase._meta.get_field("queue"), queue),
        (case, AccountCase._meta.get_field("entry"), entry),
    ):
        relation.set_cached_value(owner, value)
    case.viewer_is_member = bool(row[start])
    case.account_open_cases = row[start + 1]
    return case


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


@cache
def _firings_statement() -> tuple[str, raw_rows.Reader, raw_rows.Reader]:
    firings, rules = raw_rows.Reader(RuleFiring), raw_rows.Reader(DetectionRule)
    sql = (
        f"SELECT {firings.select_list('f')}, {rules.select_list('r')} FROM {RuleFiring._meta.db_table} f"
        f" JOIN {DetectionRule._meta.db_table} r ON r.id = f.rule_id WHERE f.case_id = %(case)s ORDER BY f.fired_at"
    )
    return sql, firings, rules


def why_here(case: AccountCase) -> list[RuleFiring]:
    """The firings of the case, each with the rule and the values that made it fire (a fixed statement, run
    prepared, like the case's)."""
    return _firings_from(fetch_together([_firings_query(case)])[0])


def _firings_query(case: AccountCase) -> tuple[str, dict]:
    return _firings_statement()[0], {"case": case.pk}


def _firings_from(rows: list[tuple]) -> list[RuleFiring]:
    _, firings, rules = _firings_statement()
    found, split = [], len(firings)
    for row in rows:
        firing = firings.instance(row[:split])
        RuleFiring._meta.get_field("rule").set_cached_value(firing, rules.instance(row[split:]))
        found.append(firing)
    return found


def signal_rows(account: Account, *, first: list[str] = ()) -> list[tuple[str, object, str]]:
    """``(name, value, description)`` of every signal, those named in ``first`` (the firing rules') first."""
    values = getattr(account, "signals", None)
    current = values.values if values else {}
    names = [*first, *(name for name in SIGNALS if name not in first)]
    return [(name, current.get(name), SIGNALS[name]) for name in names if name in SIGNALS]


# The timeline's four sources, newest first, in one statement (one round trip, run prepared). Each source is
# cut at ``limit`` in its own subquery (its index, read backward), so the union sorts at most 4 x ``limit`` rows;
# SQLite takes ORDER BY and LIMIT only in a subquery of a compound statement, PostgreSQL in either. Columns:
# at, kind, then t1..t6 (text), ip, amount, n1, n2, each source filling those it has. The NULLs stand at the
# outer level of each part, where PostgreSQL gives them the type of the events' column. Decisions are on the
# account's content (``item.author``), when it has any.
_TIMELINE_SQL = """
SELECT ev.occurred_at, 'event', ev.type, ev.device_id, ev.country, ev.payment_fingerprint, ev.currency, ev.outcome,
       ev.ip, ev.amount, ev.request_count, ev.distinct_creators
FROM (SELECT occurred_at, type, device_id, country, payment_fingerprint, currency, outcome, ip, amount,
             request_count, distinct_creators
      FROM {event} WHERE account_id = %(account)s ORDER BY occurred_at DESC LIMIT %(limit)s) ev
UNION ALL
SELECT ac.created_at, 'action', ac.kind, ac.state_before, ac.state_after, ac.note, NULL, NULL, NULL, NULL, NULL, NULL
FROM (SELECT created_at, kind, state_before, state_after, note
      FROM {action} WHERE account_id = %(account)s ORDER BY created_at DESC, id DESC LIMIT %(limit)s) ac
UNION ALL
SELECT it.created_at, 'item', it.source, it.external_id, it.state, NULL, NULL, NULL, NULL, NULL, it.report_count, NULL
FROM (SELECT created_at, source, external_id, state, report_count
      FROM {item} WHERE author_id = %(account)s ORDER BY created_at DESC LIMIT %(limit)s) it
UNION ALL
SELECT de.created_at, 'decision', de.action, NULL, NULL, NULL, NULL, NULL, NULL, NULL, de.item_id, NULL
FROM (SELECT d.created_at, d.action, d.item_id
      FROM {decision} d JOIN {item} i ON i.id = d.item_id
      WHERE i.author_id = %(account)s ORDER BY d.created_at DESC LIMIT %(limit)s) de
ORDER BY 1 DESC
LIMIT %(limit)s
"""


@cache
def _timeline_sql() -> str:
    return _TIMELINE_SQL.format(
        event=AccountEvent._meta.db_table,
        action=AccountAction._meta.db_table,
        item=Item._meta.db_table,
        decision=Decision._meta.db_table,
    )


_AMOUNT_PLACES = AccountEvent._meta.get_field("amount").decimal_places
_EVENT_LABELS = dict(AccountEvent.Type.choices)
_ACTION_LABELS = dict(AccountAction.Kind.choices)
_DECISION_LABELS = dict(Decision.Action.choices)


def timeline(account: Account, *, limit: int = TIMELINE_LIMIT) -> list[TimelineRow]:
    """Events, actions, content and decisions on that content, newest first (``limit`` rows in all)."""
    return [_timeline_row(*row) for row in fetch_together([_timeline_query(account, limit)])[0]]


def _timeline_query(account: Account, limit: int = TIMELINE_LIMIT) -> tuple[str, dict]:
    return _timeline_sql(), {"account": account.pk, "limit": limit}


def _timeline_row(at, kind, t1, t2, t3, t4, t5, t6, ip, amount, n1, n2) -> TimelineRow:  # noqa: ANN001
    if isinstance(at, str):  # SQLite gives a union's timestamps back as text (or naive), in UTC
        at = parse_datetime(at)
    if settings.USE_TZ and timezone.is_naive(at):
        at = timezone.make_aware(at, UTC)
    if kind == "event":
        parts = [
            f"ip {ip}" if ip else "",
            f"device {t2}" if t2 else "",
            t3,
            f"card {t4[:12]}…" if t4 else "",
            f"{amount:.{_AMOUNT_PLACES}f} {t5}" if amount is not None else "",  # SQLite may give 5 for 5.00
            t6,
            f"{n1} requests, {n2} creators" if n1 is not None else "",
        ]
        return TimelineRow(at, kind, _EVENT_LABELS.get(t1, t1), " · ".join(part for part in parts if part))
    if kind == "action":
        return TimelineRow(at, kind, _ACTION_LABELS.get(t1, t1), f"{t2} → {t3} {t4}")
    if kind == "item":
        return TimelineRow(at, kind, f"Content {t1}:{t2}", f"{t3}, {n1} reports")
    return TimelineRow(at, kind, _DECISION_LABELS.get(t1, t1), f"on item {n1}")


# The accounts sharing an identifier with account %(account)s, the ``%(limit)s`` that share most first (ties: the
# lower id), each with what it shares (one row per shared identifier), its account and author columns and its
# open cases. ``matching`` is read once for the ranking and the rows: a carrier NAT's IP is a grouped scan of a
# thousand entries of the index ``account_identifier_unique``. Raw SQL (standard: PostgreSQL and SQLite),
# because compiling the same statement through the ORM (two EXISTS in a ranked IN subquery) cost more Python
# time than the database took to run it (bench/RESULTS.md).
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
), opened AS (
    SELECT ranked.account_id, ranked.shared,
        (SELECT COUNT(*) FROM {case} o WHERE o.account_id = ranked.account_id AND o.status = 'open') AS open_cases
    FROM ranked
)
SELECT matching.kind, matching.value, opened.open_cases, {columns}
FROM matching
JOIN opened ON opened.account_id = matching.account_id
JOIN {account} a ON a.author_id = matching.account_id
JOIN {author} au ON au.id = a.author_id
ORDER BY opened.shared DESC, matching.account_id, matching.kind, matching.value
"""


@cache
def _linked_statement() -> tuple[str, raw_rows.Reader, raw_rows.Reader]:
    accounts = raw_rows.Reader(Account)
    # What the case view and a ring decision read of an author: its name (``Author.__str__``) and ids.
    authors = raw_rows.Reader(Author, only=("id", "source", "external_id", "handle"))
    sql = _LINKED_SQL.format(
        identifier=AccountIdentifier._meta.db_table,
        case=AccountCase._meta.db_table,
        account=Account._meta.db_table,
        author=Author._meta.db_table,
        kinds=", ".join(f"%(kind_{n})s" for n in range(len(LINK_KINDS))),
        columns=f"{accounts.select_list('a')}, {authors.select_list('au')}",
    )
    return sql, accounts, authors


def linked_accounts(account: Account, *, limit: int = LINKED_LIMIT) -> list[LinkedAccount]:
    """Accounts sharing a device id, payment fingerprint or IP with ``account``, most shared first.

    One statement whatever the ring's size (each round trip counts in the case view), run prepared.
    """
    return _linked_from(fetch_together([_linked_query(account, limit)])[0])


def _linked_query(account: Account, limit: int = LINKED_LIMIT) -> tuple[str, dict]:
    kinds = {f"kind_{n}": kind for n, kind in enumerate(LINK_KINDS)}
    return _linked_statement()[0], {"account": account.pk, "limit": limit, **kinds}


def _linked_from(rows: list[tuple]) -> list[LinkedAccount]:
    _, accounts, authors = _linked_statement()
    labels = dict(AccountIdentifier.Kind.choices)
    linked: dict[int, LinkedAccount] = {}  # in rank order
    split = len(accounts)
    for kind, value, open_cases, *columns in rows:
        link = linked.get(columns[0])  # the account's key, its first column
        if link is None:
            other = accounts.instance(columns[:split])
            Account._meta.get_field("author").set_cached_value(other, authors.instance(columns[split:]))
            link = linked[other.pk] = LinkedAccount(other, open_cases=open_cases)
        link.shared.append((labels[kind], value))
    return list(linked.values())


@dataclass
class CaseReads:
    firings: list[RuleFiring]
    timeline: list[TimelineRow]
    linked: list[LinkedAccount]


def case_reads(case: AccountCase) -> CaseReads:
    """What the case view reads besides the case: its firings, its account's timeline and linked accounts.

    Three fixed statements that need only the case, sent together (``api.prepared.fetch_together``): on
    PostgreSQL the page waits for the database once for the three.
    """
    firings, events, linked = fetch_together(
        [_firings_query(case), _timeline_query(case.account), _linked_query(case.account)]
    )
    return CaseReads(
        firings=_firings_from(firings),
        timeline=[_timeline_row(*row) for row in events],
        linked=_linked_from(linked),
    )


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
