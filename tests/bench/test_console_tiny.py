"""The console benchmarks' tiny configurations: each runs the script's main() on a few items and prints its figures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def _run(script: str, *args: str) -> str:
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI must provide PostgreSQL (scripts/with-services.sh starts it)")
        pytest.skip("the console benchmarks run on PostgreSQL")
    env = dict(os.environ, DATABASE_URL=os.environ["DATABASE_URL"])
    result = subprocess.run(
        [sys.executable, f"bench/{script}", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: a goal missed, which a tiny run may
    return result.stdout


def test_the_search_benchmark_prints_p95_for_every_scenario():
    out = _run("console_search.py", "--items", "3000", "--requests", "3", "--fresh",
               "--database", "moderation_bench_console_tiny")  # fmt: skip
    assert "search: commonest word" in out and "list: spam score >= 0.95" in out
    assert "list: labelled by an LLM (0.5 %)" in out and "list: answered by a crowd worker (0.1 %)" in out
    assert "goals: search p95 <= 100 ms" in out


def test_the_bulk_benchmark_counts_one_decision_audit_event_and_webhook_per_item():
    out = _run("console_bulk.py", "--items", "30", "--database", "moderation_bench_console_bulk_tiny")
    assert "bulk decision of 30 items (30 decided, 0 left alone)" in out
    assert "every count as expected" in out
