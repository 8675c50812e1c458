"""Shared pieces of the list endpoints' filters: strict id and boolean filters, date ranges, EXISTS conditions,
and a FilterSet and backend that skip django-filter's per-request setup."""

import copy
from datetime import UTC, datetime
from typing import Any

import django_filters as filters
from django import forms
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.request import Request

from api.errors import UnknownReference

MAX_ID = 2**63 - 1


def _present(field_class: type[forms.Field], message: str) -> type[forms.Field]:
    """``field_class``, refusing a parameter that is present but empty (``item=``) with ``message``, where
    Django's field reads it as 'no filter': no number, boolean or date-time of the schema includes ""."""

    class Present(field_class):
        def clean(self, value: Any) -> Any:
            if value == "":
                raise forms.ValidationError(message, code="invalid")
            return super().clean(value)

    Present.__name__ = f"Present{field_class.__name__}"
    return Present


# The schema states the bounds the filter enforces, so a client (and schemathesis) knows a 0 or a negative id is a 400.
@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """An id: a whole number in the database's range (django-filter's NumberFilter takes decimals)."""

    field_class = _present(forms.IntegerField, "Give an id, or leave the parameter out.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _StrictBooleanField(forms.Field):
    """true/false (or 1/0); anything else is an error, where Django's field quietly reads it as 'no filter'."""

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if str(value).lower() in {"true", "1"}:
            return True
        if str(value).lower() in {"false", "0"}:
            return False
        raise forms.ValidationError("Use true or false.", code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class BooleanFilter(filters.BooleanFilter):
    field_class = _present(_StrictBooleanField, "Use true or false, or leave the parameter out.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


# A probability; the schema states the bounds the filter enforces.
@extend_schema_field({"type": "number", "minimum": 0, "maximum": 1})
class ProbabilityFilter(filters.NumberFilter):
    field_class = _present(forms.DecimalField, "Give a number from 0 to 1, or leave the parameter out.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, min_value=0, max_value=1, **kwargs)


class _UtcDateTimeField(_present(IsoDateTimeField, "Give a date-time (ISO 8601), or leave the parameter out.")):
    """An ISO 8601 date-time, read in UTC."""

    def clean(self, value: Any) -> Any:
        moment = super().clean(value)
        # In UTC: RFC 3339 allows offsets up to 23:59, PostgreSQL only to 15:59 (a 500 before, schemathesis).
        try:
            return moment.astimezone(UTC) if moment is not None and moment.tzinfo else moment
        except OverflowError:
            # Past the calendar's ends in UTC (0001-01-01T00:30+01:00, 9999-12-31T23:30-01:00): a well-formed
            # time before (after) every stored one, so the calendar's first (last) moment filters alike.
            return datetime.min.replace(tzinfo=UTC) if moment.year == 1 else datetime.max.replace(tzinfo=UTC)


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = _UtcDateTimeField


def _after(field: str) -> DateTimeFilter:
    return DateTimeFilter(field_name=field, lookup_expr="gte", help_text="At or after (ISO 8601).")


def _before(field: str) -> DateTimeFilter:
    return DateTimeFilter(field_name=field, lookup_expr="lt", help_text="Strictly before (ISO 8601).")


def _exists(sql: str, params: list[Any]) -> RawSQL:
    """``EXISTS (sql)`` as a filter condition. The list filters that need a correlated subquery write it
    in SQL: building and compiling the same ``Exists(QuerySet)`` cost ~1.5 ms of each filtered page's CPU."""
    return RawSQL(f"EXISTS ({sql})", params, output_field=BooleanField())


class ListFilterSet(filters.FilterSet):
    """django-filter's FilterSet, less the per-request setup that depends only on the class.

    django-filter deep-copies every filter (with its choices and options) and builds a form field
    for each and a form class from them on every request: about 1 ms for the item list's twelve
    filters. Here the form class is built once per class, and each request gets shallow copies of
    the filters: nothing changes a filter's options, only its ``parent`` (which method filters call
    back into) and ``model`` are per request.
    """

    def __init__(
        self, data: Any = None, queryset: QuerySet | None = None, *, request: Any = None, prefix: str | None = None
    ) -> None:
        # django-filter's BaseFilterSet.__init__, with shallow copies of the filters.
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {}
        for name, base in self.base_filters.items():
            filter_ = copy.copy(base)
            if base.method is not None:
                filter_.method = base.method  # a new FilterMethod, bound to the copy and so to this filter set
            filter_.model, filter_.parent = queryset.model, self
            self.filters[name] = filter_

    def get_form_class(self) -> type[forms.Form]:
        cls = type(self)
        form_class = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            cls._form_class = form_class
        return form_class


class ListFilterBackend(DjangoFilterBackend):
    """django-filter's backend, with no filter set at all for a request that names none of its filters."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and filterset_class.base_filters.keys().isdisjoint(request.query_params):
            return queryset  # what the filter set would give: every filter is optional
        return super().filter_queryset(request, queryset, view)


def by_id_or_slug(model: type, value: str, *, parameter: str) -> Any:
    """The row of ``model`` a caller names by its id or its slug; a 404 naming ``parameter`` when there is none."""
    found = model.objects.filter(pk=int(value)).first() if value.isdigit() and int(value) <= MAX_ID else None
    found = found or model.objects.filter(slug=value).first()
    if found is None:
        raise UnknownReference({parameter: [f"No {model._meta.verbose_name} with the id or slug {value!r}."]})
    return found
