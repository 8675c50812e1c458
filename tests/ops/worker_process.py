"""A real Celery worker process for ops tests, against the test database and the test Redis."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def broker_url_or_skip() -> str:
    url = os.environ.get("REDIS_URL")
    if not url or connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL and REDIS_URL (scripts/with-services.sh starts both)")
        pytest.skip("needs PostgreSQL and a Redis server (REDIS_URL)")
    import redis

    redis.Redis.from_url(url).flushdb()  # no stale messages from earlier tests
    return url


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(broker_url: str, tmp_path: Path, *, queues: str = "inference,default", **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VAR_DIR": str(tmp_path / "var"),
        "SCORING_FILL_WAIT_MS": "0",
        "OMP_NUM_THREADS": "1",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "moderation_site", "worker", "--queues", queues,
         "--concurrency", "1", "--pool", "prefork", "--without-gossip", "--without-mingle",
         # Celery sets the root level from --loglevel (WARNING by default), whatever LOGGING says.
         "--loglevel", env.get("LOG_LEVEL", "WARNING")],
        cwd=ROOT, env=environment, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "worker.log", "w"),
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
