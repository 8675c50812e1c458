"""A real Celery worker process for browser tests whose pages start background work (bulk actions)."""

import os
import signal
import subprocess
import sys
from contextlib import contextmanager
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


@contextmanager
def running_worker(tmp_path: Path, *, queues: str = "default"):
    """A worker on ``queues`` (default: ``default``) against the test database; stopped, with its group, on exit."""
    broker = broker_url_or_skip()
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below, after the worker stops
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "moderation_site", "worker", "--queues", queues,
         "--concurrency", "1", "--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        yield worker
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=30)
        log.close()
