"""List endpoints in keyset (cursor) pages, read as plain rows where it pays."""

from collections.abc import Callable

from django.db.models import QuerySet
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from api.filters import ListFilterBackend
from api.pagination import KeysetPagination
from api.renderers import FastJSONRenderer
from api.rows import restore_times, times_as_text, values_query

SYNC_NOTE = (
    "\n\n**Pages and incremental sync.** Rows come in ascending `({key}, id)` order, one page per call; "
    "pass `next_cursor` back as `cursor` for the next. The last page has `has_more: false` and still "
    "a `next_cursor`: keep it, and a later call with it returns only rows {verb} since. A transaction "
    "that commits late can carry a slightly earlier `{key}` than rows already read, so a sync that must "
    "miss nothing restarts from `{key}_after` = the last `{key}` seen minus a minute and de-duplicates by `id`."
)


class KeysetListView(generics.ListAPIView):
    """A filtered list in cursor pages (see ``api.pagination``).

    With ``rows`` set, the page is read as ``.values()`` dicts of ``columns`` (``times`` are the
    timestamps among them) and ``rows`` turns it into the JSON rows (see ``api.rows``);
    without, model instances go through the serializer.
    """

    pagination_class = KeysetPagination
    filter_backends = [ListFilterBackend]
    renderer_classes = [FastJSONRenderer]
    key_field = "updated_at"
    rows: Callable[[list[dict]], list[dict]] | None = None
    columns: tuple[str, ...] = ()
    times: tuple[str, ...] = ()
    _text_times = False  # this request reads its timestamps as text (api.rows.times_as_text)

    def get_queryset(self) -> QuerySet:
        if self.rows is None:
            return super().get_queryset()
        self._text_times = times_as_text()
        return self._values(self._text_times).all()

    @classmethod
    def _values(cls, as_text: bool) -> QuerySet:
        # Resolving two dozen column paths cost ~0.4 ms a request: once per list and mode.
        key = f"_values_{as_text}"
        query = cls.__dict__.get(key)
        if query is None:
            query = values_query(cls.queryset, cls.columns, cls.times, as_text=as_text)
            setattr(cls, key, query)
        return query

    def fetch(self, queryset: QuerySet) -> list:
        """The rows of a page (the pagination reads them through this)."""
        rows = list(queryset)
        if self._text_times:
            restore_times(rows, self.times)
        return rows

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        if self.rows is None:
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        return self.get_paginated_response(type(self).rows(page))
