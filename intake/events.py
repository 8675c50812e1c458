"""Outbound events about items as they arrive and are scored (webhooks' outbox)."""

from collections.abc import Iterable, Iterator
from datetime import datetime

from intake.models import Item
from webhooks.services import emit_many


def item_summary(item: Item) -> dict:
    return {"item_id": item.pk, "source": item.source, "external_id": item.external_id}


def item_created_payload(item: Item) -> dict:
    """The ``item.created`` payload (also written by the PostgreSQL single-item statement, ``ingest_postgres``)."""
    return item_summary(item) | {
        "kind": item.kind.value,
        "report_count": item.report_count,
        "created_at": item.created_at,
    }


def items_created(items: Iterable[Item]) -> None:
    emit_many(event_type="item.created", payloads=(item_created_payload(item) for item in items))


def items_scored(*, item_ids: list[int], scored_at: datetime) -> None:
    """Items whose scoring this call recorded (scored, or failed with a reason) at ``scored_at``."""

    def payloads() -> Iterator[dict]:
        # A generator function, not a generator expression over the queryset: an expression would run the query
        # when it is made (it takes the iterator of its first iterable at once), even with no subscriber, in every
        # scoring batch; emit_many never iterates this one then.
        rows = (
            Item.objects.filter(id__in=item_ids, scored_at=scored_at, state__in=[Item.State.SCORED, Item.State.FAILED])
            .order_by("id")
            .values("id", "source", "external_id", "state", "failure_reason", "scored_at")
        )
        for row in rows:
            yield {
                "item_id": row["id"],
                "source": row["source"],
                "external_id": row["external_id"],
                "failed": row["state"] == Item.State.FAILED,
                "failure_reason": row["failure_reason"],
                "scored_at": row["scored_at"],
            }

    emit_many(event_type="item.scored", payloads=payloads())
