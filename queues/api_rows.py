"""Rows of the API's list endpoints, built as plain dicts from ``QuerySet.values()``.

A 50-row page through DRF serializers over model instances cost 15-35 ms of CPU: a serializer and a
``to_representation`` call per field, and five or six model instances per row (a decision with its
entry, queue, reviewer, QA review and categories), each parsing every datetime column of its table.
Here each list selects only the columns its JSON shows and builds each row with one function call,
fetching the rows' scores or categories in one extra query per page.

The serializers in ``queues.serializers`` stay the documented schema: tests/queues/test_api_rows.py
checks that these functions build exactly what they render.
"""

from collections.abc import Callable
from datetime import datetime, tzinfo
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Func, QuerySet
from django.utils import timezone

from classifiers.models import ModelVersion, PolicyCategory, Score
from queues.models import Decision, Item
from queues.prepared import prepared_cursor

Row = dict[str, Any]

ITEM_COLUMNS = (
    "id", "source", "external_id", "text", "image", "image_sha256", "image_bytes", "image_format", "image_width",
    "image_height", "author_id", "author__external_id", "author__handle", "author__account_created_at",
    "author__attributes", "metadata", "state", "failure_reason", "report_count", "ticket_id", "ticket_url",
    "created_at", "updated_at",
)  # fmt: skip

DECISION_COLUMNS = (
    "id", "item_id", "entry__queue__slug", "reviewer__username", "action", "note", "automatic", "applied_from_id",
    "qa_review__verdict", "created_at",
)  # fmt: skip

LABEL_COLUMNS = (
    "id", "item_id", "decision_id", "category__slug", "value", "reviewer__username", "queue__slug", "selection",
    "qa_review_id", "created_at",
)  # fmt: skip


# The timestamps among each list's columns.
ITEM_TIMES = ("author__account_created_at", "created_at", "updated_at")
DECISION_TIMES = ("created_at",)
LABEL_TIMES = ("created_at",)


class UtcIsoText(Func):
    """PostgreSQL: a timestamp with time zone as ISO 8601 text in UTC, to the microsecond."""

    output_field = CharField()
    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


def times_as_text() -> bool:
    """Whether PostgreSQL can write this request's timestamps: DRF's format is fixed when the time zone is UTC.

    psycopg and Django turn each timestamp into a datetime (~4 us), and DRF's format turns it back into
    text: 9 ms of a 500-item page's CPU, 0.9 ms of a 50-item one. Elsewhere (SQLite, another time zone)
    the datetimes are formatted in Python.
    """
    return connection.vendor == "postgresql" and settings.USE_TZ and timezone.get_current_timezone_name() == "UTC"


def _text_alias(column: str) -> str:
    return "utc_text_" + column.replace("__", "_")


def values_query(queryset: QuerySet, columns: tuple[str, ...], times: tuple[str, ...], *, as_text: bool) -> QuerySet:
    """``queryset.values(*columns)``; with ``as_text``, the ``times`` among them as UTC text (see ``restore_times``)."""
    if not as_text:
        return queryset.values(*columns)
    return queryset.values(
        *[column for column in columns if column not in times], **{_text_alias(c): UtcIsoText(c) for c in times}
    )


def restore_times(rows: list[Row], times: tuple[str, ...]) -> None:
    """Put the UTC text of a ``values_query(as_text=True)`` back under the columns' names, in DRF's format."""
    aliases = [(column, _text_alias(column)) for column in times]
    for row in rows:
        for column, alias in aliases:
            text = row.pop(alias)
            if text is not None:
                # datetime.isoformat() leaves out zero microseconds.
                text = (text[:-7] if text.endswith(".000000") else text) + "Z"
            row[column] = text


def iso_formatter() -> Callable[[datetime | str | None], str | None]:
    """Formats datetimes as DRF's DateTimeField does (ISO 8601 in the current time zone, UTC as ``Z``).

    DRF looks the time zone up and checks awareness for every value; a page looks it up once. Text
    (from ``restore_times``) is already in that format.
    """
    zone: tzinfo | None = timezone.get_current_timezone() if settings.USE_TZ else None

    def iso(value: datetime | str | None) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if zone is not None:
            value = value.astimezone(zone) if value.tzinfo is not None else timezone.make_aware(value, zone)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


