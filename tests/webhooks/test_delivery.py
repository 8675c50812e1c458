"""Delivering to real HTTP receivers on 127.0.0.1: signatures, retries with backoff, leases, limits."""

import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from django.utils import timezone

from tests.webhooks.conftest import free_port, serve_handler, start_receiver
from webhooks.models import Delivery, DeliveryAttempt, WebhookEvent, WebhookSubscription
from webhooks.services import deliver, emit, requeue_deliveries

pytestmark = pytest.mark.django_db


def decision(n: int = 1) -> dict:
    return {"decision_id": n, "source": "helpdesk", "external_id": f"t-{n}", "action": "remove"}


def only_delivery() -> Delivery:
    return Delivery.objects.select_related("event").get()


def fast_forward() -> None:
    """Let every wait run out (retries, endpoint pauses, recent task messages): a test cannot wait for hours."""
    past = timezone.now() - timedelta(seconds=1)
    Delivery.objects.filter(state="pending").update(next_attempt_at=past, enqueued_at=None)
    WebhookSubscription.objects.exclude(paused_until=None).update(paused_until=past)


class Answers(BaseHTTPRequestHandler):
    """A receiver that answers every POST the same way, and counts them."""

    status, body, headers_out, hits = 200, b"ok", {}, None

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).hits.append(self.path)
        self.send_response(self.status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def answering(status: int, body: bytes = b"", **headers: str) -> tuple[str, list]:
    hits: list[str] = []
    handler = type("Handler", (Answers,), {"status": status, "body": body, "headers_out": headers, "hits": hits})
    server = serve_handler(handler)
    return f"http://127.0.0.1:{server.server_address[1]}/hook", hits


def test_a_delivery_reaches_a_receiver_that_verifies_its_signature(subscribe, receiver):
    subscribe(receiver.url, secret=receiver.secret)
    event = WebhookEvent.objects.get(event_id=emit(event_type="decision.created", payload=decision()))
    assert deliver(delivery_id=only_delivery().pk) == "delivered"
    assert receiver.events == [
        {"type": "decision.created", "timestamp": event.created_at.isoformat(), "data": decision()}
    ]
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    assert '"processed"' in attempt.response_excerpt and attempt.latency_ms < 5000
    assert only_delivery().delivered_at is not None


def test_a_signature_made_with_another_secret_is_refused_and_retried(subscribe, receiver):
    subscribe(receiver.url)  # a new secret the receiver does not know
    emit(event_type="decision.created", payload=decision())
    before = timezone.now()
    assert deliver(delivery_id=only_delivery().pk) == "pending"
    assert receiver.events == []
    [attempt] = DeliveryAttempt.objects.all()
    assert attempt.status_code == 401 and "no signature matches" in attempt.response_excerpt
    assert before + timedelta(seconds=5) <= only_delivery().next_attempt_at <= timezone.now() + timedelta(seconds=5)


def test_a_receiver_down_for_an_hour_loses_nothing(
    subscribe, receiver, eager_celery, django_capture_on_commit_callbacks
):
    """The endpoint is probed with backoff (one attempt per wait, not one per event); once it is back, every event
    arrives, exactly once."""
    secret, port = receiver.secret, free_port()
    subscription = subscribe(f"http://127.0.0.1:{port}/webhooks", secret=secret)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            emit(event_type="decision.created", payload=decision(n))  # attempted right after commit
    waited = timedelta()
    for round_ in range(1, 7):
        if round_ > 1:
            fast_forward()
            requeue_deliveries()  # what Celery beat runs; tasks run eagerly here
        subscription.refresh_from_db()
        last = DeliveryAttempt.objects.latest("id")
        assert DeliveryAttempt.objects.count() == subscription.unanswered_in_a_row == round_
        waited += subscription.paused_until - last.started_at
    assert set(Delivery.objects.values_list("state", flat=True)) == {"pending"}
    assert 4 * 3600 > waited.total_seconds() > 3600  # 5 s, 30 s, 2 min, 10 min, 30 min, 1 h: longer than the outage
    errors = DeliveryAttempt.objects.values_list("error", flat=True)
    assert all("ConnectError" in error for error in errors)

    back = start_receiver(secret, port=port)
    try:
        fast_forward()
        assert requeue_deliveries() == 3
        assert set(Delivery.objects.values_list("state", flat=True)) == {"delivered"}
        assert sorted(event["data"]["decision_id"] for event in back.events) == [0, 1, 2]
        subscription.refresh_from_db()
        assert (subscription.unanswered_in_a_row, subscription.paused_until) == (0, None)
        fast_forward()
        assert requeue_deliveries() == 0  # nothing left to send
    finally:
        back.stop()


def test_an_endpoint_that_hangs_costs_one_timeout_per_wait_not_one_per_event(subscribe, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        subscription = subscribe(f"http://127.0.0.1:{silent.getsockname()[1]}/webhooks")
        for n in range(5):
            emit(event_type="decision.created", payload=decision(n))
        started = time.monotonic()
        outcomes = [deliver(delivery_id=pk) for pk in Delivery.objects.order_by("id").values_list("pk", flat=True)]
        elapsed = time.monotonic() - started
    assert outcomes == ["pending", None, None, None, None] and elapsed < 1.5
    subscription.refresh_from_db()
    assert subscription.paused_until > timezone.now() + timedelta(seconds=3)
    assert list(Delivery.objects.order_by("id").values_list("attempts", flat=True)) == [1, 0, 0, 0, 0]


def test_the_waits_follow_the_schedule_and_the_delivery_fails_when_it_ends(subscribe, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 30, 120]
    subscribe(f"http://127.0.0.1:{free_port()}/webhooks")
    emit(event_type="decision.created", payload=decision())
    waits = []
    for _ in range(4):
        fast_forward()
        deliver(delivery_id=only_delivery().pk)
        delivery = only_delivery()
        if delivery.state == "pending":
            waits.append(round((delivery.next_attempt_at - delivery.attempt_log.last().started_at).total_seconds()))
    assert waits == [5, 30, 120]
    assert (only_delivery().state, only_delivery().attempts) == ("failed", 4)
    fast_forward()
    assert requeue_deliveries() == 0


def test_the_default_schedule_retries_for_at_least_a_day(settings):
    assert sum(settings.WEBHOOK_RETRY_SCHEDULE) >= 24 * 3600
    assert sorted(settings.WEBHOOK_RETRY_SCHEDULE) == settings.WEBHOOK_RETRY_SCHEDULE  # waits only grow


def test_an_error_status_is_logged_with_the_start_of_the_answer(subscribe):
    url, hits = answering(503, b"x" * 5000)
    subscribe(url)
    emit(event_type="decision.created", payload=decision())
    assert deliver(delivery_id=only_delivery().pk) == "pending"
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.status_code, attempt.error, attempt.response_excerpt) == (503, "HTTP 503", "x" * 1024)
    assert hits == ["/hook"]


def test_redirects_are_not_followed(subscribe):
    target, target_hits = answering(200)
    url, hits = answering(307, Location=target)
    subscribe(url)
    emit(event_type="decision.created", payload=decision())
    assert deliver(delivery_id=only_delivery().pk) == "pending"
    assert DeliveryAttempt.objects.get().status_code == 307
    assert (len(hits), target_hits) == (1, [])


def test_a_receiver_that_never_answers_times_out_quickly(subscribe, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        subscribe(f"http://127.0.0.1:{silent.getsockname()[1]}/webhooks")
        emit(event_type="decision.created", payload=decision())
        deliver(delivery_id=only_delivery().pk)
    attempt = DeliveryAttempt.objects.get()
    assert "ReadTimeout" in attempt.error and attempt.latency_ms < 2000


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_total_time_limit(subscribe, settings):
    settings.WEBHOOK_TIMEOUT = 1.0

    class Trickle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            for byte in b"HTTP/1.1 200 OK\r\nx-slow: " + b"a" * 100:
                self.wfile.write(bytes([byte]))  # each byte arrives well within a per-read timeout
                self.wfile.flush()
                time.sleep(0.1)

        def log_message(self, *args: object) -> None:
            pass

    server = serve_handler(Trickle)
    subscribe(f"http://127.0.0.1:{server.server_address[1]}/")
    emit(event_type="decision.created", payload=decision())
    deliver(delivery_id=only_delivery().pk)
    attempt = DeliveryAttempt.objects.get()
    assert "Timeout" in attempt.error and 900 <= attempt.latency_ms < 2500


def test_a_delivery_that_is_done_or_in_flight_is_not_sent_again(subscribe, receiver):
    subscribe(receiver.url, secret=receiver.secret)
    emit(event_type="decision.created", payload=decision())
    delivery = only_delivery()
    Delivery.objects.filter(pk=delivery.pk).update(
        state="delivering", lease_until=timezone.now() + timedelta(minutes=1)
    )
    assert deliver(delivery_id=delivery.pk) is None  # another worker holds it
    Delivery.objects.filter(pk=delivery.pk).update(state="pending", lease_until=None)
    assert deliver(delivery_id=delivery.pk) == "delivered"
    assert deliver(delivery_id=delivery.pk) is None  # a redelivered task message
    assert len(receiver.events) == 1 and DeliveryAttempt.objects.count() == 1


def test_a_dead_workers_delivery_is_logged_and_sent_again_by_the_sweeper(subscribe, receiver, eager_celery):
    subscribe(receiver.url, secret=receiver.secret)
    emit(event_type="decision.created", payload=decision())
    # A worker claimed it and died: the lease it took has run out.
    Delivery.objects.update(state="delivering", attempts=1, lease_until=timezone.now() - timedelta(seconds=1))
    assert requeue_deliveries() == 1
    assert (only_delivery().state, only_delivery().attempts) == ("delivered", 2)
    unfinished, delivered = DeliveryAttempt.objects.all()
    assert "No outcome recorded" in unfinished.error and delivered.status_code == 200
    assert len(receiver.events) == 1


def test_an_inactive_subscription_keeps_its_deliveries_waiting(subscribe, receiver, eager_celery):
    subscription = subscribe(receiver.url, secret=receiver.secret)
    emit(event_type="decision.created", payload=decision())
    subscription.is_active = False
    subscription.save()
    fast_forward()
    Delivery.objects.update(enqueued_at=None)
    assert requeue_deliveries() == 0 and deliver(delivery_id=only_delivery().pk) is None
    subscription.is_active = True
    subscription.save()
    assert requeue_deliveries() == 1 and only_delivery().state == "delivered"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_never_send_the_same_delivery(subscribe, receiver):
    subscribe(receiver.url, secret=receiver.secret)
    emit(event_type="decision.created", payload=decision())
    delivery_id = only_delivery().pk
    start, outcomes = threading.Barrier(4), []

    def worker() -> None:
        from django.db import connection

        start.wait()
        try:
            outcomes.append(deliver(delivery_id=delivery_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [None, None, None, "delivered"]
    assert len(receiver.events) == 1
