"""A webhook event keeps the id of the request that caused it: the sweeper's retries are sent under that id."""

import pytest
from celery.signals import before_task_publish

from audit.request_context import bind_request_id, unbind_request_id
from tests.webhooks.test_delivery import decision, fast_forward
from webhooks.models import WebhookEvent
from webhooks.services import emit, requeue_deliveries

pytestmark = pytest.mark.django_db


@pytest.fixture
def published():
    """Headers of every Celery message this process sends to the broker (the test suite's Redis or memory)."""
    sent: list[tuple[str, dict]] = []

    def capture(sender=None, headers=None, **kwargs) -> None:  # noqa: ANN001
        sent.append((sender, headers))  # the dict itself: other receivers may still add to it

    before_task_publish.connect(capture, weak=False)
    yield sent
    before_task_publish.disconnect(capture)


def within_request(request_id: str, work) -> object:  # noqa: ANN001
    token = bind_request_id(request_id)
    try:
        return work()
    finally:
        unbind_request_id(token)


def test_a_sweeper_retry_is_sent_under_the_request_id_that_caused_the_event(subscribe, published):
    subscribe("http://127.0.0.1:9/webhooks")
    within_request("req-original-0001", lambda: emit(event_type="decision.created", payload=decision(1)))
    assert WebhookEvent.objects.get().request_id == "req-original-0001"
    fast_forward()  # the first message was lost (or the attempt failed): the sweeper sends it again
    # The sweeper runs as a beat task with an id of its own; the retry must not take that one.
    assert within_request("sweeper-task-id-0002", requeue_deliveries) == 1
    retries = [headers for task, headers in published if task == "webhooks.tasks.deliver"]
    assert [headers["request_id"] for headers in retries] == ["req-original-0001"]


def test_retries_of_events_from_different_requests_go_in_separate_messages(subscribe, published):
    subscribe("http://127.0.0.1:9/webhooks")
    within_request("req-first-000001", lambda: emit(event_type="decision.created", payload=decision(1)))
    within_request("req-second-00002", lambda: emit(event_type="decision.created", payload=decision(2)))
    emit(event_type="decision.created", payload=decision(3))  # outside any request (a management command)
    fast_forward()
    assert within_request("sweeper-task-id-0003", requeue_deliveries) == 3
    sent = sorted(headers.get("request_id", "") for task, headers in published if task == "webhooks.tasks.deliver")
    # The event without a request gets the sweeper task's own id, as any work no request caused.
    assert sent == ["req-first-000001", "req-second-00002", "sweeper-task-id-0003"]
