"""Keyset ("cursor") pagination for the API's lists.

A page is ``WHERE (updated_at, id) > (cursor) ORDER BY updated_at, id LIMIT n``: one index range
scan whatever the depth, where OFFSET pages get slower the deeper they go, and where DRF's own
``CursorPagination`` keys on the first field alone and skips ties by offset. The cursor is opaque to
clients (the last row's key: microseconds since 0001-01-01 UTC and the id, ``63931269600000000-41``, a
pattern the schema states, so every string of that shape is a cursor) and is returned on every page, the
last one included, so an integrator stores it and later asks "what changed since" with the same call.
"""

import base64
import binascii
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Every string of this shape decodes to a valid key: 17 digits of microseconds reach the year 3169, 18 digits
# of id stay below PostgreSQL's bigint limit. Empty is the first page.
CURSOR_PATTERN = r"^([0-9]{1,17}-[0-9]{1,18})?$"
_ORIGIN = datetime.min.replace(tzinfo=UTC)


class KeysetPagination(BasePagination):
    """Pages in ascending ``(key_field, id)`` order; the view names ``key_field`` (default ``updated_at``)."""

    cursor_query_param = "cursor"
    limit_query_param = "limit"

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list:
        self.key_field = getattr(view, "key_field", "updated_at")
        self.request = request
        self.limit = self._limit(request)
        self.cursor = request.query_params.get(self.cursor_query_param)
        queryset = queryset.order_by(self.key_field, "id")
        key = last_id = None
        if self.cursor:
            key, last_id = self._decode(self.cursor)
            queryset = queryset.filter(TupleGreaterThan(Tuple(F(self.key_field), F("id")), (key, last_id)))
        fetch = getattr(view, "fetch", list)
        rows = fetch(queryset[: self.limit + 1])
        self.has_more = len(rows) > self.limit
        self.page = rows[: self.limit]
        if self.page:
            last = self.page[-1]
            if isinstance(last, dict):  # a page of .values() rows
                self.next_cursor = self._encode(last[self.key_field], last["id"])
            else:
                self.next_cursor = self._encode(getattr(last, self.key_field), last.pk)
        else:  # nothing new: the same position, in today's form
            self.next_cursor = self._encode(key, last_id) if key is not None else None
        return self.page

    def get_paginated_response(self, data: list) -> Response:
        next_url = None
        if self.next_cursor:
            next_url = replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, self.next_cursor)
        return Response({"has_more": self.has_more, "next_cursor": self.next_cursor, "next": next_url, "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["has_more", "next_cursor", "next", "results"],
            "properties": {
                "has_more": {
                    "type": "boolean",
                    "description": "True when more rows follow now; false on the last page.",
                },
                "next_cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": (
                        "Send as `cursor` for the next page. Given on the last page too: keep it and call "
                        "again later to get only what changed since. Null only for an empty first page."
                    ),
                    "pattern": CURSOR_PATTERN,
                    "example": "63931269600000000-41",
                },
                "next": {"type": "string", "format": "uri", "nullable": True, "description": "The same, as a URL."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "`next_cursor` of the previous page. Omit for the first page.",
                "schema": {"type": "string", "pattern": CURSOR_PATTERN},
            },
            {
                "name": self.limit_query_param,
                "in": "query",
                "required": False,
                "description": f"Rows per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            },
        ]

    def _limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return DEFAULT_LIMIT
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise serializers.ValidationError({self.limit_query_param: [f"Use a whole number from 1 to {MAX_LIMIT}."]})
        return limit

    @staticmethod
    def _encode(key: datetime | str, pk: int) -> str:
        if isinstance(key, str):  # ISO 8601 text (api.rows.restore_times): the same cursor as its datetime's
            key = datetime.fromisoformat(key)
        return f"{(key - _ORIGIN) // timedelta(microseconds=1)}-{pk}"

    def _decode(self, cursor: str) -> tuple[datetime, int]:
        if re.fullmatch(CURSOR_PATTERN, cursor):
            micros, pk = cursor.split("-")
            return _ORIGIN + timedelta(microseconds=int(micros)), int(pk)
        return self._decode_base64(cursor)

    def _decode_base64(self, cursor: str) -> tuple[datetime, int]:
        """Cursors issued before the readable form (base64 of ``["<ISO 8601>", id]``) still work: an
        integrator may have stored one to sync from."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            key, pk = json.loads(raw)
            moment = datetime.fromisoformat(key)
            if not isinstance(pk, int) or isinstance(pk, bool) or not 0 <= pk < 2**63 or moment.tzinfo is None:
                raise ValueError
            return moment, pk
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise serializers.ValidationError(
                {self.cursor_query_param: ["Not a cursor this API issued; use next_cursor from a previous page."]}
            ) from exc
