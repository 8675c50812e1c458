"""With the broker down, ingestion still answers 2xx: the items are saved, the scoring message is not sent,
and the sweeper queues them later. The broker is really unreachable (a port where nothing listens)."""

import contextlib
import logging
import time

import pytest
from celery import current_app
from django.conf import settings

from intake.models import Item
from tests.factories import item_payload

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def broker_unreachable():
    app = current_app._get_current_object()
    saved = app.conf.broker_url

    def reset_pools() -> None:
        # The app keeps the producer pool of the broker it was built for; drop it (not close it: kombu keeps
        # pools per broker URL, and the test suite's own pool must still work afterwards).
        app._pool = None
        app.amqp._producer_pool = None

    saved_options = app.conf.broker_transport_options
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app.conf.broker_transport_options = settings.BROKER_FAIL_FAST_OPTIONS  # what a Redis broker gets
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url = saved
        app.conf.broker_transport_options = saved_options
        reset_pools()


def test_a_single_item_and_a_batch_are_accepted_while_the_broker_is_down(
    api_client, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.WARNING, logger="intake.dispatch")
    started = time.monotonic()
    with broker_unreachable():
        with django_capture_on_commit_callbacks(execute=True):
            single = api_client.post("/api/v1/items", item_payload(text="one"), format="json")
        with django_capture_on_commit_callbacks(execute=True):
            batch = api_client.post(
                "/api/v1/items", {"items": [item_payload(text=f"batch {n}") for n in range(3)]}, format="json"
            )
    assert time.monotonic() - started < 5  # no request waits on retries to a broker that is down
    assert single.status_code == 201, single.content
    assert batch.status_code in (200, 201), batch.content
    assert Item.objects.filter(state=Item.State.RECEIVED).count() == 4  # saved, waiting for the sweeper
    assert "not queued" in caplog.text and "sweeper" in caplog.text


def test_with_the_broker_up_the_scoring_message_is_sent(api_client, django_capture_on_commit_callbacks, sent_tasks):
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post("/api/v1/items", item_payload(), format="json").status_code == 201
    assert len(sent_tasks["queues.tasks.score_items"]) == 1
