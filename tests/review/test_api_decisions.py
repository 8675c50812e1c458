"""Decisions over the API: deciding an item by its id from a ticket, and reading decisions back."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from intake.models import Item
from queues.models import Decision, QueueEntry
from review import claims
from review import decisions as decision_service
from review.exceptions import LeaseLost
from review.models import Label
from tests.factories import enqueue, make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return make_user(username="zendesk-agent")


@pytest.fixture
def queue(agent):
    return make_queue(members=[agent])


def client_for(user, *scopes: str) -> APIClient:
    client = APIClient()
    _, secret = make_token(scopes=list(scopes), user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def deciding(agent) -> APIClient:
    return client_for(agent, "decisions:write")


def decide(client: APIClient, item_id: int, **body):
    return client.post(f"/api/v1/items/{item_id}/decision", body, format="json")


def test_deciding_a_waiting_item_writes_decision_labels_and_audit_and_closes_its_entry(queue, deciding, agent):
    item = make_item()
    entry = enqueue(item, queue)
    response = decide(deciding, item.pk, action="remove", categories=["spam"], note="ticket ZD-1")
    assert response.status_code == 201, response.json()
    [decision] = Decision.objects.all()
    assert response.json() == [{"id": decision.pk, "item_id": item.pk, "action": "remove"}]
    assert (decision.reviewer, decision.entry_id, decision.note) == (agent, entry.pk, "ticket ZD-1")
    assert Label.objects.filter(item=item, value=True).get().category.slug == "spam"
    entry.refresh_from_db()
    assert entry.status == QueueEntry.Status.DONE and entry.lease_until is None
    assert Item.objects.get(pk=item.pk).state == Item.State.DECIDED
    assert AuditEvent.objects.filter(action="decision.created", object_id=str(decision.pk)).count() == 1


def test_an_item_the_same_user_holds_is_decided_under_their_lease(queue, deciding, agent):
    item = make_item()
    enqueue(item, queue)
    claim = claims.claim_next_item(queue=queue, user=agent)
    assert decide(deciding, item.pk, action="no_violation").status_code == 201
    assert QueueEntry.objects.get(pk=claim.entry_id).status == QueueEntry.Status.DONE


def test_an_item_another_reviewer_holds_is_409_and_stays_theirs(queue, deciding):
    mira = make_user()
    queue.members.add(mira)
    item = make_item()
    enqueue(item, queue)
    claim = claims.claim_next_item(queue=queue, user=mira)
    response = decide(deciding, item.pk, action="no_violation")
    assert response.status_code == 409
    assert response.json()["code"] == "lease_lost"
    entry = QueueEntry.objects.get(pk=claim.entry_id)
    assert (entry.status, entry.claimed_by, entry.fencing_token) == ("claimed", mira, claim.token)
    assert not Decision.objects.exists()


def test_an_expired_lease_of_another_reviewer_does_not_block_the_decision(queue, deciding):
    mira = make_user()
    queue.members.add(mira)
    item = make_item()
    enqueue(item, queue)
    claim = claims.claim_next_item(queue=queue, user=mira)
    QueueEntry.objects.filter(pk=claim.entry_id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert decide(deciding, item.pk, action="no_violation").status_code == 201
    # Mira's old token is refused: the fencing token moved on.
    with pytest.raises(LeaseLost):
        decision_service.record_decision(entry_id=claim.entry_id, token=claim.token, user=mira, action="no_violation",
                               categories=[])  # fmt: skip


def test_a_user_who_never_worked_the_items_queues_does_not_see_it_404_and_nothing_changes(queue):
    item = make_item()
    enqueue(item, queue)
    response = decide(client_for(make_user(), "decisions:write"), item.pk, action="no_violation")
    assert response.status_code == 404  # a token sees what its user sees (intake.visibility)
    entry = QueueEntry.objects.get()
    assert (entry.status, entry.claimed_by_id, entry.fencing_token) == ("pending", None, 0)


def test_a_decision_naming_an_unknown_category_is_404_and_leaves_the_item_waiting(queue, deciding):
    # Well formed (the schema cannot list the categories), naming what is not there: 404 (was 400).
    item = make_item()
    enqueue(item, queue)
    body = {"action": "remove", "categories": ["nudity"]}
    response = deciding.post(f"/api/v1/items/{item.pk}/decision", body, format="json")
    assert response.status_code == 404 and response.json()["code"] == "unknown_category"
    assert QueueEntry.objects.get().status == "pending"


def test_a_user_who_sees_the_item_but_does_not_work_the_queue_it_waits_in_is_403_not_a_member(queue):
    item = make_item()
    enqueue(item, queue)
    staff = make_user(is_staff=True)  # sees every item, works no queue
    response = decide(client_for(staff, "decisions:write"), item.pk, action="no_violation")
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"
    entry = QueueEntry.objects.get()
    assert (entry.status, entry.claimed_by_id, entry.fencing_token) == ("pending", None, 0)


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"action": "remove"}, None, "invalid_decision"),
        ({"action": "no_violation", "categories": ["spam"]}, None, "invalid_decision"),
        ({"action": "obliterate"}, "action", "invalid"),
        ({"action": "escalate", "note": "x"}, "action", "invalid"),
        ({"categories": ["spam"]}, "action", "invalid"),
        ({"action": "remove", "categories": "spam"}, "categories", "invalid"),
        ({"action": "no_violation", "token": 3}, "token", "invalid"),
    ],
)
def test_a_malformed_decision_is_400_and_leaves_the_item_waiting_unclaimed(queue, deciding, body, field, code):
    item = make_item()
    enqueue(item, queue)
    response = deciding.post(f"/api/v1/items/{item.pk}/decision", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    if field:
        assert field in response.json()["errors"]
    entry = QueueEntry.objects.get()
    assert (entry.status, entry.claimed_by_id, entry.fencing_token) == ("pending", None, 0)
    assert (Decision.objects.count(), Label.objects.count()) == (0, 0)


def test_an_item_in_no_queue_is_409_and_an_unknown_item_404():
    deciding = client_for(make_user(is_staff=True), "decisions:write")  # a moderator would not see the item
    item = make_item()
    response = decide(deciding, item.pk, action="no_violation")
    assert response.status_code == 409
    assert response.json()["code"] == "not_in_a_queue"
    assert decide(deciding, 987654321, action="no_violation").status_code == 404


def test_a_decided_item_cannot_be_decided_twice(queue, deciding):
    item = make_item()
    enqueue(item, queue)
    assert decide(deciding, item.pk, action="no_violation").status_code == 201
    assert decide(deciding, item.pk, action="remove", categories=["spam"]).status_code == 409
    assert Decision.objects.count() == 1


def test_deciding_needs_decisions_write(queue, agent):
    item = make_item()
    enqueue(item, queue)
    for scope in ("items:read", "items:write", "decisions:read"):
        assert decide(client_for(agent, scope), item.pk, action="no_violation").status_code == 403
    assert decide(client_for(agent, "admin"), item.pk, action="no_violation").status_code == 201


# Reading decisions


@pytest.fixture
def decisions(queue, agent):
    """Three decisions: remove/spam and no_violation in `queue`, then one in another queue."""
    other_queue = make_queue(members=[agent])
    made = []
    for target, action, categories in [
        (queue, "remove", ["spam"]),
        (queue, "no_violation", []),
        (other_queue, "remove", ["hate"]),
    ]:
        item = make_item()
        enqueue(item, target)
        made += decision_service.record_decision(
            entry_id=claims.claim_next_item(queue=target, user=agent).entry_id,
            token=QueueEntry.objects.get(item=item).fencing_token,
            user=agent, action=action, categories=categories,
        )  # fmt: skip
    return made


def test_decisions_list_in_creation_order_with_their_categories(decisions, agent):
    reader = client_for(make_user(is_staff=True), "decisions:read")  # an integration's account
    response = reader.get("/api/v1/decisions")
    assert response.status_code == 200, response.json()
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [d.pk for d in decisions]
    assert rows[0]["categories"] == ["spam"] and rows[0]["reviewer"] == agent.username
    assert rows[0]["queue"] == decisions[0].entry.queue.slug and rows[0]["qa_verdict"] is None


def test_decisions_filter_by_item_queue_reviewer_action_category_and_time(decisions, agent):
    reader = client_for(make_user(is_staff=True), "decisions:read")  # an integration's account

    def listed(**params) -> list[int]:
        response = reader.get("/api/v1/decisions", params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    first, second, third = (d.pk for d in decisions)
    assert listed(item=decisions[1].item_id) == [second]
    assert listed(queue=decisions[2].entry.queue.slug) == [third]
    assert listed(reviewer=agent.username) == [first, second, third]
    assert listed(reviewer="nobody") == []
    assert listed(action="remove") == [first, third]
    assert listed(category="hate") == [third]
    assert listed(created_after=(timezone.now() + timedelta(minutes=1)).isoformat()) == []
    assert listed(created_before=(timezone.now() + timedelta(minutes=1)).isoformat()) == [first, second, third]
    page = reader.get("/api/v1/decisions", {"limit": 2}).json()
    assert page["has_more"] is True
    assert listed(cursor=page["next_cursor"]) == [third]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"item": "abc"}, "item"), ({"item": "1.5"}, "item"), ({"action": "maybe"}, "action"),
     ({"automatic": "perhaps"}, "automatic"), ({"created_after": ""}, "created_after"),
     # Present but empty: no boolean and no id (Django's fields read "" as "no filter"; the schema does not).
     ({"automatic": ""}, "automatic"), ({"item": ""}, "item")],
)  # fmt: skip
def test_a_bad_decision_filter_is_400_naming_it(params, field):
    response = client_for(make_user(), "decisions:read").get("/api/v1/decisions", params)
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize(("params", "field"), [({"category": "nudity"}, "category"), ({"queue": "nope"}, "queue")])
def test_a_decision_filter_naming_what_does_not_exist_is_404_naming_it(params, field):
    response = client_for(make_user(), "decisions:read").get("/api/v1/decisions", params)
    assert response.status_code == 404
    assert field in response.json()["errors"]


def test_reading_decisions_needs_decisions_read():
    for scope in ("items:read", "items:write", "decisions:write"):
        assert client_for(make_user(), scope).get("/api/v1/decisions").status_code == 403
