"""Events are written to the outbox in the transaction of the change they report, at each place they happen."""

import pytest
from django.db import transaction

from classifiers.services import register_model_version, set_model_version_status
from intake import events as intake_events
from intake.models import Item
from intake.payloads import ItemSubmission, ReportSubmission
from intake.submission import submit_items
from queues.enqueue import route_items
from queues.models import RoutingRule
from review.claims import claim_next_item, escalate_item
from review.decisions import record_decision
from tests.factories import enqueue, make_item, make_queue, make_user
from webhooks.models import Delivery, WebhookEvent
from webhooks.services import UnknownEventType, emit, emit_many

pytestmark = pytest.mark.django_db

URL = "https://tickets.example.com/hooks"


class Boom(Exception):
    pass


def submit(*external_ids: str) -> list:
    return submit_items(
        submissions=[
            ItemSubmission(source="helpdesk", external_id=e, text=f"secret words {e}", reports=[
                ReportSubmission(reason="spam", reporter_id="agent")])
            for e in external_ids
        ]
    )  # fmt: skip


def payloads(event_type: str) -> list[dict]:
    return list(WebhookEvent.objects.filter(type=event_type).order_by("id").values_list("payload", flat=True))


def test_an_event_gets_one_delivery_per_active_subscription_that_wants_its_type(subscribe):
    wants = subscribe(URL, ["decision.created", "item.created"])
    subscribe(URL, ["item.created"])
    subscribe(URL, ["decision.created"], is_active=False)
    event_id = emit(event_type="decision.created", payload={"decision_id": 1})
    assert event_id.startswith("msg_") and WebhookEvent.objects.get(event_id=event_id).payload == {"decision_id": 1}
    assert list(Delivery.objects.values_list("subscription", "state", "attempts")) == [(wants.pk, "pending", 0)]


def test_nobody_subscribed_costs_one_query_and_writes_nothing(subscribe, django_assert_num_queries):
    subscribe(URL, ["item.created"])

    def never_built():
        raise AssertionError("payloads were built although nobody subscribes")
        yield

    with django_assert_num_queries(1):
        assert emit_many(event_type="decision.created", payloads=never_built()) == []
    assert not WebhookEvent.objects.exists()


def test_an_unknown_event_type_is_a_programming_error():
    with pytest.raises(UnknownEventType):
        emit(event_type="decision.made", payload={})


def test_workers_are_told_only_after_commit(subscribe, django_capture_on_commit_callbacks, sent_tasks):
    sent = sent_tasks["webhooks.tasks.deliver"]
    subscribe(URL, ["item.created"])
    with django_capture_on_commit_callbacks(execute=True):
        submit("a", "b")
        assert Delivery.objects.count() == 2 and sent == []  # written inside the transaction, not yet sent
    assert sent == [list(Delivery.objects.order_by("id").values_list("id", flat=True))]


def test_a_rolled_back_change_leaves_no_event(subscribe):
    subscribe(URL, ["item.created"])
    with pytest.raises(Boom), transaction.atomic():
        submit("rolled-back")
        assert WebhookEvent.objects.count() == 1
        raise Boom
    assert not Item.objects.exists()
    assert not WebhookEvent.objects.exists() and not Delivery.objects.exists()


def test_each_new_item_is_announced_once_by_its_source_and_external_id_without_its_content(subscribe):
    subscribe(URL, ["item.created"])
    first = submit("t-1", "t-2")
    submit("t-1")  # a repeat report of the same ticket: no new item, no new event
    assert [(p["item_id"], p["source"], p["external_id"], p["report_count"]) for p in payloads("item.created")] == [
        (first[0].item_id, "helpdesk", "t-1", 1),
        (first[1].item_id, "helpdesk", "t-2", 1),
    ]
    assert "secret words" not in str(payloads("item.created"))


