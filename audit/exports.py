"""The audit log as CSV or JSON Lines, streamed row by row (the admin's export and ``manage.py export_audit``)."""

import csv
import io
import json
from collections.abc import Iterator

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from audit.models import AuditEvent

FORMATS = {"csv": "text/csv", "jsonl": "application/jsonl"}
COLUMNS = [
    "id", "created_at", "actor_id", "actor_label", "action", "object_type", "object_id", "object_repr",
    "ip_address", "before", "after",
]  # fmt: skip
# A spreadsheet runs a cell that starts with one of these as a formula; labels and object names come from users.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _record(event: AuditEvent) -> dict:
    return {
        "id": event.pk,
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "ip_address": event.ip_address,
        "before": event.before,
        "after": event.after,
    }


def _csv_cell(value: object) -> object:
    if isinstance(value, dict | list):
        value = json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_lines(events: QuerySet[AuditEvent], fmt: str) -> Iterator[str]:
    """Yield the export of ``events`` (oldest first) line by line, reading the table in chunks."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    rows = events.order_by("created_at", "id").iterator(chunk_size=2000)
    if fmt == "jsonl":
        for event in rows:
            yield json.dumps(_record(event), cls=DjangoJSONEncoder) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for event in rows:
        writer.writerow([_csv_cell(value) for value in _record(event).values()])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
