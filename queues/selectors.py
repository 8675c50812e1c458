"""Reads that views and the API share."""

from django.db.models import Count

from queues.models import Item


def item_state_counts() -> list[tuple[str, int]]:
    """How many items are in each lifecycle state, in lifecycle order, zeros included."""
    counts = dict(Item.objects.order_by().values_list("state").annotate(n=Count("id")))
    return [(label, counts.get(value, 0)) for value, label in Item.State.choices]
