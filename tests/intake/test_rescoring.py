"""A failed item is scored again from the API, from the admin, and when a new model version becomes active."""

import pytest
from django.test import Client

from classifiers.signals import model_version_activated
from intake.models import Item
from tests.factories import enqueue, make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db

CRASHED = "Scoring did not finish after 3 attempts (the worker crashed or timed out)."


def failed_item(**fields) -> Item:
    return make_item(state=Item.State.FAILED, failure_reason=CRASHED, scoring_attempts=3, **fields)


@pytest.fixture
def staff_api(api_client):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=['items:write'], user=make_user(is_staff=True))[1]}"
    )
    return client


def test_the_api_sends_an_unrouted_failed_item_to_be_scored_again(
    staff_api, sent_tasks, django_capture_on_commit_callbacks
):
    item = failed_item()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(f"/api/v1/items/{item.pk}/rescore")
    assert response.status_code == 202, response.content
    assert response.json() == {"id": item.pk, "rescoring": True}
    item.refresh_from_db()
    assert (item.state, item.failure_reason, item.scoring_attempts) == (Item.State.RECEIVED, "", 0)
    assert sent_tasks["queues.tasks.score_items"] == [[item.pk]]


def test_a_failed_item_waiting_in_a_queue_keeps_its_place_and_is_rescored_by_rerouting(
    staff_api, sent_tasks, django_capture_on_commit_callbacks
):
    item = failed_item()
    Item.objects.filter(pk=item.pk).update(state=Item.State.QUEUED)
    enqueue(item, make_queue())
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_api.post(f"/api/v1/items/{item.pk}/rescore").status_code == 202
    item.refresh_from_db()
    assert item.state == Item.State.QUEUED and item.entries.filter(status="pending").count() == 1
    assert "queues.tasks.reroute_pending" in sent_tasks
    assert "queues.tasks.score_items" not in sent_tasks


def test_an_item_that_did_not_fail_is_a_409(staff_api):
    response = staff_api.post(f"/api/v1/items/{make_item().pk}/rescore")
    assert response.status_code == 409
    assert response.json()["code"] == "not_failed"


def test_a_moderators_token_cannot_rescore_an_item_outside_her_queues():
    mira = make_user()
    client = Client()
    secret = make_token(scopes=["items:write"], user=mira)[1]
    item = failed_item()
    enqueue(item, make_queue())  # a queue mira does not work
    assert client.post(f"/api/v1/items/{item.pk}/rescore", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 404


def test_the_admin_action_scores_failed_items_again_and_leaves_others(sent_tasks, django_capture_on_commit_callbacks):
    admin_user = make_user(is_staff=True)
    admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    failed, fine = failed_item(), make_item()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/intake/item/",
            {"action": "score_again", "_selected_action": [failed.pk, fine.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert b"1 failed items sent to be scored again; 1 left alone" in response.content
    failed.refresh_from_db()
    assert failed.state == Item.State.RECEIVED and failed.failure_reason == ""


def test_a_new_active_model_version_scores_failed_items_again(sent_tasks, django_capture_on_commit_callbacks):
    item = failed_item()
    with django_capture_on_commit_callbacks(execute=True):
        model_version_activated.send(sender=None, version_id=1, kind="text")
    item.refresh_from_db()
    assert item.state == Item.State.RECEIVED and item.scoring_attempts == 0
    assert sent_tasks["queues.tasks.score_items"] == [[item.pk]]
    assert "queues.tasks.reroute_pending" in sent_tasks
