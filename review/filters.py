"""Filters of the decision and label lists."""

import django_filters as filters
from django.db.models import QuerySet

from api.filters import BooleanFilter, IdFilter, ListFilterSet, _after, _before, _exists, by_id_or_slug
from intake.filters import category_by_slug
from queues.models import Decision, Queue
from review.models import Label


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
        return queryset.filter(entry__queue=by_id_or_slug(Queue, value, parameter="queue"))

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
