"""Retraining through a real Celery worker on the ``training`` queue and a real Redis broker."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from classifiers.models import ModelVersion, RetrainingRun
from learning.retraining import start_retraining
from tests.factories import make_queue, make_user
from tests.learning.test_retraining import label_items, trained_active_version
from tests.queues.test_scoring_worker import _database_url, stop, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker_url():
    url = os.environ.get("REDIS_URL")
    if not url or connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL and REDIS_URL (scripts/with-services.sh starts both)")
        pytest.skip("needs PostgreSQL and a Redis server (REDIS_URL)")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.REVIEW_UNDO_SECONDS = 0


def test_a_real_training_worker_runs_a_started_retraining_to_a_candidate(broker_url, tmp_path):
    reviewer = make_user(username="mira")
    label_items(make_queue(members=[reviewer]), reviewer, copies=3)
    active = trained_active_version()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VAR_DIR": str(tmp_path / "var"),
        "TRAINING_SNAPSHOT_DIR": str(tmp_path / "snapshots"),
        "REVIEW_UNDO_SECONDS": "0",
        "INFERENCE_THREADS": "1",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "moderation_site", "worker", "--queues", "training",
             "--concurrency", "1", "--pool", "prefork", "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
        try:
            run, created = start_retraining(trigger="admin")  # autocommit: the message goes out at once
            assert created
            wait_until(
                lambda: RetrainingRun.objects.get(pk=run.pk).state in ("succeeded", "failed"),
                timeout=240,
                what="the retraining run to finish",
                log=log,
            )
        finally:
            stop(worker)
    run.refresh_from_db()
    assert run.state == "succeeded", run.error
    assert run.candidate.status == "candidate" and run.compared_with == active
    assert run.metrics["active"]["version"] == "text-seed" and run.epoch_losses
    assert ModelVersion.objects.get(kind="text", status="active") == active
