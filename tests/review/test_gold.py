"""Gold items: mixed into queues at their rate, scored against the known answer, never labels, never tellable."""

import random
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from classifiers.models import PolicyCategory
from intake.models import Item, Report
from queues import gold as gold_mixing
from queues.enqueue import route_items
from queues.models import Decision, GoldItem, Queue, QueueEntry
from review import qa
from review.claims import claim_next_item
from review.decisions import record_decision
from review.models import GoldAnswer, Label
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return make_user(username="ada")


@pytest.fixture
def queue(ada):
    return make_queue(members=[ada], name="Scams & spam")


def make_gold(*, action="remove", categories=("spam",), text=None, **item_fields) -> GoldItem:
    item = make_item(text=text, **item_fields)
    Item.objects.filter(pk=item.pk).update(state=Item.State.DECIDED)
    gold = GoldItem.objects.create(item=item, expected_action=action, note="GOLD-NOTE: textbook spam")
    gold.expected_categories.set(PolicyCategory.objects.filter(slug__in=categories))
    return gold


def serve_gold(gold: GoldItem, queue: Queue, sort_key: float = 0.0) -> QueueEntry:
    state = Item.objects.get(pk=gold.item_id).state
    entry = enqueue(gold.item, queue, sort_key=sort_key, selection=QueueEntry.Selection.GOLD)
    Item.objects.filter(pk=gold.item_id).update(state=state)  # as routing does: a gold item keeps its state
    return entry


def answer(queue, user, *, action, categories=()):
    claim = claim_next_item(queue=queue, user=user)
    [decision] = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=user, action=action, categories=list(categories)
    )
    return decision


def test_gold_entries_come_at_the_configured_share_of_routed_volume(queue):
    queue.gold_rate = 0.2
    routed = [enqueue(make_item(), queue, sort_key=float(i)) for i in range(200)]
    for _ in range(200):
        make_gold()
    gold = gold_mixing.gold_entries_for(routed, queues={queue.pk: queue}, severities={}, rng=random.Random(7))
    # r / (1 - r) = 0.25 gold per routed item, so gold is 20 % of what is served: 50 expected, sd ~6.
    assert 30 <= len(gold) <= 70
    assert len({entry.item_id for entry in gold}) == len(gold)
    assert {entry.selection for entry in gold} == {"gold"}
    assert {entry.sort_key for entry in gold} <= {entry.sort_key for entry in routed}
    assert gold_mixing.gold_share_per_routed(0.0) == 0.0 and gold_mixing.gold_share_per_routed(0.5) == 1.0


def test_routing_inserts_gold_next_to_routed_items_without_reusing_open_ones():
    default = Queue.objects.get(is_default=True)
    default.gold_rate = 0.5  # one gold entry per routed item, while gold items last
    default.save()
    golds = [make_gold(), make_gold()]
    serve_gold(golds[1], default)  # already waiting: not served twice
    items = [make_item() for _ in range(3)]
    Item.objects.filter(pk__in=[i.pk for i in items]).update(state=Item.State.SCORED)
    route_items(item_ids=[i.pk for i in items])
    mixed = QueueEntry.objects.filter(queue=default, selection="gold", status="pending")
    assert sorted(mixed.values_list("item_id", flat=True)) == sorted(g.item_id for g in golds)
    fresh = mixed.get(item_id=golds[0].item_id)
    routed_keys = set(QueueEntry.objects.filter(item__in=items).values_list("sort_key", flat=True))
    assert fresh.sort_key in routed_keys
    assert Item.objects.get(pk=golds[0].item_id).state == "decided"  # a gold item keeps its own state


def test_no_gold_without_a_rate_and_none_for_a_queue_the_item_is_not_allowed_in(queue):
    other = make_queue(name="Images")
    gold = make_gold()
    gold.queues.set([other])
    routed = [enqueue(make_item(), queue) for _ in range(5)]
    assert gold_mixing.gold_entries_for(routed, queues={queue.pk: queue}, severities={}) == []
    queue.gold_rate = 0.5
    assert gold_mixing.gold_entries_for(routed, queues={queue.pk: queue}, severities={}) == []


