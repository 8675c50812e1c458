"""/health/live and /health/ready: who may read them, what they check, and that they hold no content."""

from datetime import timedelta

import pytest
from celery import current_app as celery_app
from django.test import Client
from django.utils import timezone

from ops.heartbeats import record_beat_tick, record_worker_heartbeat
from ops.models import Heartbeat
from tests.factories import make_item

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.7"


def _all_workers_alive(*, models_ready: bool = True) -> None:
    for name, queues in (("w1/1", ["inference"]), ("w2/2", ["default", "training"])):
        record_worker_heartbeat(
            name=name, queues=queues, models_ready=models_ready, task_counts={}, started_at=timezone.now()
        )
    record_beat_tick()


def test_live_answers_the_operators_network_and_refuses_others():
    assert Client(REMOTE_ADDR="127.0.0.1").get("/health/live").json() == {"status": "live"}
    refused = Client(REMOTE_ADDR=OUTSIDE).get("/health/live")
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"


def test_the_operator_token_opens_health_from_anywhere(settings):
    settings.OPS_TOKEN = "ops-secret-token-123"
    client = Client(REMOTE_ADDR=OUTSIDE)
    assert client.get("/health/live", HTTP_AUTHORIZATION="Bearer ops-secret-token-123").status_code == 200
    assert client.get("/health/live", HTTP_AUTHORIZATION="Bearer ops-secret-token-124").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ops-secret-token-123").status_code == 200


def test_a_proxy_on_loopback_does_not_make_every_caller_local(settings):
    settings.AUDIT_TRUSTED_PROXIES = 1
    client = Client(REMOTE_ADDR="127.0.0.1")
    assert client.get("/health/ready", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 403
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 403
    settings.OPS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/health/live", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 200


def test_health_refuses_other_methods():
    assert Client(REMOTE_ADDR="127.0.0.1").post("/health/ready").status_code == 405


def test_ready_is_200_when_database_broker_cache_workers_and_beat_are_all_there():
    _all_workers_alive()
    response = Client(REMOTE_ADDR="127.0.0.1").get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "cache", "workers", "beat"}
    assert body["checks"]["workers"]["queues"]["inference"] == {"processes": 1, "models_ready": 1}
    assert response["Cache-Control"].startswith("max-age=0")


def test_ready_is_503_without_workers_or_beat_and_says_which():
    body = Client(REMOTE_ADDR="127.0.0.1").get("/health/ready")
    assert body.status_code == 503
    checks = body.json()["checks"]
    assert checks["database"]["ok"] and checks["cache"]["ok"]
    assert not checks["workers"]["ok"] and checks["workers"]["queues"]["inference"]["processes"] == 0
    assert checks["beat"] == {"ok": False, "error": "no tick seen yet", "ms": checks["beat"]["ms"]}


def test_a_worker_whose_models_are_not_loaded_is_not_ready_for_inference():
    _all_workers_alive(models_ready=False)
    checks = Client(REMOTE_ADDR="127.0.0.1").get("/health/ready").json()["checks"]
    assert not checks["workers"]["ok"]
    assert checks["workers"]["queues"]["inference"] == {"processes": 1, "models_ready": 0}


def test_a_killed_worker_goes_stale_and_readiness_says_so(settings):
    _all_workers_alive()
    Heartbeat.objects.filter(name="w1/1").update(
        seen_at=timezone.now() - timedelta(seconds=settings.OPS_HEARTBEAT_STALE_SECONDS + 1)
    )
    response = Client(REMOTE_ADDR="127.0.0.1").get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"]["queues"]["inference"]["processes"] == 0


def test_a_stale_beat_is_not_ready(settings):
    _all_workers_alive()
    Heartbeat.objects.filter(name="beat").update(seen_at=timezone.now() - timedelta(minutes=10))
    checks = Client(REMOTE_ADDR="127.0.0.1").get("/health/ready").json()["checks"]
    assert not checks["beat"]["ok"] and checks["beat"]["age_seconds"] >= 600


def test_a_broker_that_refuses_connections_makes_ready_503_with_the_error_kind():
    _all_workers_alive()
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1: a real refused connection
    try:
        response = Client(REMOTE_ADDR="127.0.0.1").get("/health/ready")
    finally:
        celery_app.conf.broker_url = original
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert broker["ok"] is False and broker["error"] == "OperationalError"
    assert "127.0.0.1" not in response.content.decode()


def test_health_holds_no_content():
    make_item(text="SECRET-CONTENT-6f1c about someone")
    _all_workers_alive()
    assert b"SECRET-CONTENT" not in Client(REMOTE_ADDR="127.0.0.1").get("/health/ready").content
