"""Through a real worker process: the request id follows an API call into the scoring task's JSON log lines,
and the worker's heartbeat reports its queues and its task counts."""

import json

import pytest
from django.test import Client

from ops.models import Heartbeat
from tests.factories import item_payload, make_token
from tests.ops.worker_process import broker_url_or_skip, start_worker, stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _log_lines(path) -> list[dict]:  # noqa: ANN001
    lines = []
    for line in path.read_text().splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # a line Celery prints itself before logging is configured
    return lines


def test_the_request_id_reaches_the_scoring_tasks_log_lines_and_the_heartbeat_counts_the_task(tmp_path):
    broker_url = broker_url_or_skip()
    _, secret = make_token(scopes=["items:write"])
    response = Client().post(
        "/api/v1/items",
        item_payload(text="win a prize now"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_X_REQUEST_ID="req-from-proxy-0001",
    )
    assert response.status_code == 201
    assert response["X-Request-ID"] == "req-from-proxy-0001"

    log = tmp_path / "worker.log"
    worker = start_worker(broker_url, tmp_path, LOG_FORMAT="json", LOG_LEVEL="INFO", OPS_HEARTBEAT_SECONDS="1")
    try:
        wait_until(
            lambda: any(
                line.get("request_id") == "req-from-proxy-0001" and line.get("task_name") == "queues.tasks.score_items"
                for line in _log_lines(log)
            ),
            timeout=180,
            what="a scoring log line with the request's id",
            log=log,
        )
        wait_until(
            lambda: any(
                row.task_counts.get("inference", {}).get("succeeded", 0) >= 1
                for row in Heartbeat.objects.filter(kind="worker")
            ),
            timeout=30,
            what="the heartbeat to count the scoring task",
            log=log,
        )
    finally:
        stop(worker)
    rows = list(Heartbeat.objects.filter(kind="worker"))
    assert all(row.queues == ["default", "inference"] for row in rows)
    # The pool process loaded its models when it started (worker_process_init) and its heartbeat says so.
    assert any(row.models_ready for row in rows)
    assert "ready to score" in log.read_text()
    # Every line the worker wrote through logging is one JSON object with the fields an operator filters on.
    scored = [line for line in _log_lines(log) if line.get("task_name") == "queues.tasks.score_items"]
    assert {"time", "level", "logger", "message", "request_id", "task_id"} <= set(scored[0])
    assert "win a prize" not in log.read_text()  # the content never reaches the log


def test_an_incoming_request_id_that_is_not_plain_is_replaced():
    response = Client().get("/accounts/login/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32
