import pytest

from intake.models import Item
from queues.enqueue import load_rules
from queues.models import Queue, RoutingRule
from queues.routing import Rule
from queues.routing_preview import diff_destinations, preview_routing_diff
from tests.factories import make_item


def test_only_items_that_change_destination_are_counted_grouped_by_move():
    now = {1: "Spam", 2: "Spam", 3: "Images", 4: "Spam"}
    edited = {1: "Priority", 2: "Priority", 3: "Images", 4: "auto-removed"}
    moves = diff_destinations(now, edited)
    assert [(m.source, m.target, m.count, m.sample_item_ids) for m in moves] == [
        ("Spam", "Priority", 2, [2, 1]),
        ("Spam", "auto-removed", 1, [4]),
    ]


@pytest.mark.django_db
def test_a_new_rule_shows_what_moves_from_todays_routing():
    priority = Queue.objects.create(name="Priority", slug="priority")
    fallback = Queue.objects.get(is_default=True)
    items = [make_item(text=f"t{n}") for n in range(3)]
    Item.objects.filter(pk__in=[i.pk for i in items]).update(state=Item.State.QUEUED, source="vip")
    plain = make_item(text="plain")
    Item.objects.filter(pk=plain.pk).update(state=Item.State.QUEUED)
    candidate = Rule(id=0, conditions=[{"field": "source", "op": "==", "value": "vip"}], queue_id=priority.pk)
    diff = preview_routing_diff([*load_rules(), candidate], last_n=100)
    assert diff.items == 4 and diff.moved == 3
    [move] = diff.moves
    assert (move.source, move.target, move.count) == (fallback.name, "Priority", 3)
    # With the rule saved, the same preview shows no change.
    RoutingRule.objects.create(name="vip", conditions=candidate.conditions, queue=priority)
    assert preview_routing_diff(load_rules(), last_n=100).moves == []
