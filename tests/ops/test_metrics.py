"""/metrics: the figures an operator alerts on, read from real rows, and no content in them."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import resolve
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from classifiers.models import ModelVersion
from intake.models import Item
from learning.models import ModelHealth
from ops.heartbeats import record_beat_tick, record_worker_heartbeat
from tests.factories import enqueue, make_item, make_queue, make_token
from webhooks.models import Delivery, WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db


def scrape() -> dict[tuple[str, tuple], float]:
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_queue_depth_oldest_age_and_past_deadline_per_queue():
    queue = make_queue(name="Scams", deadline=timedelta(hours=1))
    for _ in range(3):
        enqueue(make_item(state=Item.State.QUEUED), queue)
    late = enqueue(make_item(state=Item.State.QUEUED), queue)
    late.__class__.objects.filter(pk=late.pk).update(
        enqueued_at=timezone.now() - timedelta(hours=2), deadline_at=timezone.now() - timedelta(hours=1)
    )
    samples = scrape()
    labels = (("queue", queue.slug),)
    assert samples[("moderation_queue_depth", labels)] == 4
    assert samples[("moderation_queue_past_deadline", labels)] == 1
    assert 7100 < samples[("moderation_queue_oldest_age_seconds", labels)] < 7300


def test_scoring_backlog_failures_and_commit_to_score_lag():
    make_item()
    make_item()
    make_item(state=Item.State.SCORING)
    make_item(state=Item.State.FAILED)
    scored = make_item(state=Item.State.SCORED)
    Item.objects.filter(pk=scored.pk).update(scored_at=scored.created_at + timedelta(seconds=4))
    samples = scrape()
    assert samples[("moderation_scoring_backlog", (("state", "received"),))] == 2
    assert samples[("moderation_scoring_backlog", (("state", "scoring"),))] == 1
    assert samples[("moderation_scoring_failed_items", ())] == 1
    assert samples[("moderation_scoring_lag_seconds", (("quantile", "0.5"),))] == pytest.approx(4, abs=0.01)
    assert samples[("moderation_scoring_oldest_waiting_seconds", ())] >= 0


def test_webhook_backlog_and_failures():
    subscription = WebhookSubscription.objects.create(url="https://receiver.example/hook", event_types=["item.created"])
    for state in (Delivery.State.PENDING, Delivery.State.PENDING, Delivery.State.FAILED):
        event = WebhookEvent.objects.create(type="item.created", payload={})
        Delivery.objects.create(
            event=event, subscription=subscription, state=state, next_attempt_at=timezone.now() - timedelta(seconds=30)
        )
    samples = scrape()
    assert samples[("moderation_webhook_deliveries", (("state", "pending"),))] == 2
    assert samples[("moderation_webhook_deliveries", (("state", "failed"),))] == 1
    assert samples[("moderation_webhook_oldest_due_seconds", ())] >= 30


def test_model_health_alert_per_version():
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first() or ModelVersion.objects.create(
        name="text-test", kind=ModelVersion.Kind.TEXT, status=ModelVersion.Status.ACTIVE
    )
    now = timezone.now()
    ModelHealth.objects.create(
        model_version=version, state=ModelHealth.State.ALERT, precision=0.5, computed_at=now, state_since=now
    )
    samples = scrape()
    key = (
        "moderation_model_health_alert",
        (("kind", version.kind), ("state", "alert"), ("status", "active"), ("version", version.name)),
    )
    assert samples[key] == 1
    assert samples[("moderation_model_live_precision", (("kind", version.kind), ("version", version.name)))] == 0.5


def test_celery_task_counts_per_queue_and_live_processes():
    record_worker_heartbeat(
        name="host/11",
        queues=["inference"],
        models_ready=True,
        task_counts={"inference": {"succeeded": 7, "failed": 2, "retried": 0}},
        started_at=timezone.now(),
    )
    record_beat_tick()
    samples = scrape()
    worker = ("worker", "host/11")
    assert samples[("moderation_celery_tasks_total", (("outcome", "succeeded"), ("queue", "inference"), worker))] == 7
    assert samples[("moderation_celery_tasks_total", (("outcome", "failed"), ("queue", "inference"), worker))] == 2
    assert samples[("moderation_celery_worker_processes", (("queue", "inference"),))] == 1
    assert samples[("moderation_celery_worker_processes", (("queue", "default"),))] == 0
    assert samples[("moderation_beat_last_tick_age_seconds", ())] < 5
    assert samples[("moderation_metrics_source_up", (("source", "database"),))] == 1
    assert samples[("moderation_metrics_source_up", (("source", "broker"),))] == 1


def test_request_latency_is_labelled_by_route_pattern_not_by_path():
    _, secret = make_token(scopes=["items:read"])
    item = make_item()
    Client().get(f"/api/v1/items/{item.pk}", HTTP_AUTHORIZATION=f"Bearer {secret}")
    Client().get("/no/such/page/SECRET-PATH")
    text = Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode()
    route = resolve(f"/api/v1/items/{item.pk}").route  # e.g. "api/v1/items/<int:item_id>"
    assert f'moderation_http_request_duration_seconds_count{{method="GET",route="{route}",status="2xx"}}' in text
    assert 'route="<unmatched>"' in text
    assert f"/items/{item.pk}" not in text and "SECRET-PATH" not in text


def test_metrics_hold_no_content():
    queue = make_queue(name="Scams")
    enqueue(make_item(text="SECRET-CONTENT-77 buy now", state=Item.State.QUEUED), queue)
    assert "SECRET-CONTENT" not in Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode()


def test_metrics_are_refused_outside_the_operators_networks():
    assert Client(REMOTE_ADDR="198.51.100.4").get("/metrics").status_code == 403


def test_account_risk_models_share_the_model_health_metrics():
    """A risk version in alert is in the same family as the content models, so one Prometheus rule covers both;
    a retired version is not scraped."""
    from accounts.models import RiskModelHealth, RiskModelVersion

    now = timezone.now()
    for name, status, state in (("risk-live", "active", "alert"), ("risk-old", "retired", "alert")):
        version = RiskModelVersion.objects.create(
            name=name, status=status, artifact=f"risk/{name}.joblib", artifact_sha256="0" * 64, decisions_until=now
        )
        RiskModelHealth.objects.create(
            version=version, state=state, precision=0.4, drift_psi=0.3, computed_at=now, state_since=now
        )
    samples = scrape()
    key = (
        "moderation_model_health_alert",
        (("kind", "account_risk"), ("state", "alert"), ("status", "active"), ("version", "risk-live")),
    )
    assert samples[key] == 1
    assert samples[("moderation_model_live_precision", (("kind", "account_risk"), ("version", "risk-live")))] == 0.4
    assert samples[("moderation_model_drift_psi", (("kind", "account_risk"), ("version", "risk-live")))] == 0.3
    assert not any(labels and ("version", "risk-old") in labels for _, labels in samples)
