"""The PostgreSQL writes of a signal update: one statement per table, binding arrays (``unnest``).

``bulk_update`` builds a ``CASE WHEN`` expression per row and field: for 200 accounts it cost 1.2 s
of a 1.6 s update (cProfile), so the worker fell behind intake. These statements write the same rows
and values in a few milliseconds; ``accounts.signal_updates`` uses them on PostgreSQL and the ORM
elsewhere.
"""

from collections.abc import Sequence
from datetime import datetime

import orjson
from django.db import connection

from accounts.models import Account, AccountSignals, SignalReading
from accounts.risk_signals import SIGNALS


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def save_signals(rows: Sequence, now: datetime) -> None:
    # One JSON document for all rows: arrays of JSON text would each be escaped value by value.
    document = [
        {"id": r.account_id, "state": r.state, "vals": r.values, "processed": r.processed_event_id} for r in rows
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {AccountSignals._meta.db_table} s SET state = t.state, "values" = t.vals, '
            "processed_event_id = t.processed, pending_since = NULL, updated_at = %s "
            "FROM jsonb_to_recordset(%s::jsonb) AS t(id bigint, state jsonb, vals jsonb, processed bigint) "
            "WHERE s.account_id = t.id",
            [now, _json(document)],
        )


def save_event_times(accounts: Sequence, now: datetime) -> None:
    """``accounts``: objects with ``pk``, ``first_event_at``, ``last_event_at`` and ``signed_up_at``.

    Bound as one JSON document (orjson writes the datetimes as RFC 3339): psycopg's client-side binding of
    arrays of timestamps quoted each element in Python, 0.4 s of a 7 s profile of 5,000 events."""
    document = [
        {"id": a.pk, "first": a.first_event_at, "last": a.last_event_at, "signed": a.signed_up_at} for a in accounts
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Account._meta.db_table} a SET first_event_at = t.first, last_event_at = t.last, "
            "signed_up_at = t.signed, updated_at = %s "
            "FROM jsonb_to_recordset(%s::jsonb) AS t(id bigint, first timestamptz, last timestamptz, "
            "signed timestamptz) WHERE a.author_id = t.id",
            [now, _json(document)],
        )


def insert_snapshots(rows: Sequence[tuple[int, dict, list[str], list[str]]], now: datetime) -> None:
    """``(account_id, values, event_types, countries)`` rows taken at ``now``: each a snapshot and, in the same
    statement, its ``SignalReading`` (the numbers as columns, for rule previews)."""
    document = [{"id": r[0], "vals": r[1], "types": r[2], "countries": r[3]} for r in rows]
    names = ", ".join(f'"{name}"' for name in SIGNALS)
    numbers = ", ".join(f"(vals->>'{name}')::float8" for name in SIGNALS)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH t AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) "
            "           AS t(id bigint, vals jsonb, types jsonb, countries jsonb)), "
            "snapshots AS ("
            '  INSERT INTO accounts_signalsnapshot (account_id, taken_at, "values", event_types, countries) '
            "  SELECT id, %s, vals, types, countries FROM t) "
            f"INSERT INTO {SignalReading._meta.db_table} (account_id, taken_at, event_types, countries, {names}) "
            f"SELECT id, %s, types, countries, {numbers} FROM t",
            [_json(document), now, now],
        )


_IDENTIFIER_KEYS = ("kind", "value", "account_id", "first_seen_at", "last_seen_at")


def upsert_identifiers(rows: Sequence[tuple[str, str, int, datetime, datetime]]) -> None:
    """``(kind, value, account_id, first_seen_at, last_seen_at)``, sorted; a known one gets the later last-seen.

    Last-seen is kept to the hour: it only decides whether a link falls in the 7-day window, and rewriting
    the row of a device at every login was the costliest statement of an update (0.29 of 1.7 s for 400
    accounts, mostly new row versions of unchanged identifiers); now a known identifier is written at most
    once an hour.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_accountidentifier (kind, value, account_id, first_seen_at, last_seen_at) "
            "SELECT * FROM jsonb_to_recordset(%s::jsonb) "
            "  AS t(kind text, value text, account_id bigint, first_seen_at timestamptz, last_seen_at timestamptz) "
            "ON CONFLICT (kind, value, account_id) DO UPDATE "
            "SET last_seen_at = EXCLUDED.last_seen_at "
            "WHERE accounts_accountidentifier.last_seen_at < EXCLUDED.last_seen_at - interval '1 hour'",
            [_json([dict(zip(_IDENTIFIER_KEYS, r, strict=True)) for r in rows])],
        )