def test_a_gold_answer_writes_no_labels_and_records_whether_it_was_right(queue, ada):
    gold = make_gold(action="remove", categories=("spam",))
    serve_gold(gold, queue)
    right = answer(queue, ada, action="remove", categories=["spam"])
    serve_gold(gold, queue)
    wrong = answer(queue, ada, action="remove", categories=["spam", "scam_fraud"])
    serve_gold(gold, queue)
    missed = answer(queue, ada, action="no_violation")
    assert not Label.objects.filter(item=gold.item).exists()
    results = {
        d.pk: (a.action_correct, a.categories_correct, a.correct)
        for d in (right, wrong, missed)
        for a in [GoldAnswer.objects.get(decision=d)]
    }
    assert results == {
        right.pk: (True, True, True),
        wrong.pk: (True, False, False),
        missed.pk: (False, False, False),
    }
    event = AuditEvent.objects.filter(action="decision.created", object_id=str(right.pk)).get()
    assert event.after["gold"]["correct"] is True
    assert Item.objects.get(pk=gold.item_id).state == "decided"


def test_gold_answers_are_not_sampled_for_qa(queue, ada):
    seniors = Group.objects.create(name="Senior moderators")
    seniors.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    sam = make_user(username="sam")
    sam.groups.add(seniors)
    queue.members.add(sam)
    serve_gold(make_gold(), queue)
    decision = answer(queue, ada, action="remove", categories=["spam"])
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert qa.next_sample(user=sam) is None
    with pytest.raises(qa.NotReviewable):
        qa.check_reviewable(decision=Decision.objects.select_related("entry").get(pk=decision.pk), user=sam)


def _normalised(html: str) -> str:
    html = re.sub(r'(csrfmiddlewaretoken" value=|X-CSRFToken": )"[^"]*"', r'\1"…"', html)
    return re.sub(r"\d+", "N", html)


def test_a_gold_item_renders_exactly_like_the_same_item_served_normally(queue, ada):
    item = make_item(text="Claim your prize now: send your card number")
    Report.objects.create(item=item, reason="spam", reported_at=timezone.now(), fingerprint="r1")
    client = Client()
    client.force_login(ada)
    routed = enqueue(item, queue)
    as_routed = client.get(f"/queues/{queue.slug}/", follow=True).content.decode()
    QueueEntry.objects.filter(pk=routed.pk).update(status="done", closed_at=timezone.now())
    gold = GoldItem.objects.create(item=item, expected_action="remove", note="GOLD-NOTE")
    gold.expected_categories.set(PolicyCategory.objects.filter(slug="spam"))
    serve_gold(gold, queue)
    as_gold = client.get(f"/queues/{queue.slug}/", follow=True).content.decode()
    assert "Claim your prize now" in as_gold
    assert "gold" not in as_gold.lower() and "GOLD-NOTE" not in as_gold
    assert _normalised(as_gold) == _normalised(as_routed)


def test_an_old_gold_item_shows_its_time_in_the_queue_not_its_age(queue, ada):
    gold = make_gold(text="An old classic")
    Item.objects.filter(pk=gold.item_id).update(created_at=timezone.now() - timedelta(days=90))
    serve_gold(gold, queue)
    client = Client()
    client.force_login(ada)
    html = client.get(f"/queues/{queue.slug}/", follow=True).content.decode()
    meta = re.search(r'<div class="meta">(.*?)</div>', html, re.S).group(1)
    assert "An old classic" in html and "0\xa0minutes ago" in meta and "month" not in meta


def test_admins_manage_gold_items_and_every_change_is_audited(client):
    admin = make_user(username="root", is_staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    item = make_item()
    spam = PolicyCategory.objects.get(slug="spam")
    url = "/admin/queues/golditem/add/"
    refused = client.post(url, {"item": item.pk, "expected_action": "remove", "active": "on"})
    assert refused.status_code == 200 and "A removal needs at least one category" in refused.content.decode()
    response = client.post(
        url, {"item": item.pk, "expected_action": "remove", "expected_categories": [spam.pk], "active": "on"}
    )
    assert response.status_code == 302
    gold = GoldItem.objects.get(item=item)
    assert gold.created_by == admin and list(gold.expected_categories.all()) == [spam]
    event = AuditEvent.objects.get(action="golditem.created")
    assert event.after["expected_categories"] == [spam.pk]