def _in_ids(column: str, ids: list[int]) -> tuple[str, list[Any]]:
    """``column`` is one of ``ids``: one array parameter on PostgreSQL, a placeholder per id elsewhere."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


@cache
def _scores_sql() -> str:
    return (
        "SELECT s.item_id, c.slug, s.probability, s.from_prior, v.name, v.status"
        f" FROM {Score._meta.db_table} s"
        f" JOIN {ModelVersion._meta.db_table} v ON v.id = s.model_version_id"
        f" JOIN {PolicyCategory._meta.db_table} c ON c.id = s.category_id"
        " WHERE {ids} AND v.status IN (%s, %s)"
        " ORDER BY v.status, c.position, s.id"
    )


def scores_of(item_ids: list[int]) -> dict[int, list[Row]]:
    """The active and shadow scores of many items in one query, as ScoreOutSerializer renders them.

    In SQL rather than through the ORM: building and compiling the query cost ~1 ms of a 50-item
    page's CPU (more with 500 ids in an IN list), four times running it. Its text does not change with
    the page, so PostgreSQL keeps it prepared (``queues.prepared``): ~0.5 ms less per page, unplanned.
    """
    if not item_ids:
        return {}
    condition, params = _in_ids("s.item_id", item_ids)
    with prepared_cursor() as cursor:
        cursor.execute(_scores_sql().replace("{ids}", condition), [*params, "active", "shadow"])
        rows = cursor.fetchall()
    by_item: dict[int, list[Row]] = {}
    for item_id, category, probability, from_prior, version, status in rows:
        by_item.setdefault(item_id, []).append(
            {
                "category": category,
                "probability": probability,
                "from_prior": bool(from_prior),
                "model_version": version,
                "status": status,
            }
        )
    return by_item


def _kind(text: str, image: str) -> str:
    # Item.kind, on the stored values.
    if text and image:
        return Item.Kind.TEXT_AND_IMAGE.value
    return Item.Kind.IMAGE.value if image else Item.Kind.TEXT.value


def item_rows(rows: list[Row]) -> list[Row]:
    """Items of GET /api/v1/items (``ITEM_COLUMNS`` values), as ItemListOutSerializer renders them."""
    iso = iso_formatter()
    scores = scores_of([row["id"] for row in rows]) if rows else {}
    return [
        {
            "id": row["id"],
            "source": row["source"],
            "external_id": row["external_id"],
            "kind": _kind(row["text"], row["image"]),
            "text": row["text"],
            "image": {
                "sha256": row["image_sha256"],
                "bytes": row["image_bytes"],
                "format": row["image_format"],
                "width": row["image_width"],
                "height": row["image_height"],
            }
            if row["image"]
            else None,
            "author": {
                "external_id": row["author__external_id"],
                "handle": row["author__handle"],
                "account_created_at": iso(row["author__account_created_at"]),
                "attributes": row["author__attributes"],
            }
            if row["author_id"] is not None
            else None,
            "metadata": row["metadata"],
            "state": row["state"],
            "failure_reason": row["failure_reason"],
            "report_count": row["report_count"],
            "scores": scores.get(row["id"], []),
            "ticket_id": row["ticket_id"],
            "ticket_url": row["ticket_url"],
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
        }
        for row in rows
    ]


def categories_of(decision_ids: list[int]) -> dict[int, list[str]]:
    """The category slugs of many decisions in one query, in PolicyCategory's order (as the serializer lists them)."""
    if not decision_ids:
        return {}
    through = Decision.categories.through
    condition, params = _in_ids("d.decision_id", decision_ids)
    sql = (
        f"SELECT d.decision_id, c.slug FROM {through._meta.db_table} d"
        f" JOIN {PolicyCategory._meta.db_table} c ON c.id = d.policycategory_id"
        f" WHERE {condition} ORDER BY c.position, c.slug"
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    by_decision: dict[int, list[str]] = {}
    for decision_id, slug in rows:
        by_decision.setdefault(decision_id, []).append(slug)
    return by_decision


def decision_rows(rows: list[Row]) -> list[Row]:
    """Decisions of GET /api/v1/decisions (``DECISION_COLUMNS`` values), as DecisionListOutSerializer renders them."""
    iso = iso_formatter()
    categories = categories_of([row["id"] for row in rows])
    return [
        {
            "id": row["id"],
            "item_id": row["item_id"],
            "queue": row["entry__queue__slug"],
            "reviewer": row["reviewer__username"],
            "action": row["action"],
            "categories": categories.get(row["id"], []),
            "note": row["note"],
            "automatic": row["automatic"],
            "applied_from": row["applied_from_id"],
            "qa_verdict": row["qa_review__verdict"],
            "created_at": iso(row["created_at"]),
        }
        for row in rows
    ]


def label_rows(rows: list[Row]) -> list[Row]:
    """Labels of GET /api/v1/labels (``LABEL_COLUMNS`` values), as LabelOutSerializer renders them."""
    iso = iso_formatter()
    return [
        {
            "id": row["id"],
            "item_id": row["item_id"],
            "decision_id": row["decision_id"],
            "category": row["category__slug"],
            "value": row["value"],
            "reviewer": row["reviewer__username"],
            "queue": row["queue__slug"],
            "selection": row["selection"],
            "from_qa": row["qa_review_id"] is not None,
            "created_at": iso(row["created_at"]),
        }
        for row in rows
    ]
