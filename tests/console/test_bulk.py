from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from console import bulk
from console.models import BulkAction, BulkActionItem
from intake.models import Item
from queues.models import Decision, QueueEntry
from review import claims, decisions
from review.models import Label
from tests.factories import enqueue, make_item, make_user
from webhooks.models import WebhookEvent, WebhookSubscription


def _start(lead, items, **verdict):
    verdict = {"action": "remove", "categories": ["spam"]} | verdict
    return bulk.start_bulk_decision(user=lead, item_ids=[i.pk for i in items], **verdict)


def test_each_item_gets_its_own_decision_labels_audit_event_and_webhook(team, lead):
    WebhookSubscription.objects.create(url="https://tickets.example/hooks", event_types=["decision.created"])
    started = _start(lead, team["items"], note="spam wave")
    done = bulk.run_bulk_action(bulk_action_id=started.pk)
    assert (done.state, done.processed, done.succeeded) == ("done", 3, 3)
    decisions = Decision.objects.filter(item__in=team["items"])
    assert decisions.count() == 3
    assert {d.reviewer_id for d in decisions} == {lead.pk} and {d.note for d in decisions} == {"spam wave"}
    assert Label.objects.filter(decision__in=decisions, value=True, category__slug="spam").count() == 3
    assert AuditEvent.objects.filter(action="decision.created").count() == 3
    assert WebhookEvent.objects.filter(type="decision.created").count() == 3
    assert set(Item.objects.filter(pk__in=[i.pk for i in team["items"]]).values_list("state", flat=True)) == {"decided"}
    assert set(BulkActionItem.objects.values_list("outcome", flat=True)) == {"decided"}


def test_an_item_the_lead_may_not_see_refuses_the_whole_action_and_writes_nothing(team, lead):
    with pytest.raises(bulk.BulkRefused, match="1 of the 4 items"):
        _start(lead, [*team["items"], team["hidden"]])
    assert not BulkAction.objects.exists() and not Decision.objects.exists()


def test_without_the_permission_nothing_is_started(team):
    member = make_user()
    team["queue"].members.add(member)
    with pytest.raises(bulk.BulkRefused, match="permission"):
        _start(member, team["items"])
    assert not BulkAction.objects.exists()


def test_a_malformed_verdict_is_refused_before_anything_is_written(team, lead):
    with pytest.raises(bulk.BulkInvalid, match="at least one policy category"):
        _start(lead, team["items"], categories=[])
    with pytest.raises(bulk.BulkInvalid, match="Unknown categories: nope"):
        _start(lead, team["items"], categories=["nope"])
    assert not BulkAction.objects.exists()


def test_items_that_cannot_be_decided_fail_alone_with_the_reason(team, lead):
    held, decided, fine = team["items"]
    other = make_user()
    team["queue"].members.add(other)
    claim = claims.claim_next_item(queue=team["queue"], user=other)
    assert claim.item_id == held.pk
    QueueEntry.objects.filter(item=decided).update(status="done")
    done = bulk.run_bulk_action(bulk_action_id=_start(lead, team["items"]).pk)
    assert (done.processed, done.succeeded) == (3, 1)
    reasons = dict(BulkActionItem.objects.values_list("item_id", "reason"))
    assert "Another reviewer holds it" in reasons[held.pk]
    assert "Not waiting in a queue" in reasons[decided.pk]
    assert Decision.objects.get().item_id == fine.pk
    # The other reviewer's lease is untouched: they can still decide their item.
    decisions.record_decision(
        entry_id=claim.entry_id, token=claim.token, user=other, action="no_violation", categories=[]
    )


def test_a_redelivered_task_decides_nothing_twice(team, lead):
    started = _start(lead, team["items"])
    bulk.run_bulk_action(bulk_action_id=started.pk)
    again = bulk.run_bulk_action(bulk_action_id=started.pk)
    assert again.processed == 3 and Decision.objects.count() == 3


