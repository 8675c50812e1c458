"""Working a queue over the REST API: the HTTP face of the review service."""

import pytest
from rest_framework.test import APIClient

from queues.models import Decision, QueueEntry
from review.models import Label
from tests.factories import enqueue, make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def mira():
    return make_user(username="mira")


@pytest.fixture
def queue(mira):
    return make_queue(members=[mira])


@pytest.fixture
def as_mira(mira) -> APIClient:
    client = APIClient()
    client.force_login(mira)
    return client


def test_claim_then_decide_writes_a_decision(queue, as_mira):
    item = make_item()
    enqueue(item, queue)
    claim = as_mira.post(f"/api/v1/queues/{queue.pk}/claim").json()
    assert claim["item_id"] == item.pk
    response = as_mira.post(
        f"/api/v1/entries/{claim['entry_id']}/decision",
        {"token": claim["token"], "action": "remove", "categories": ["spam"], "note": "promo"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()[0]["item_id"] == item.pk
    assert Label.objects.filter(item=item, value=True).count() == 1


def test_an_empty_queue_answers_204(queue, as_mira):
    assert as_mira.post(f"/api/v1/queues/{queue.pk}/claim").status_code == 204


def test_claiming_from_a_queue_you_are_not_a_member_of_is_403(queue):
    enqueue(make_item(), queue)
    outsider = APIClient()
    outsider.force_login(make_user())
    response = outsider.post(f"/api/v1/queues/{queue.pk}/claim")
    assert response.status_code == 403
    assert response.json()["code"] == "not_a_member"
    assert QueueEntry.objects.get().status == "pending"


def test_deciding_an_item_you_do_not_hold_is_409(queue, as_mira):
    enqueue(make_item(), queue)
    claim = as_mira.post(f"/api/v1/queues/{queue.pk}/claim").json()
    stale = as_mira.post(
        f"/api/v1/entries/{claim['entry_id']}/decision",
        {"token": claim["token"] + 7, "action": "no_violation"},
        format="json",
    )
    assert stale.status_code == 409
    assert stale.json()["code"] == "lease_lost"
    sam = APIClient()
    sam.force_login(make_user())
    foreign = sam.post(
        f"/api/v1/entries/{claim['entry_id']}/decision",
        {"token": claim["token"], "action": "no_violation"},
        format="json",
    )
    assert foreign.status_code == 409
    assert Decision.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "obliterate"}, "action"),
        ({"action": "remove", "categories": []}, None),
        ({"action": "no_violation", "tone": "angry"}, "tone"),
        ({"action": "no_violation", "token": "abc"}, "token"),
    ],
)
def test_an_unknown_action_or_category_is_400_and_writes_nothing(queue, as_mira, body, field):
    enqueue(make_item(), queue)
    claim = as_mira.post(f"/api/v1/queues/{queue.pk}/claim").json()
    response = as_mira.post(
        f"/api/v1/entries/{claim['entry_id']}/decision", {"token": claim["token"], **body}, format="json"
    )
    assert response.status_code == 400, response.json()
    if field:
        assert field in response.json()["errors"]
    assert (Decision.objects.count(), Label.objects.count()) == (0, 0)
    assert QueueEntry.objects.get().status == "claimed"


def test_an_unknown_category_is_404_and_writes_nothing(queue, as_mira):
    enqueue(make_item(), queue)
    claim = as_mira.post(f"/api/v1/queues/{queue.pk}/claim").json()
    body = {"token": claim["token"], "action": "remove", "categories": ["nudity"]}
    response = as_mira.post(f"/api/v1/entries/{claim['entry_id']}/decision", body, format="json")
    assert response.status_code == 404 and response.json()["code"] == "unknown_category"
    assert (Decision.objects.count(), Label.objects.count()) == (0, 0)


def test_heartbeat_release_and_escalate(queue, as_mira, mira):
    escalations = make_queue(name="Escalations")
    enqueue(make_item(), queue)
    claim = as_mira.post(f"/api/v1/queues/{queue.pk}/claim").json()
    beat = as_mira.post(f"/api/v1/entries/{claim['entry_id']}/heartbeat", {"token": claim["token"]}, format="json")
    assert beat.status_code == 200 and beat.json()["lease_until"] >= claim["lease_until"]
    released = as_mira.post(f"/api/v1/entries/{claim['entry_id']}/release", {"token": claim["token"]}, format="json")
    assert released.status_code == 204
    queue.members.add(make_user())
    escalations.members.add(mira)
    QueueEntry.objects.update(skip_until=None)
    claim = as_mira.post(f"/api/v1/queues/{queue.pk}/claim").json()
    moved = as_mira.post(
        f"/api/v1/entries/{claim['entry_id']}/escalate",
        {"token": claim["token"], "queue": escalations.pk, "note": "needs a senior"},
        format="json",
    )
    assert moved.status_code == 204
    assert QueueEntry.objects.get(queue=escalations).note == "needs a senior"


def test_a_token_needs_the_decisions_scope_and_acts_as_its_user(queue, mira):
    enqueue(make_item(), queue)
    _, reader = make_token(scopes=["items:read"], user=mira)
    _, writer = make_token(scopes=["decisions:write"], user=mira)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert client.post(f"/api/v1/queues/{queue.pk}/claim").status_code == 403
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert client.post(f"/api/v1/queues/{queue.pk}/claim").status_code == 200


def test_anonymous_callers_are_401(queue):
    assert APIClient().post(f"/api/v1/queues/{queue.pk}/claim").status_code == 401
