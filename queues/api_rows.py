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
from typing import Any

from django.conf import settings
from django.utils import timezone

from classifiers.models import Score
from queues.models import Decision, Item

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


def iso_formatter() -> Callable[[datetime | None], str | None]:
    """Formats datetimes as DRF's DateTimeField does (ISO 8601 in the current time zone, UTC as ``Z``).

    DRF looks the time zone up and checks awareness for every value; a page looks it up once.
    """
    zone: tzinfo | None = timezone.get_current_timezone() if settings.USE_TZ else None

    def iso(value: datetime | None) -> str | None:
        if value is None:
            return None
        if zone is not None:
            value = value.astimezone(zone) if value.tzinfo is not None else timezone.make_aware(value, zone)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


def scores_of(item_ids: list[int]) -> dict[int, list[Row]]:
    """The active and shadow scores of many items in one query, as ScoreOutSerializer renders them.

    Plain rows rather than Score instances: three model instances per score (with the category and
    version) were a fifth of a 50-item page's CPU time.
    """
    rows = (
        Score.objects.filter(item_id__in=item_ids, model_version__status__in=["active", "shadow"])
        .order_by("model_version__status", "category__position")
        .values_list(
            "item_id", "category__slug", "probability", "from_prior", "model_version__name", "model_version__status"
        )
    )
    by_item: dict[int, list[Row]] = {}
    for item_id, category, probability, from_prior, version, status in rows:
        by_item.setdefault(item_id, []).append(
            {
                "category": category,
                "probability": probability,
                "from_prior": from_prior,
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


def decision_rows(rows: list[Row]) -> list[Row]:
    """Decisions of GET /api/v1/decisions (``DECISION_COLUMNS`` values), as DecisionListOutSerializer renders them."""
    iso = iso_formatter()
    categories: dict[int, list[str]] = {}
    if rows:
        # In PolicyCategory's own order, as ``decision.categories.all()`` gives them to the serializer.
        through = (
            Decision.categories.through.objects.filter(decision_id__in=[row["id"] for row in rows])
            .order_by("policycategory__position", "policycategory__slug")
            .values_list("decision_id", "policycategory__slug")
        )
        for decision_id, slug in through:
            categories.setdefault(decision_id, []).append(slug)
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
