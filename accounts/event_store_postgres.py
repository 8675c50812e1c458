"""The PostgreSQL statements of event intake: arrays and COPY instead of one bound parameter per value.

Building 1,000 model instances and binding ~17,000 parameters cost about 60% of a batch in the ORM
(``bulk_create``'s per-value preparation and psycopg's per-value dumping, measured with cProfile). Here
each statement binds a handful of arrays (``unnest``), and events go in with ``COPY``, which PostgreSQL
routes to the day's partition. ``accounts.event_intake`` calls these inside its transaction, in the same
order as its portable path, so locking and results are the same.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from accounts.event_input import EventIn
from intake.models import Author

AUTHORS = Author._meta.db_table

EVENT_COLUMNS = (
    "account_id", "event_id", "type", "occurred_at", "received_at", "ip", "user_agent", "device_id", "country",
    "payment_fingerprint", "amount", "currency", "outcome", "request_count", "distinct_creators", "window_seconds",
)  # fmt: skip


def _raw_cursor():  # noqa: ANN202 - a psycopg cursor
    # The psycopg connection under Django's: COPY is not part of the DB-API Django wraps.
    connection.ensure_connection()
    return connection.connection.cursor()


def upsert_authors(keys: Sequence[tuple[str, str]], handles: Sequence[str | None], now: datetime) -> dict:
    """Author ids by ``(source, external_id)``, creating the new ones; a handle that is not None replaces the old."""
    with _raw_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {AUTHORS} (source, external_id, handle, attributes, created_at, updated_at) "
            "SELECT s, x, coalesce(h, ''), '{}'::jsonb, %(now)s, %(now)s "
            "FROM unnest(%(sources)s::text[], %(externals)s::text[], %(handles)s::text[]) AS t(s, x, h) "
            "ON CONFLICT (source, external_id) DO UPDATE "
            f"SET handle = coalesce(nullif(EXCLUDED.handle, ''), {AUTHORS}.handle), updated_at = EXCLUDED.updated_at "
            "RETURNING id, source, external_id",
            {
                "now": now,
                "sources": [k[0] for k in keys],
                "externals": [k[1] for k in keys],
                "handles": list(handles),
            },
        )
        return {(source, external): pk for pk, source, external in cursor.fetchall()}


def create_accounts_and_mark_pending(account_ids: Sequence[int], now: datetime) -> None:
    """Accounts that are new, and each account's signals row created or locked and marked pending, in id order."""
    with _raw_cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_account (author_id, state, strikes, created_at, updated_at) "
            "SELECT id, 'active', 0, %(now)s, %(now)s FROM unnest(%(ids)s::bigint[]) AS id "
            "ON CONFLICT (author_id) DO NOTHING",
            {"now": now, "ids": list(account_ids)},
        )
        cursor.execute(
            'INSERT INTO accounts_accountsignals (account_id, state, "values", processed_event_id, pending_since) '
            "SELECT id, '{}'::jsonb, '{}'::jsonb, 0, %(now)s FROM unnest(%(ids)s::bigint[]) AS id ORDER BY id "
            "ON CONFLICT (account_id) DO UPDATE "
            "SET pending_since = coalesce(accounts_accountsignals.pending_since, EXCLUDED.pending_since)",
            {"now": now, "ids": list(account_ids)},
        )


def existing_receipts(source: str, event_ids: Sequence[str]) -> dict[str, str]:
    """The digest of each of ``event_ids`` already received from ``source``."""
    with _raw_cursor() as cursor:
        cursor.execute(
            "SELECT event_id, digest FROM accounts_eventreceipt WHERE source = %s AND event_id = ANY(%s::text[])",
            [source, list(event_ids)],
        )
        return dict(cursor.fetchall())


def insert_receipts(rows: Sequence[tuple[str, str, str, datetime]]) -> None:
    """``(source, event_id, digest, occurred_at)`` rows; a concurrent insert of the same id raises IntegrityError."""
    with _raw_cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_eventreceipt (source, event_id, digest, occurred_at) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[])",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
        )


def copy_events(events: Sequence[EventIn], account_ids: dict[tuple[str, str], int], now: datetime) -> None:
    with (
        _raw_cursor() as cursor,
        cursor.copy(f"COPY accounts_accountevent ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy,
    ):
        for e in events:
            copy.write_row(
                (
                    account_ids[(e.source, e.account)], e.id, e.type, e.occurred_at, now, e.ip, e.user_agent or "",
                    e.device_id or "", e.country or "", e.payment_fingerprint or "", e.amount, e.currency or "",
                    e.outcome or "", e.request_count, e.distinct_creators, e.window_seconds,
                )
            )  # fmt: skip
