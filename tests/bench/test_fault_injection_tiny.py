"""The fault-injection benchmark's tiny configuration: its own PostgreSQL and Redis, gunicorn, beat and two
workers, one worker kill, the broker and the database down for 3 s each, one poison kill (about 100 s)."""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_the_tiny_fault_injection_run_prints_its_figures_and_loses_nothing(capsys):
    if not shutil.which("redis-server") or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if os.environ.get("CI"):
            pytest.fail("CI must install PostgreSQL and Redis (the fault-injection run starts its own)")
        pytest.skip("needs PostgreSQL's server binaries and redis-server")
    from bench.fault_injection import main

    results = main(
        ["--items", "40", "--kills", "1", "--kill-every", "4", "--broker-down", "3", "--db-down", "3",
         "--poison-batch", "6", "--poison-kills", "1", "--timeout", "240"]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert "FIGURES " in printed and "lost: 0" in printed
    assert results["totals"]["lost"] == 0
    assert results["totals"]["scored_twice"] == 0
    assert results["totals"]["failed_under_load"] == 0
    assert results["poison"]["bystanders_failed"] == 0
    broker = results["broker_down"]["outcome"]
    assert not [status for status in broker.statuses if isinstance(status, int) and status >= 500], broker.statuses
    database = results["database_down"]
    assert database["api"].html_500 == 0 and database["page"].html_500 == 0
    api_5xx = sum(n for status, n in database["api"].statuses.items() if isinstance(status, int) and status >= 500)
    assert api_5xx == database["api"].json_503_with_retry_after  # every one a 503 with Retry-After and JSON
