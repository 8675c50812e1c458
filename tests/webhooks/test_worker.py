"""Webhooks through a real Celery worker and Redis: every pipeline event reaches a receiver that was down at first."""

import time

import pytest

from intake.payloads import ItemSubmission
from intake.submission import submit_items
from tests.queues.test_scoring_worker import broker_url, start_worker, stop, wait_until  # noqa: F401 - fixture
from tests.webhooks.conftest import free_port, start_receiver
from webhooks.models import Delivery, DeliveryAttempt, WebhookSubscription, new_secret
from webhooks.services import requeue_deliveries

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


def test_a_worker_delivers_every_event_once_the_receiver_comes_back(broker_url, tmp_path, monkeypatch, settings):  # noqa: F811
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.WEBHOOK_RETRY_SCHEDULE = [1] * 20
    settings.WEBHOOK_LEASE_SECONDS = 3
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")  # the worker reads its own settings
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", ",".join(["1"] * 20))
    monkeypatch.setenv("WEBHOOK_LEASE_SECONDS", "3")
    secret, port = new_secret(), free_port()
    WebhookSubscription.objects.create(
        url=f"http://127.0.0.1:{port}/webhooks", secret=secret,
        event_types=["item.created", "item.scored", "item.routed"],
    )  # fmt: skip
    submit_items(
        submissions=[ItemSubmission(source="bridge", external_id=f"t-{i}", text=f"buy now {i}") for i in range(20)]
    )
    log = tmp_path / "worker.log"
    worker = start_worker(broker_url, tmp_path)
    receiver = None
    try:
        wait_until(
            lambda: (
                Delivery.objects.filter(event__type="item.routed").count() == 20 and DeliveryAttempt.objects.exists()
            ),
            timeout=180,
            what="scoring, routing and attempts that found nobody listening",
            log=log,
        )
        assert not Delivery.objects.filter(state="delivered").exists()
        assert WebhookSubscription.objects.get().unanswered_in_a_row >= 1  # and its deliveries wait
        receiver = start_receiver(secret, port=port)
        deadline = time.monotonic() + 120
        while Delivery.objects.exclude(state="delivered").exists() and time.monotonic() < deadline:
            requeue_deliveries()  # what Celery beat runs every few seconds
            time.sleep(1)
    finally:
        stop(worker)
        if receiver:
            receiver.stop()

    assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
    by_type: dict[str, list[str]] = {}
    for event in receiver.events:
        by_type.setdefault(event["type"], []).append(event["data"]["external_id"])
    expected = sorted(f"t-{i}" for i in range(20))
    assert {kind: sorted(ids) for kind, ids in by_type.items()} == {
        "item.created": expected, "item.scored": expected, "item.routed": expected,
    }  # fmt: skip
