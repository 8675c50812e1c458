"""A real Celery worker makes the derivative the review page asked for; the web process decodes nothing."""

import time

import pytest
from django.test import Client

from intake.images import check_image
from intake.payloads import ItemSubmission
from intake.submission import submit_items
from tests.browser.worker import running_worker
from tests.factories import enqueue, image_bytes, make_queue, make_user


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_first_view_gets_a_placeholder_and_a_worker_makes_the_derivative(tmp_path, settings):
    from intake.models import Item

    reviewer = make_user()
    queue = make_queue(members=[reviewer])
    image = check_image(image_bytes("PNG", (2000, 1000), color="green"), max_bytes=10**8, max_pixels=10**8)
    [result] = submit_items(submissions=[ItemSubmission(source="t", external_id="w", image=image)])
    enqueue(Item.objects.get(pk=result.item_id), queue)
    client = Client()
    client.force_login(reviewer)
    with running_worker(tmp_path):
        # The view (not a test helper) asks for the derivative: a message by task name to the default queue.
        first = client.get(f"/items/{result.item_id}/image")
        assert first.status_code == 202
        deadline = time.monotonic() + 60
        while (response := client.get(f"/items/{result.item_id}/image")).status_code != 200:
            assert time.monotonic() < deadline, "the worker did not make the derivative within 60 s"
            time.sleep(0.3)
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
