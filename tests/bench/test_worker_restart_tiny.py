"""The worker-restart benchmark's tiny configuration: its own PostgreSQL and Redis, gunicorn, one scoring worker
killed once and restarted, with the cold-start priors only (about 90 s)."""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_the_tiny_worker_restart_run_prints_its_figures(capsys):
    if not shutil.which("redis-server") or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if os.environ.get("CI"):
            pytest.fail("CI must install PostgreSQL and Redis (the worker-restart run starts its own)")
        pytest.skip("needs PostgreSQL's server binaries and redis-server")
    from bench.worker_restart import main

    results = main(["--restarts", "1", "--no-models", "--timeout", "240"])
    printed = capsys.readouterr().out
    assert "FIGURES restart-to-first-score" in printed
    [restart] = results["restarts"]
    # Readiness comes before (or with) the first score: the models are loaded when the process starts, and the
    # heartbeat says so at once (polled every 0.1 s, so a tie can read either way by a poll).
    assert 0 < restart["models_ready_s"] <= restart["first_score_s"] + 0.2
    assert restart["worker_cpu_s"] > 0
    # The restarted pool process said when its models were loaded and what it had imported by then: a scoring
    # worker whose models run on ONNX Runtime and numpy never imports torch (seconds of every restart).
    assert "FIGURES preload" in printed and "ready to score" in restart["preload"]
    assert "torch" not in restart["preload"] and "timm" not in restart["preload"], restart["preload"]
