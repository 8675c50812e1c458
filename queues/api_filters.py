"""Query filters of the API's lists (django-filter), validated: a bad value is a 400 naming the parameter.

Time ranges are half-open: ``*_after`` includes the instant, ``*_before`` excludes it, so consecutive
windows neither overlap nor leave gaps.
"""

import copy
from typing import Any

import django_filters as filters
from django import forms
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request

from classifiers.models import ModelVersion, PolicyCategory, Score
from queues.models import Decision, Item, Label, Queue, QueueEntry

MAX_ID = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT64)
class IdFilter(filters.NumberFilter):
    """An id: a whole number in the database's range (django-filter's NumberFilter takes decimals)."""

    field_class = forms.IntegerField

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
    field_class = _StrictBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


def _after(field: str) -> filters.IsoDateTimeFilter:
    return filters.IsoDateTimeFilter(field_name=field, lookup_expr="gte", help_text="At or after (ISO 8601).")


def _before(field: str) -> filters.IsoDateTimeFilter:
    return filters.IsoDateTimeFilter(field_name=field, lookup_expr="lt", help_text="Strictly before (ISO 8601).")


def _exists(sql: str, params: list[Any]) -> RawSQL:
    """``EXISTS (sql)`` as a filter condition. The list filters that need a correlated subquery write it
    in SQL: building and compiling the same ``Exists(QuerySet)`` cost ~1.5 ms of each filtered page's CPU."""
    return RawSQL(f"EXISTS ({sql})", params, output_field=BooleanField())


def queue_by_id_or_slug(value: str) -> Queue:
    queue = None
    if value.isdigit() and int(value) <= MAX_ID:
        queue = Queue.objects.filter(pk=int(value)).first()
    queue = queue or Queue.objects.filter(slug=value).first()
    if queue is None:
        raise serializers.ValidationError({"queue": [f"No queue with the id or slug {value!r}."]})
    return queue


def category_by_slug(value: str, *, parameter: str = "category") -> PolicyCategory:
    category = PolicyCategory.objects.filter(slug=value).first()
    if category is None:
        known = ", ".join(PolicyCategory.objects.values_list("slug", flat=True))
        raise serializers.ValidationError({parameter: [f"Unknown category {value!r}. Known: {known}."]})
    return category


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


class ItemFilter(ListFilterSet):
    state = filters.ChoiceFilter(choices=Item.State.choices, help_text="The item's lifecycle state.")
    queue = filters.CharFilter(method="filter_queue", help_text="Queue id or slug: items that are or were in it.")
    source = filters.CharFilter(field_name="source", help_text="The sending platform or surface, exactly.")
    author = filters.CharFilter(field_name="author__external_id", help_text="The author's id on your platform.")
    category = filters.CharFilter(
        method="keep_category", help_text="Category slug that `score_min`/`score_max` apply to (required with them)."
    )
    score_min = filters.NumberFilter(
        method="keep_score", min_value=0, max_value=1, help_text="Active model's probability ≥ this (0-1)."
    )
    score_max = filters.NumberFilter(
        method="keep_score", min_value=0, max_value=1, help_text="Active model's probability ≤ this (0-1)."
    )
    created_after = _after("created_at")
    created_before = _before("created_at")
    updated_after = _after("updated_at")
    updated_before = _before("updated_at")

    class Meta:
        model = Item
        fields: list[str] = []

    def filter_queue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        queue = queue_by_id_or_slug(value)
        return queryset.filter(
            _exists(
                f"SELECT 1 FROM {QueueEntry._meta.db_table} e"
                f" WHERE e.item_id = {Item._meta.db_table}.id AND e.queue_id = %s",
                [queue.pk],
            )
        )

    # category, score_min and score_max make one condition, applied together in filter_queryset.
    def keep_category(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset

    def keep_score(self, queryset: QuerySet, name: str, value: float) -> QuerySet:
        return queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        low, high, slug = data.get("score_min"), data.get("score_max"), data.get("category")
        if low is None and high is None:
            return queryset
        if not slug:
            raise serializers.ValidationError({"category": ["Name the category that score_min/score_max apply to."]})
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"score_min": ["score_min is above score_max."]})
        sql = (
            f"SELECT 1 FROM {Score._meta.db_table} s JOIN {ModelVersion._meta.db_table} v ON v.id = s.model_version_id"
            f" WHERE s.item_id = {Item._meta.db_table}.id AND s.category_id = %s AND v.status = %s"
        )
        params: list[Any] = [category_by_slug(slug).pk, ModelVersion.Status.ACTIVE.value]
        if low is not None:
            sql, params = sql + " AND s.probability >= %s", [*params, float(low)]
        if high is not None:
            sql, params = sql + " AND s.probability <= %s", [*params, float(high)]
        return queryset.filter(_exists(sql, params))


class DecisionFilter(ListFilterSet):
    item = IdFilter(field_name="item_id", help_text="Decisions on this item.")
    queue = filters.CharFilter(method="filter_queue", help_text="Queue id or slug the decision was taken in.")
    reviewer = filters.CharFilter(field_name="reviewer__username", help_text="The reviewer's username.")
    action = filters.ChoiceFilter(choices=Decision.Action.choices)
    category = filters.CharFilter(method="filter_category", help_text="Decisions naming this category slug.")
    automatic = BooleanFilter(help_text="True: taken by a routing rule; false: by a person.")
    created_after = _after("created_at")
    created_before = _before("created_at")

    class Meta:
        model = Decision
        fields: list[str] = []

    def filter_queue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(entry__queue=queue_by_id_or_slug(value))

    def filter_category(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            _exists(
                f"SELECT 1 FROM {Decision.categories.through._meta.db_table} dc"
                f" WHERE dc.decision_id = {Decision._meta.db_table}.id AND dc.policycategory_id = %s",
                [category_by_slug(value).pk],
            )
        )


class LabelFilter(ListFilterSet):
    item = IdFilter(field_name="item_id", help_text="Labels of this item.")
    category = filters.CharFilter(method="filter_category", help_text="Labels of this category slug.")
    value = BooleanFilter(help_text="True: the item violates the category.")
    created_after = _after("created_at")
    created_before = _before("created_at")

    class Meta:
        model = Label
        fields: list[str] = []

    def filter_category(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(category=category_by_slug(value))
