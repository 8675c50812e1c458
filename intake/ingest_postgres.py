"""One new item in one PostgreSQL statement: the single-item fast path of ``services.submit_items``.

The generic path costs about eight round trips and ~1 ms of ORM Python each (existing-item check,
BEGIN, author upsert, item insert, subscriber lookup, report insert, report-count check, COMMIT).
Here data-modifying CTEs do the same writes in one statement, which PostgreSQL runs atomically
even in autocommit: the author upsert, the item, its reports, and the ``item.created`` outbox rows
(an event and one delivery per subscriber). Nothing is written when the item already exists; the
caller then takes the generic path, which merges the reports. Column lists and values come from the
models' fields, so a new column needs no change here.
"""

from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from api.prepared import prepared_cursor
from audit.request_context import current_request_id
from intake import events
from intake.dispatch import enqueue_scoring
from intake.models import Author, Item, Report
from intake.payloads import ItemSubmission, SubmissionResult
from webhooks.models import Delivery, WebhookEvent, WebhookSubscription, new_event_id
from webhooks.services import enqueue_deliveries

EVENT_TYPE = "item.created"


@cache
def _insert_fields(model: type[Model], *, exclude: tuple[str, ...] = ()) -> list[Field]:
    """The columns Django's own INSERT writes (every concrete field but the serial primary key)."""
    return [
        f for f in model._meta.concrete_fields if not f.primary_key and f.attname not in exclude and not f.generated
    ]


def _values(obj: Model, fields: list[Field]) -> list:
    # pre_save fills auto_now(_add) fields, get_db_prep_save adapts (JSON, dates): what Model.save does.
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def _columns(fields: list[Field]) -> str:
    return ", ".join(connection.ops.quote_name(f.column) for f in fields)


@cache
def _statement(has_author: bool, n_reports: int) -> str:
    """The SQL for an item with or without an author and with ``n_reports`` reports (cached per shape)."""
    qn = connection.ops.quote_name
    items, authors, reports = (qn(m._meta.db_table) for m in (Item, Author, Report))
    item_fields = _insert_fields(Item, exclude=("author_id",))
    author_fields = _insert_fields(Author)
    report_fields = _insert_fields(Report, exclude=("item_id",))
    refreshed = ("handle", "account_created_at", "attributes", "updated_at")  # as _upsert_authors
    placeholders = ", ".join(["%s"] * len(item_fields))
    parts = [
        # The guard keeps an existing item's author untouched, as the generic path does.
        f"fresh AS (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM {items} WHERE source = %s AND external_id = %s))"
    ]
    author_id = "NULL"
    if has_author:
        parts.append(
            f"author AS (INSERT INTO {authors} ({_columns(author_fields)}) "
            f"SELECT {', '.join(['%s'] * len(author_fields))} FROM fresh "
            f"ON CONFLICT (source, external_id) DO UPDATE SET "
            + ", ".join(f"{qn(name)} = EXCLUDED.{qn(name)}" for name in refreshed)
            + " RETURNING id)"
        )
        author_id = "(SELECT id FROM author)"
    parts.append(
        f"item AS (INSERT INTO {items} ({_columns(item_fields)}, {qn('author_id')}) "
        f"SELECT {placeholders}, {author_id} FROM fresh "
        f"ON CONFLICT (source, external_id) DO NOTHING RETURNING id)"
    )
    if n_reports:
        row = "(" + ", ".join(f"%s::{f.db_type(connection)}" for f in report_fields) + ")"
        names = ", ".join(f"c{n}" for n in range(len(report_fields)))
        parts.append(
            f"report AS (INSERT INTO {reports} ({qn('item_id')}, {_columns(report_fields)}) "
            f"SELECT item.id, {names} FROM item, (VALUES {', '.join([row] * n_reports)}) AS r({names}) "
            f"ON CONFLICT (item_id, fingerprint) DO NOTHING)"
        )
    # The item.created outbox, as webhooks.services.emit_many writes it: an event only when someone
    # subscribes, and a delivery per active subscription.
    events_table, deliveries, subscriptions = (
        qn(m._meta.db_table) for m in (WebhookEvent, Delivery, WebhookSubscription)
    )
    parts += [
        f"subscriber AS (SELECT id FROM {subscriptions} WHERE is_active AND event_types @> %s::jsonb)",
        f"event AS (INSERT INTO {events_table} (event_id, type, payload, created_at, request_id) "
        f"SELECT %s, %s, %s::jsonb || jsonb_build_object('item_id', item.id), %s, %s FROM item "
        f"WHERE EXISTS (SELECT 1 FROM subscriber) RETURNING id)",
        f"delivery AS (INSERT INTO {deliveries} (event_id, subscription_id, state, attempts, next_attempt_at, "
        f"enqueued_at, created_at) SELECT event.id, subscriber.id, %s, 0, %s, %s, %s FROM event, subscriber "
        f"RETURNING id)",
    ]
    return "WITH " + ",\n".join(parts) + "\nSELECT item.id, (SELECT array_agg(id ORDER BY id) FROM delivery) FROM item"


