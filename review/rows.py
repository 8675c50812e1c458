"""The decision and label list pages as JSON rows, read straight from ``.values()``."""

from api.prepared import prepared_cursor
from api.rows import Row, _in_ids, iso_formatter
from classifiers.models import PolicyCategory
from queues.models import Decision

DECISION_COLUMNS = (
    "id", "item_id", "entry__queue__slug", "reviewer__username", "action", "note", "automatic", "applied_from_id",
    "qa_review__verdict", "created_at",
)  # fmt: skip


LABEL_COLUMNS = (
    "id", "item_id", "decision_id", "category__slug", "value", "reviewer__username", "queue__slug", "selection",
    "qa_review_id", "decision__automatic", "created_at",
)  # fmt: skip


DECISION_TIMES = ("created_at",)


LABEL_TIMES = ("created_at",)


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


def labeler_of(qa_review_id: int | None, automatic: bool, username: str | None) -> dict[str, str | None]:
    """Who made a label: a senior's QA verdict, an automatic action, or a moderator's decision.

    The labels listed here are all review decisions; labels by other labelers (LLM, crowd) are the labeling API's.
    """
    if qa_review_id is not None:
        return {"kind": "qa", "name": username}
    if automatic:
        return {"kind": "automatic", "name": None}
    return {"kind": "moderator", "name": username}


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
            "labeler": labeler_of(row["qa_review_id"], row["decision__automatic"], row["reviewer__username"]),
            "created_at": iso(row["created_at"]),
        }
        for row in rows
    ]
