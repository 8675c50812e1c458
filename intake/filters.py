"""Filters of the item list (GET /api/v1/items)."""

from typing import Any

import django_filters as filters
from django.db.models import QuerySet

from api.errors import UnknownReference
from api.filters import ListFilterSet, ProbabilityFilter, _after, _before, _exists, by_id_or_slug
from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Item


def category_by_slug(value: str, *, parameter: str = "category") -> PolicyCategory:
    category = PolicyCategory.objects.filter(slug=value).first()
    if category is None:
        known = ", ".join(PolicyCategory.objects.values_list("slug", flat=True))
        raise UnknownReference({parameter: [f"Unknown category {value!r}. Known: {known}."]})
    return category


class ItemFilter(ListFilterSet):
    state = filters.ChoiceFilter(choices=Item.State.choices, help_text="The item's lifecycle state.")
    queue = filters.CharFilter(method="filter_queue", help_text="Queue id or slug: items that are or were in it.")
    source = filters.CharFilter(field_name="source", help_text="The sending platform or surface, exactly.")
    author = filters.CharFilter(field_name="author__external_id", help_text="The author's id on your platform.")
    category = filters.CharFilter(
        method="keep_category",
        help_text="Category slug that `score_min`/`score_max` apply to (without it: any category).",
    )
    score_min = ProbabilityFilter(method="keep_score", help_text="Active model's probability ≥ this (0-1).")
    score_max = ProbabilityFilter(method="keep_score", help_text="Active model's probability ≤ this (0-1).")
    created_after = _after("created_at")
    created_before = _before("created_at")
    updated_after = _after("updated_at")
    updated_before = _before("updated_at")

    class Meta:
        model = Item
        fields: list[str] = []

    def filter_queue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Queues are a layer above intake: it reaches them through the ORM relation QueueEntry.item
        # (Item.entries), never by importing the queues app.
        entries = Item._meta.get_field("entries").related_model
        queues = entries._meta.get_field("queue").related_model
        queue = by_id_or_slug(queues, value, parameter="queue")
        return queryset.filter(
            _exists(
                f"SELECT 1 FROM {entries._meta.db_table} e"
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
        # Without a category the range applies to any category's score; an empty range matches nothing.
        # (Both are well-formed requests the schema allows, so neither is a 400.)
        sql = (
            f"SELECT 1 FROM {Score._meta.db_table} s JOIN {ModelVersion._meta.db_table} v ON v.id = s.model_version_id"
            f" WHERE s.item_id = {Item._meta.db_table}.id AND v.status = %s"
        )
        params: list[Any] = [ModelVersion.Status.ACTIVE.value]
        if slug:
            sql, params = sql + " AND s.category_id = %s", [*params, category_by_slug(slug).pk]
        if low is not None:
            sql, params = sql + " AND s.probability >= %s", [*params, float(low)]
        if high is not None:
            sql, params = sql + " AND s.probability <= %s", [*params, float(high)]
        return queryset.filter(_exists(sql, params))
