import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.fake_llm_server import start_in_thread

REPO = Path(__file__).resolve().parents[2]
MODEL_SERVER_START_SECONDS = 240


@pytest.fixture(scope="session")
def model_server():
    """The real SmolLM2 server (scripts/llm_server.py) as a process on a free loopback port; yields its /v1 URL."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "llm_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + MODEL_SERVER_START_SECONDS
    line = ""
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line.startswith("listening on "):
            break
    if not line.startswith("listening on "):
        process.kill()
        pytest.fail(f"the model server did not start (exit code {process.poll()})")
    yield line.split("listening on ", 1)[1].strip()
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def fake_endpoint():
    """The misbehaving endpoint (scripts/fake_llm_server.py) in a thread of this process, on a real socket."""
    server = start_in_thread(delay=0.0, slow_delay=3.0)
    yield server
    server.shutdown()


@pytest.fixture(autouse=True)
def no_cached_labeler_tables():
    """The labeler table is cached (in Redis when REDIS_URL is set): no test reads another test's copy."""
    from django.core.cache import cache

    from labeling.labeler_table import PERIODS, cache_key

    cache.delete_many([cache_key(days) for days in PERIODS])
    yield
    cache.delete_many([cache_key(days) for days in PERIODS])
