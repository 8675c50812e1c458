"""Claiming, leases, fencing, skip, escalate and decisions through the review service."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from intake.models import Item
from queues.membership import NotAMember
from queues.models import Decision, QueueEntry
from review.claims import claim_next_item, escalate_item, release_expired_leases, release_item, renew_lease
from review.decisions import record_decision
from review.exceptions import InvalidDecision, LeaseLost
from review.models import Label
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def mira():
    return make_user(username="mira")


@pytest.fixture
def queue(mira):
    return make_queue(members=[mira])


def test_claiming_hands_out_the_lowest_sort_key_first_and_records_the_claim(queue, mira):
    low, high = make_item(), make_item()
    enqueue(low, queue, sort_key=5.0)
    enqueue(high, queue, sort_key=-1.0)
    claim = claim_next_item(queue=queue, user=mira)
    assert claim.item_id == high.pk
    entry = QueueEntry.objects.get(pk=claim.entry_id)
    assert (entry.status, entry.claimed_by, entry.fencing_token) == ("claimed", mira, 1)
    assert entry.claimed_at is not None and entry.lease_until > timezone.now() + timedelta(minutes=9)


def test_a_reviewer_who_reclaims_gets_the_item_they_already_hold(queue, mira):
    for key in (1.0, 2.0):
        enqueue(make_item(), queue, sort_key=key)
    assert claim_next_item(queue=queue, user=mira) == claim_next_item(queue=queue, user=mira)


def test_two_reviewers_get_different_items_and_an_empty_queue_gives_none(queue, mira):
    sam = make_user()
    queue.members.add(sam)
    enqueue(make_item(), queue)
    first = claim_next_item(queue=queue, user=mira)
    assert first is not None
    assert claim_next_item(queue=queue, user=sam) is None


def test_claiming_from_a_queue_you_are_not_a_member_of_is_refused(queue):
    enqueue(make_item(), queue)
    with pytest.raises(NotAMember):
        claim_next_item(queue=queue, user=make_user())
    assert QueueEntry.objects.get().status == "pending"


def test_group_membership_grants_access(queue):
    from django.contrib.auth.models import Group

    group = Group.objects.create(name="seniors")
    queue.member_groups.add(group)
    sam = make_user()
    sam.groups.add(group)
    enqueue(make_item(), queue)
    assert claim_next_item(queue=queue, user=sam) is not None


def test_a_decision_writes_the_decision_a_label_per_category_and_an_audit_event(queue, mira):
    item = make_item()
    enqueue(item, queue)
    claim = claim_next_item(queue=queue, user=mira)
    [decision] = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=mira, action="remove", categories=["spam"], note="bulk promo"
    )
    assert decision.action == "remove" and decision.reviewer == mira
    labels = dict(Label.objects.filter(item=item).values_list("category__slug", "value"))
    assert labels["spam"] is True
    assert len(labels) == 7 and sum(labels.values()) == 1
    assert Label.objects.filter(item=item, queue=queue, selection="routed").count() == 7
    assert AuditEvent.objects.filter(action="decision.created", object_id=str(decision.pk)).exists()
    assert QueueEntry.objects.get(pk=claim.entry_id).status == "done"
    assert Item.objects.get(pk=item.pk).state == "decided"


@pytest.mark.parametrize(
    ("action", "categories", "message"),
    [
        ("ban_forever", [], "Unknown action"),
        ("remove", ["nudity"], "Unknown categories: nudity"),
        ("remove", [], "needs at least one policy category"),
        ("no_violation", ["spam"], "cannot name violated categories"),
    ],
)
def test_a_malformed_decision_is_refused_and_writes_nothing(queue, mira, action, categories, message):
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    with pytest.raises(InvalidDecision, match=message):
        record_decision(entry_id=claim.entry_id, token=claim.token, user=mira, action=action, categories=categories)
    assert (Decision.objects.count(), Label.objects.count()) == (0, 0)
    assert QueueEntry.objects.get().status == "claimed"


def test_deciding_with_a_stale_token_is_refused(queue, mira):
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    QueueEntry.objects.filter(pk=claim.entry_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert release_expired_leases() == 1
    again = claim_next_item(queue=queue, user=mira)
    assert again.token == claim.token + 1
    with pytest.raises(LeaseLost, match="replaced by a newer claim"):
        record_decision(entry_id=claim.entry_id, token=claim.token, user=mira, action="no_violation", categories=[])
    record_decision(entry_id=again.entry_id, token=again.token, user=mira, action="no_violation", categories=[])
    assert Decision.objects.count() == 1


def test_a_late_decision_after_the_lease_expired_is_refused(queue, mira):
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    QueueEntry.objects.filter(pk=claim.entry_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    with pytest.raises(LeaseLost, match="expired"):
        record_decision(entry_id=claim.entry_id, token=claim.token, user=mira, action="no_violation", categories=[])
    with pytest.raises(LeaseLost):
        renew_lease(entry_id=claim.entry_id, token=claim.token, user=mira)
    assert Decision.objects.count() == 0


def test_someone_else_cannot_decide_an_item_you_hold(queue, mira):
    sam = make_user()
    queue.members.add(sam)
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    with pytest.raises(LeaseLost):
        record_decision(entry_id=claim.entry_id, token=claim.token, user=sam, action="no_violation", categories=[])


def test_the_heartbeat_extends_the_lease(queue, mira):
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    QueueEntry.objects.filter(pk=claim.entry_id).update(lease_until=timezone.now() + timedelta(seconds=5))
    entry = renew_lease(entry_id=claim.entry_id, token=claim.token, user=mira)
    assert entry.lease_until > timezone.now() + timedelta(minutes=9)


def test_a_skipped_item_returns_to_the_queue_but_not_to_the_same_reviewer_for_a_while(queue, mira):
    sam = make_user()
    queue.members.add(sam)
    enqueue(make_item(), queue)
    claim = claim_next_item(queue=queue, user=mira)
    release_item(entry_id=claim.entry_id, token=claim.token, user=mira)
    assert claim_next_item(queue=queue, user=mira) is None
    assert claim_next_item(queue=queue, user=sam).item_id == claim.item_id
    assert AuditEvent.objects.filter(action="entry.skipped").exists()


def test_escalating_moves_the_item_with_its_note_and_audits(queue, mira):
    escalations = make_queue(name="Escalations")
    item = make_item()
    enqueue(item, queue)
    claim = claim_next_item(queue=queue, user=mira)
    with pytest.raises(InvalidDecision, match="needs a note"):
        escalate_item(entry_id=claim.entry_id, token=claim.token, user=mira, to_queue=escalations, note=" ")
    moved = escalate_item(
        entry_id=claim.entry_id, token=claim.token, user=mira, to_queue=escalations, note="possible minor"
    )
    assert (moved.queue, moved.status, moved.selection, moved.note) == (
        escalations,
        "pending",
        "escalated",
        "possible minor",
    )
    assert QueueEntry.objects.get(pk=claim.entry_id).status == "moved"
    assert AuditEvent.objects.filter(action="item.escalated", object_id=str(item.pk)).exists()


def test_a_group_decision_gives_every_pending_member_its_own_decision_labels_and_audit(queue, mira):
    sam = make_user()
    queue.members.add(sam)
    members = [make_item(duplicate_group=1000) for _ in range(4)]
    outsider = make_item()
    for index, item in enumerate([*members, outsider]):
        enqueue(item, queue, sort_key=index)
    claim = claim_next_item(queue=queue, user=mira)
    held_by_sam = claim_next_item(queue=queue, user=sam)  # the second member, held by someone else
    decisions = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=mira, action="remove", categories=["scam_fraud"],
        apply_to_group=True,
    )  # fmt: skip
    decided = {d.item_id for d in decisions}
    assert decided == {members[0].pk, members[2].pk, members[3].pk}
    assert all(d.applied_from == decisions[0] for d in decisions[1:])
    assert Label.objects.filter(value=True, category__slug="scam_fraud").count() == 3
    assert AuditEvent.objects.filter(action="decision.created").count() == 3
    assert QueueEntry.objects.get(pk=held_by_sam.entry_id).status == "claimed"
    assert QueueEntry.objects.get(item=outsider).status == "pending"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_claimers_on_postgresql_never_get_the_same_item():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent connections: PostgreSQL")
    reviewers = [make_user() for _ in range(8)]
    queue = make_queue(members=reviewers)
    for index in range(120):
        enqueue(make_item(), queue, sort_key=index)
    handed: list[int] = []
    lock = threading.Lock()
    errors: list[Exception] = []

    def work(user) -> None:  # noqa: ANN001
        from django.db import connection as thread_connection

        try:
            while (claim := claim_next_item(queue=queue, user=user)) is not None:
                with lock:
                    handed.append(claim.item_id)
                record_decision(
                    entry_id=claim.entry_id, token=claim.token, user=user, action="no_violation", categories=[]
                )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(handed) == 120 and len(set(handed)) == 120  # every item once: no double claims
    assert Decision.objects.count() == 120
