"""Rows of the API's list endpoints, built as plain dicts from ``QuerySet.values()``.

A 50-row page through DRF serializers over model instances cost 15-35 ms of CPU: a serializer and a
``to_representation`` call per field, and five or six model instances per row (a decision with its
entry, queue, reviewer, QA review and categories), each parsing every datetime column of its table.
Here each list selects only the columns its JSON shows and builds each row with one function call,
fetching the rows' scores or categories in one extra query per page.

The serializers in ``intake.serializers`` stay the documented schema: tests/queues/test_api_rows.py
checks that these functions build exactly what they render."""

from functools import cache

from api.prepared import prepared_cursor
from api.rows import Row, _in_ids, iso_formatter
from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Item

ITEM_COLUMNS = (
    "id", "source", "external_id", "text", "image", "image_sha256", "image_bytes", "image_format", "image_width",
    "image_height", "author_id", "author__external_id", "author__handle", "author__account_created_at",
    "author__attributes", "metadata", "state", "failure_reason", "report_count", "ticket_id", "ticket_url",
    "created_at", "updated_at",
)  # fmt: skip


# The timestamps among each list's columns.
ITEM_TIMES = ("author__account_created_at", "created_at", "updated_at")


@cache
def _scores_sql() -> str:
    return (
        "SELECT s.item_id, c.slug, s.probability, s.from_prior, s.prior_source, s.author_shift, v.name, v.status"
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
    the page, so PostgreSQL keeps it prepared (``api.prepared``): ~0.5 ms less per page, unplanned.
    """
    if not item_ids:
        return {}
    condition, params = _in_ids("s.item_id", item_ids)
    with prepared_cursor() as cursor:
        cursor.execute(_scores_sql().replace("{ids}", condition), [*params, "active", "shadow"])
        rows = cursor.fetchall()
    by_item: dict[int, list[Row]] = {}
    for item_id, category, probability, from_prior, prior_source, author_shift, version, status in rows:
        by_item.setdefault(item_id, []).append(
            {
                "category": category,
                "probability": probability,
                "from_prior": bool(from_prior),
                "prior_source": prior_source,
                "author_shift": author_shift,
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
