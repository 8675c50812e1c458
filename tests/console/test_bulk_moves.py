"""Bulk moves and escalations (console.bulk_moves): the same whole-or-nothing checks as bulk decisions, each
item moved as if one by one, progress, and undo for moves."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from console import bulk, bulk_moves
from console.models import BulkAction, BulkActionItem
from queues.models import Decision, QueueEntry
from review import claims
from tests.factories import make_queue, make_user
from webhooks.models import WebhookEvent, WebhookSubscription


@pytest.fixture
def second_queue(lead):
    return make_queue(members=[lead], name="Second look")


def _start(lead, items, to_queue, kind="move", note=""):
    return bulk_moves.start_bulk_move(
        user=lead, item_ids=[i.pk for i in items], kind=kind, to_queue=to_queue.slug, note=note
    )


def _open_queues(items):
    return {e.item_id: e.queue_id for e in QueueEntry.objects.filter(item__in=items, status__in=["pending", "claimed"])}


def test_a_move_sends_each_item_to_the_queue_keeping_its_clock_and_undo_brings_it_back(team, lead, second_queue):
    before = {e.item_id: e.enqueued_at for e in QueueEntry.objects.filter(item__in=team["items"])}
    done = bulk_moves.run_bulk_move(bulk_action_id=_start(lead, team["items"], second_queue).pk)
    assert (done.state, done.processed, done.succeeded) == ("done", 3, 3)
    assert set(_open_queues(team["items"]).values()) == {second_queue.pk}
    moved = QueueEntry.objects.filter(item__in=team["items"], queue=second_queue)
    assert {e.item_id: e.enqueued_at for e in moved} == before
    assert AuditEvent.objects.filter(action="item.moved").count() == 3
    assert not Decision.objects.exists()

    bulk_moves.undo_bulk_move(bulk_action_id=done.pk, user=lead)
    assert set(_open_queues(team["items"]).values()) == {team["queue"].pk}
    assert set(BulkActionItem.objects.values_list("outcome", flat=True)) == {"undone"}
    assert BulkAction.objects.get(pk=done.pk).state == "undone"


def test_an_item_someone_holds_after_the_move_stays_where_it_is_on_undo(team, lead, second_queue):
    done = bulk_moves.run_bulk_move(bulk_action_id=_start(lead, team["items"], second_queue).pk)
    reviewer = make_user()
    second_queue.members.add(reviewer)
    held = claims.claim_next_item(queue=second_queue, user=reviewer)
    bulk_moves.undo_bulk_move(bulk_action_id=done.pk, user=lead)
    assert QueueEntry.objects.get(pk=held.entry_id).status == "claimed"
    assert QueueEntry.objects.get(pk=held.entry_id).queue_id == second_queue.pk
    others = [i for i in team["items"] if i.pk != held.item_id]
    assert set(_open_queues(others).values()) == {team["queue"].pk}
    assert "someone holds" in BulkActionItem.objects.get(item_id=held.item_id).reason


def test_a_queue_the_lead_does_not_work_or_a_hidden_item_refuses_the_whole_move(team, lead):
    with pytest.raises(bulk.BulkRefused, match="do not work the queue"):
        _start(lead, team["items"], team["other"])
    second = make_queue(members=[lead])
    with pytest.raises(bulk.BulkRefused, match="1 of the 4 items"):
        _start(lead, [*team["items"], team["hidden"]], second)
    with pytest.raises(bulk.BulkInvalid, match="no queue"):
        bulk_moves.start_bulk_move(user=lead, item_ids=[team["items"][0].pk], kind="move", to_queue="nowhere")
    assert not BulkAction.objects.exists() and not AuditEvent.objects.filter(action="item.moved").exists()


def test_items_already_in_the_target_or_held_by_others_fail_alone(team, lead, second_queue):
    reviewer = make_user()
    team["queue"].members.add(reviewer)
    held = claims.claim_next_item(queue=team["queue"], user=reviewer)
    done = bulk_moves.run_bulk_move(bulk_action_id=_start(lead, team["items"], second_queue).pk)
    assert (done.processed, done.succeeded) == (3, 2)
    assert "Another reviewer holds it" in BulkActionItem.objects.get(item_id=held.item_id).reason
    again = bulk_moves.run_bulk_move(bulk_action_id=_start(lead, team["items"], second_queue).pk)
    assert (
        again.succeeded == 0
        and "Already in that queue"
        in BulkActionItem.objects.filter(bulk_action=again, outcome="failed")
        .exclude(item_id=held.item_id)
        .first()
        .reason
    )


def test_a_bulk_escalation_is_the_work_views_escalation_per_item_and_needs_a_note(team, lead, second_queue):
    WebhookSubscription.objects.create(url="https://tickets.example/hooks", event_types=["item.escalated"])
    with pytest.raises(bulk.BulkInvalid, match="needs a note"):
        _start(lead, team["items"], second_queue, kind="escalate")
    done = bulk_moves.run_bulk_move(
        bulk_action_id=_start(lead, team["items"], second_queue, kind="escalate", note="legal check").pk
    )
    assert done.succeeded == 3
    assert Decision.objects.filter(action="escalate", note="legal check", reviewer=lead).count() == 3
    assert WebhookEvent.objects.filter(type="item.escalated").count() == 3
    assert set(QueueEntry.objects.filter(queue=second_queue).values_list("selection", flat=True)) == {"escalated"}
    with pytest.raises(bulk.BulkInvalid, match="not undone in bulk"):
        bulk_moves.undo_bulk_move(bulk_action_id=done.pk, user=lead)


def test_the_pages_confirm_and_start_a_move_and_refuse_a_foreign_queue(client, team, lead, second_queue):
    client.force_login(lead)
    ids = [str(i.pk) for i in team["items"]]
    confirm = client.post(
        reverse("console-bulk-confirm"), {"item": ids, "kind": "move", "to_queue": second_queue.slug}
    ).content.decode()
    assert "Move 3 items?" in confirm and "Second look" in confirm
    foreign = client.post(
        reverse("console-bulk-start"), {"items": ",".join(ids), "kind": "move", "to_queue": team["other"].slug}
    )
    assert foreign.status_code == 403 and not BulkAction.objects.exists()
    started = client.post(
        reverse("console-bulk-start"), {"items": ",".join(ids), "kind": "move", "to_queue": second_queue.slug}
    )
    action = BulkAction.objects.get()
    assert started.status_code == 302 and (action.kind, action.target_queue_id, action.total) == (
        "move",
        second_queue.pk,
        3,
    )
