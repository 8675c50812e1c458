"""A token sees what its user sees (docs/operations.md, "What a token can see").

A staff user's token (an integration's service account) reads everything its scopes allow. Any other user's
token reads only items that are or were in a queue the user works (directly or through a group), those
queues, and the decisions and labels on those items; training snapshots (item text in bulk) are for staff.
Every endpoint that returns content is called here with a moderator's token that has every scope."""

import pytest
from rest_framework.test import APIClient

from tests.factories import enqueue, make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["items:read", "items:write", "decisions:read", "decisions:write"]


@pytest.fixture
def world():
    mira, bob = make_user(username="mira"), make_user(username="bob")
    mine, theirs = make_queue(members=[mira], name="Mine"), make_queue(members=[bob], name="Theirs")
    seen, hidden = make_item(text="visible to mira"), make_item(text="SECRET only bob's queue")
    enqueue(seen, mine)
    enqueue(hidden, theirs)
    clients = {}
    for user in (mira, bob):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=ALL_SCOPES, user=user)[1]}")
        clients[user.username] = client
    staff = APIClient()
    staff_user = make_user(username="integration", is_staff=True)
    staff.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=[*ALL_SCOPES, 'admin'], user=staff_user)[1]}")
    clients["staff"] = staff
    # Each moderator decides the item in their own queue, so both decisions and labels exist.
    for user, item in (("mira", seen), ("bob", hidden)):
        response = clients[user].post(f"/api/v1/items/{item.pk}/decision", {"action": "no_violation"}, format="json")
        assert response.status_code == 201, response.content
    return {"mira": clients["mira"], "staff": clients["staff"], "seen": seen, "hidden": hidden, "mine": mine,
            "theirs": theirs}  # fmt: skip


def _ids(response) -> set[int]:  # noqa: ANN001
    assert response.status_code == 200, response.content
    rows = response.json()["results"] if isinstance(response.json(), dict) else response.json()
    return {row.get("item_id", row.get("id")) for row in rows}


def test_the_items_list_holds_only_items_of_the_users_queues(world):
    assert _ids(world["mira"].get("/api/v1/items")) == {world["seen"].pk}
    assert _ids(world["staff"].get("/api/v1/items")) == {world["seen"].pk, world["hidden"].pk}


def test_an_item_outside_the_users_queues_is_not_found(world):
    hidden = world["hidden"].pk
    for response in (
        world["mira"].get(f"/api/v1/items/{hidden}"),
        world["mira"].put(f"/api/v1/items/{hidden}/ticket", {"ticket_id": "T-1"}, format="json"),
        world["mira"].post(f"/api/v1/items/{hidden}/decision", {"action": "no_violation"}, format="json"),
    ):
        assert response.status_code == 404, response.content
        assert b"SECRET" not in response.content
    assert world["mira"].get(f"/api/v1/items/{world['seen'].pk}").status_code == 200
    assert world["staff"].get(f"/api/v1/items/{hidden}").status_code == 200


def test_queues_are_the_users_queues(world):
    response = world["mira"].get("/api/v1/queues")
    assert response.status_code == 200
    names = {
        row["name"] for row in (response.json()["results"] if isinstance(response.json(), dict) else response.json())
    }
    assert "Mine" in names and "Theirs" not in names
    assert world["mira"].get(f"/api/v1/queues/{world['theirs'].pk}").status_code == 404
    assert world["mira"].get(f"/api/v1/queues/{world['mine'].pk}").status_code == 200


def test_decisions_and_labels_are_those_on_the_users_items(world):
    assert _ids(world["mira"].get("/api/v1/decisions")) == {world["seen"].pk}
    assert _ids(world["staff"].get("/api/v1/decisions")) == {world["seen"].pk, world["hidden"].pk}
    labels = world["mira"].get("/api/v1/labels")
    assert labels.status_code == 200
    assert world["hidden"].pk not in {row["item_id"] for row in labels.json()["results"]}


def test_training_snapshots_are_for_staff_tokens(world):
    assert world["mira"].get("/api/v1/training-snapshots").status_code == 403
    assert world["staff"].get("/api/v1/training-snapshots").status_code == 200


def test_a_moderator_token_may_still_send_items(world):
    response = world["mira"].post(
        "/api/v1/items", {"source": "s", "external_id": "new", "text": "hello"}, format="json"
    )
    assert response.status_code == 201
