"""Scoring through a real Celery worker process and a real Redis broker, including a SIGKILL mid-batch."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection

from classifiers.models import Embedding, ModelVersion, PolicyCategory, Score
from intake.models import Item
from intake.payloads import ItemSubmission
from intake.submission import submit_items
from queues.models import QueueEntry
from queues.scoring import requeue_stuck_scoring
from tests.factories import image_bytes

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

    redis.Redis.from_url(url).flushdb()  # no stale messages from earlier tests
    return url


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(broker_url: str, tmp_path: Path, lease_seconds: int = 120) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VAR_DIR": str(tmp_path / "var"),
        "SCORING_LEASE_SECONDS": str(lease_seconds),
        "SCORING_FILL_WAIT_MS": "0",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "moderation_site", "worker", "--queues", "inference,default",
         "--concurrency", "1", "--pool", "prefork", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "worker.log", "w"),
    )  # fmt: skip


def stop(worker: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop the worker's whole process group; never leave one behind to eat later tests' messages."""
    if worker.poll() is None:
        os.killpg(worker.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)  # the pool child may outlive its parent
    worker.wait(timeout=30)


def wait_until(condition, *, timeout: float, what: str, log: Path) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


def submit_texts(n: int, prefix: str) -> list[int]:
    results = submit_items(
        submissions=[
            ItemSubmission(
                source="worker.test", external_id=f"{prefix}-{i}", text=f"Buy cheap followers now, offer {i}"
            )
            for i in range(n)
        ]
    )
    return [r.item_id for r in results]


def test_a_real_worker_scores_new_items_with_every_category_and_stores_embeddings(broker_url, tmp_path):
    ids = submit_texts(40, "ok")
    [blank] = submit_items(submissions=[ItemSubmission(source="worker.test", external_id="blank", text="   \n ")])
    [broken] = submit_items(
        submissions=[ItemSubmission(source="worker.test", external_id="img", image=_checked_png(), text="look")]
    )
    # The stored file is damaged after ingestion: scoring must fail the item with a reason, not drop it.
    with default_storage.open(Item.objects.get(pk=broken.item_id).image.name, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n garbage")

    worker = start_worker(broker_url, tmp_path)
    try:
        wait_until(
            lambda: not Item.objects.exclude(state="queued").exists(),
            timeout=180,
            what="every item to be scored and routed",
            log=tmp_path / "worker.log",
        )
    finally:
        stop(worker)

    text_version = ModelVersion.objects.get(kind="text", status="active")
    categories = PolicyCategory.objects.filter(is_active=True).count()
    # Scored, then routed by the same worker: every item waits in a queue.
    assert set(Item.objects.filter(id__in=ids).values_list("state", flat=True)) == {"queued"}
    assert Score.objects.filter(item_id__in=ids, model_version=text_version).count() == len(ids) * categories
    assert Embedding.objects.filter(item_id__in=ids).count() == len(ids)
    assert Score.objects.filter(item_id__in=ids, from_prior=False).count() == 0  # only the prior exists yet

    blank_item, broken_item = Item.objects.get(pk=blank.item_id), Item.objects.get(pk=broken.item_id)
    # Failed items keep their reason and still reach a reviewer.
    assert "text is empty" in blank_item.failure_reason and blank_item.entries.filter(status="pending").exists()
    assert "image could not be decoded" in broken_item.failure_reason
    assert broken_item.entries.filter(status="pending").exists()


def test_killing_a_worker_mid_batch_loses_no_item(broker_url, tmp_path, settings):
    settings.SCORING_LEASE_SECONDS = 3
    ids = submit_texts(300, "kill")
    worker = start_worker(broker_url, tmp_path, lease_seconds=3)
    wait_until(
        lambda: Item.objects.filter(id__in=ids, state="queued").exists(),
        timeout=180,
        what="scoring to start",
        log=tmp_path / "worker.log",
    )
    stop(worker, signal.SIGKILL)  # the whole process group: parent and pool child, mid-batch
    unfinished = Item.objects.filter(id__in=ids).exclude(state="queued").count()
    assert unfinished > 0, "the worker finished everything before it was killed; the test proved nothing"

    worker = start_worker(broker_url, tmp_path, lease_seconds=3)
    try:
        deadline = time.monotonic() + 240
        while Item.objects.filter(id__in=ids).exclude(state="queued").exists() and time.monotonic() < deadline:
            time.sleep(3.5)
            requeue_stuck_scoring(older_than_seconds=3)  # what Celery beat runs periodically
    finally:
        stop(worker)

    assert Item.objects.filter(id__in=ids, state="queued").count() == len(ids)
    assert QueueEntry.objects.filter(item_id__in=ids).count() == len(ids)  # each routed exactly once
    version = ModelVersion.objects.get(kind="text", status="active")
    categories = PolicyCategory.objects.filter(is_active=True).count()
    assert Score.objects.filter(item_id__in=ids, model_version=version).count() == len(ids) * categories


def _checked_png():
    from intake.images import check_image

    return check_image(image_bytes("PNG", (16, 16)), max_bytes=10**6, max_pixels=10**6)