def submit_new_item(submission: ItemSubmission) -> SubmissionResult | None:
    """Write one new item (no image) with its author, reports and outbox rows; None if it already exists.

    Callers fall back to the generic path on None, so merging repeat reports lives in one place.
    """
    assert connection.vendor == "postgresql" and submission.image is None
    reports, fingerprints = [], set()
    for report in submission.reports:
        fingerprint = report.fingerprint()
        if fingerprint not in fingerprints:  # the first of identical reports wins, as with bulk_create
            fingerprints.add(fingerprint)
            reports.append((report, fingerprint))
    params: list = [submission.source, submission.external_id]
    author = submission.author
    if author is not None:
        params += _values(
            Author(
                source=submission.source,
                external_id=author.external_id,
                handle=author.handle,
                account_created_at=author.account_created_at,
                attributes=author.attributes,
            ),
            _insert_fields(Author),
        )
    item = Item(
        source=submission.source,
        external_id=submission.external_id,
        text=submission.text,
        metadata=submission.metadata,
        report_count=len(reports),
    )
    params += _values(item, _insert_fields(Item, exclude=("author_id",)))
    report_fields = _insert_fields(Report, exclude=("item_id",))
    for report, fingerprint in reports:
        row = Report(
            reporter_id=report.reporter_id,
            reason=report.reason,
            text=report.text,
            reported_at=report.reported_at or timezone.now(),
            fingerprint=fingerprint,
        )
        params += _values(row, report_fields)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    payload = events.item_created_payload(item)  # item_id is added by the statement
    payload_field = WebhookEvent._meta.get_field("payload")
    params += [
        payload_field.get_db_prep_save([EVENT_TYPE], connection),
        new_event_id(),
        EVENT_TYPE,
        payload_field.get_db_prep_save(payload, connection),
        now,
        current_request_id() or "",
        Delivery.State.PENDING,
        now,
        now,
        now,
    ]
    with prepared_cursor() as cursor:
        cursor.execute(_statement(author is not None, len(reports)), params)
        row = cursor.fetchone()
    if row is None:
        return None
    item_id, delivery_ids = row
    # In autocommit the statement has committed and these run now; inside a caller's atomic block,
    # after its commit.
    enqueue_scoring([item_id])
    if delivery_ids:
        transaction.on_commit(lambda: enqueue_deliveries(delivery_ids), robust=True)
    return SubmissionResult(
        index=0,
        item_id=item_id,
        source=submission.source,
        external_id=submission.external_id,
        created=True,
        state=item.state,
        report_count=item.report_count,
    )


def usable_for(submissions: list[ItemSubmission]) -> bool:
    """One submission without an image, on PostgreSQL, with the item.created event known."""
    return (
        len(submissions) == 1
        and submissions[0].image is None
        and connection.vendor == "postgresql"
        and EVENT_TYPE in settings.WEBHOOK_EVENT_TYPES
    )
