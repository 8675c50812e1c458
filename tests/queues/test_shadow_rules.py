from django.urls import reverse

from intake.models import Item
from queues.enqueue import route_items
from queues.models import Queue, QueueEntry, RoutingRule, ShadowRouting
from queues.routing import ItemFacts, Rule, shadow_decision
from tests.factories import make_item, make_user

VIP = [{"field": "source", "op": "==", "value": "vip"}]


def test_a_shadow_rule_matches_only_what_earlier_live_rules_leave():
    facts = ItemFacts(item_id=1, kind="text", source="vip")
    shadow = Rule(id=9, conditions=VIP, queue_id=3)
    earlier = Rule(id=1, conditions=[{"field": "kind", "op": "==", "value": "text"}], queue_id=2)
    assert shadow_decision(facts, [earlier], shadow, before_rule_ids=set(), default_queue_id=1).queue_id == 3
    assert shadow_decision(facts, [earlier], shadow, before_rule_ids={1}, default_queue_id=1) is None
    other = ItemFacts(item_id=2, kind="text", source="web")
    assert shadow_decision(other, [], shadow, before_rule_ids=set(), default_queue_id=1) is None


def test_routing_records_what_a_shadow_rule_would_have_done_and_acts_on_nothing(db):
    priority = Queue.objects.create(name="Priority", slug="priority")
    fallback = Queue.objects.get(is_default=True)
    rule = RoutingRule.objects.create(name="vip", conditions=VIP, queue=priority, is_shadow=True)
    vip, other = make_item(text="a"), make_item(text="b")
    Item.objects.filter(pk=vip.pk).update(source="vip")
    Item.objects.filter(pk__in=[vip.pk, other.pk]).update(state=Item.State.SCORED)
    route_items(item_ids=[vip.pk, other.pk])
    assert set(QueueEntry.objects.values_list("queue_id", flat=True)) == {fallback.pk}  # acted on nothing
    [row] = ShadowRouting.objects.all()
    assert (row.rule_id, row.item_id, row.would_queue_id, row.live_queue_id) == (
        rule.pk,
        vip.pk,
        priority.pk,
        fallback.pk,
    )


def test_the_rule_list_shows_would_have_counts_beside_live_rules(client, db):
    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    priority = Queue.objects.create(name="Priority", slug="priority")
    rule = RoutingRule.objects.create(name="vip shadow", conditions=VIP, queue=priority, is_shadow=True)
    RoutingRule.objects.create(name="live one", conditions=[], queue=priority)
    for n in range(3):
        ShadowRouting.objects.create(rule=rule, item_id=n, would_action="route", would_queue=priority)
    client.force_login(admin)
    body = client.get(reverse("admin:queues_routingrule_changelist")).content.decode()
    assert '<td class="field-would_have">3</td>' in body
    page = client.get(reverse("admin:queues_routingrule_change", args=[rule.pk])).content.decode()
    assert "would have sent new items" in page and 'id="rule-fields"' in page