def test_a_decision_carries_action_categories_reviewer_and_queue(subscribe):
    subscribe(URL, ["decision.created"])
    mira = make_user(username="mira")
    queue = make_queue(members=[mira], name="Scams & spam")
    item = Item.objects.get(pk=submit("t-9")[0].item_id)
    enqueue(item, queue)
    claim = claim_next_item(queue=queue, user=mira)
    [decision] = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=mira, action="remove", categories=["spam", "scam_fraud"]
    )
    [payload] = payloads("decision.created")
    assert payload | {"decided_at": None} == {
        "item_id": item.pk, "source": "helpdesk", "external_id": "t-9", "decision_id": decision.pk,
        "action": "remove", "categories": ["scam_fraud", "spam"], "automatic": False, "second_review": False,
        "reviewer": "mira", "queue": "Scams & spam", "decided_at": None,
    }  # fmt: skip
    assert payload["decided_at"].startswith(str(decision.created_at.date()))


def test_an_escalation_says_from_where_to_where_and_who(subscribe):
    subscribe(URL, ["item.escalated", "decision.created"])
    mira = make_user(username="mira")
    queue, seniors = make_queue(members=[mira], name="General"), make_queue(name="Escalations")
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    escalate_item(entry_id=claim.entry_id, token=claim.token, user=mira, to_queue=seniors, note="threat?")
    [payload] = payloads("item.escalated")
    assert (payload["from_queue"], payload["to_queue"], payload["escalated_by"]) == ("General", "Escalations", "mira")
    assert "threat?" not in str(payload)
    assert payloads("decision.created") == []  # an escalation is not a decision on the content


def test_routing_announces_each_destination_and_automatic_decisions(subscribe):
    subscribe(URL, ["item.routed", "decision.created"])
    RoutingRule.objects.create(name="approve all", position=1, action="auto_approve", conditions=[])
    item = Item.objects.get(pk=submit("t-5")[0].item_id)
    Item.objects.filter(pk=item.pk).update(state=Item.State.SCORED)
    route_items(item_ids=[item.pk])
    [routed] = payloads("item.routed")
    assert (routed["external_id"], routed["action"], routed["queue"]) == ("t-5", "auto_approve", None)
    [decided] = payloads("decision.created")
    assert (decided["action"], decided["automatic"], decided["reviewer"]) == ("no_violation", True, None)


def test_scoring_announces_the_items_it_recorded(subscribe):
    subscribe(URL, ["item.scored"])
    ids = [result.item_id for result in submit("s-1", "s-2", "s-3")]
    from django.utils import timezone

    now = timezone.now()
    Item.objects.filter(pk=ids[0]).update(state=Item.State.SCORED, scored_at=now)
    Item.objects.filter(pk=ids[1]).update(state=Item.State.FAILED, scored_at=now, failure_reason="The text is empty")
    intake_events.items_scored(item_ids=ids, scored_at=now)  # ids[2] was not scored by this call
    assert [(p["external_id"], p["failed"]) for p in payloads("item.scored")] == [("s-1", False), ("s-2", True)]


def test_scoring_without_subscribers_reads_no_items(django_assert_num_queries):
    # Every scoring batch announces its items; with nobody subscribed that costs the subscriber lookup only.
    ids = [result.item_id for result in submit("n-1", "n-2")]
    from django.utils import timezone

    now = timezone.now()
    Item.objects.filter(pk__in=ids).update(state=Item.State.SCORED, scored_at=now)
    with django_assert_num_queries(1):
        intake_events.items_scored(item_ids=ids, scored_at=now)
    assert not WebhookEvent.objects.exists()


def test_promoting_a_model_announces_it_once(subscribe):
    subscribe(URL, ["model.promoted"])
    candidate = register_model_version(name="text-2", kind="text", architecture="all-MiniLM-L6-v2")
    set_model_version_status(version=candidate, status="shadow")
    set_model_version_status(version=candidate, status="active", actor=make_user(username="ada"))
    set_model_version_status(version=candidate, status="active")  # already active: nothing new
    [payload] = payloads("model.promoted")
    assert (payload["model_version_id"], payload["kind"], payload["promoted_by"]) == (candidate.pk, "text", "ada")