def test_undo_puts_every_item_back_in_its_queue_and_keeps_the_audit_trail(team, lead):
    started = _start(lead, team["items"])
    bulk.run_bulk_action(bulk_action_id=started.pk)
    undone = bulk.undo_bulk_action(bulk_action_id=started.pk, user=lead)
    assert undone.state == "undone"
    assert not Decision.objects.exists() and not Label.objects.exists()
    entries = QueueEntry.objects.filter(item__in=team["items"])
    assert set(entries.values_list("status", flat=True)) == {"pending"}
    assert set(entries.values_list("claimed_by", flat=True)) == {None}
    assert AuditEvent.objects.filter(action="decision.undone").count() == 3
    assert AuditEvent.objects.filter(action="decision.created").count() == 3
    # The items can be claimed by reviewers again.
    assert claims.claim_next_item(queue=team["queue"], user=lead).item_id == team["items"][0].pk


def test_undo_is_refused_after_the_window_and_for_anyone_else(team, lead):
    started = _start(lead, team["items"])
    bulk.run_bulk_action(bulk_action_id=started.pk)
    with pytest.raises(bulk.BulkRefused):
        bulk.undo_bulk_action(bulk_action_id=started.pk, user=make_user())
    BulkAction.objects.filter(pk=started.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(bulk.BulkInvalid, match="can be undone for"):
        bulk.undo_bulk_action(bulk_action_id=started.pk, user=lead)
    assert Decision.objects.count() == 3


def test_a_lead_removed_from_the_queue_mid_run_stops_deciding_its_items(team, lead):
    started = _start(lead, team["items"])
    team["queue"].members.remove(lead)
    done = bulk.run_bulk_action(bulk_action_id=started.pk)
    assert done.succeeded == 0 and not Decision.objects.exists()


def test_gold_and_second_review_entries_are_left_to_one_by_one_review(team, lead):
    item = make_item()
    enqueue(item, team["queue"], selection=QueueEntry.Selection.GOLD)
    done = bulk.run_bulk_action(bulk_action_id=_start(lead, [item]).pk)
    assert done.succeeded == 0
    assert "decided one by one" in BulkActionItem.objects.get().reason


def test_a_bulk_decision_writes_the_same_records_as_a_decision_made_alone(team, lead):
    WebhookSubscription.objects.create(url="https://tickets.example/hooks", event_types=["decision.created"])
    alone, *rest = team["items"]
    claim = claims.claim_next_item(queue=team["queue"], user=lead)
    assert claim.item_id == alone.pk
    decisions.record_decision(
        entry_id=claim.entry_id, token=claim.token, user=lead, action="remove", categories=["spam"]
    )
    bulk.run_bulk_action(bulk_action_id=_start(lead, rest).pk)

    def shape(item):
        decision = Decision.objects.get(item=item)
        audit = AuditEvent.objects.get(action="decision.created", object_id=str(decision.pk))
        event = WebhookEvent.objects.get(payload__decision_id=decision.pk)
        labels = sorted(Label.objects.filter(decision=decision).values_list("category__slug", "value", "queue_id"))
        payload = {k: v for k, v in event.payload.items() if k not in {"item_id", "external_id", "decision_id"}}
        payload.pop("decided_at")
        after = {k: v for k, v in audit.after.items() if k != "item"}
        return labels, after, payload, decision.action, list(decision.categories.values_list("slug", flat=True))

    assert shape(rest[0]) == shape(alone)


def test_when_the_chunk_fails_unexpectedly_items_are_decided_one_by_one(team, lead, monkeypatch):
    from django.db import DatabaseError

    def broken(*args, **kwargs):
        raise DatabaseError("something nobody checked for")

    monkeypatch.setattr(bulk, "decide_entries", broken)
    done = bulk.run_bulk_action(bulk_action_id=_start(lead, team["items"]).pk)
    assert (done.processed, done.succeeded) == (3, 3)
    assert Decision.objects.count() == 3 and AuditEvent.objects.filter(action="decision.created").count() == 3


def test_second_reviews_are_drawn_per_item_and_withdrawn_by_undo(team, lead):
    team["queue"].second_review_rate = 1.0
    team["queue"].save()
    started = _start(lead, team["items"])
    bulk.run_bulk_action(bulk_action_id=started.pk)
    second = QueueEntry.objects.filter(selection=QueueEntry.Selection.SECOND_REVIEW, excluded_reviewer=lead)
    assert second.count() == 3
    bulk.undo_bulk_action(bulk_action_id=started.pk, user=lead)
    assert not second.exists()
    assert QueueEntry.objects.filter(item__in=team["items"], status="pending").count() == 3
