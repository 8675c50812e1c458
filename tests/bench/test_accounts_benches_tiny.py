"""The account benchmarks' tiny configurations: they run end to end and print their figures."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


def run(*args: str) -> str:
    # A subprocess: each benchmark sets Django up on its own database, which this test process must not do.
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=280, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRES or not os.environ.get("REDIS_URL"), reason="measures PostgreSQL with a worker")
def test_the_intake_benchmark_prints_throughput_and_signal_lag():
    out = run(
        "bench/accounts_intake.py",
        "--batches",
        "3",
        "--lag-seconds",
        "3",
        "--database",
        "moderation_accounts_bench_tiny",
    )

    assert re.search(r"throughput: 3,000 events in [\d.]+ s = [\d,]+ events/s", out), out
    assert re.search(r"signal lag at [\d,]+ events/s sent .* p95 [\d.]+ s", out), out


@pytest.mark.slow
def test_the_detection_benchmark_prints_catch_and_false_positive_rates():
    out = run(
        "bench/accounts_detection.py", "--tiny", "--seed", "3", "--database", "moderation_accounts_bench_tiny_det"
    )

    assert "SYNTHETIC DATA" in out
    for attack in ("fake_account", "takeover", "fraud", "scraping"):
        assert re.search(rf"^{attack}\s+\d+\s+\d+\s+[\d.]+%", out, re.MULTILINE), out
    assert re.search(r"^any\s+\d+\s+\d+\s+[\d.]+%", out, re.MULTILINE), out


@pytest.mark.slow
def test_the_risk_model_benchmark_prints_rules_and_model_side_by_side():
    out = run("bench/accounts_risk_model.py", "--tiny", "--database", "moderation_accounts_bench_tiny_risk")

    assert "SYNTHETIC DATA" in out
    for attack in ("fake_account", "takeover", "fraud", "scraping"):
        assert re.search(rf"^{attack}\s+\d+\s+[\d.]+%\s+[\d.]+%", out, re.MULTILINE), out


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRES, reason="measures PostgreSQL queries over a generated data set")
def test_the_scale_benchmark_builds_its_data_and_prints_the_three_figures():
    out = run(
        "bench/accounts_scale.py", "--accounts", "2000", "--events", "20000", "--days", "8", "--cases", "20",
        "--samples", "10", "--risk-decisions", "120", "--database", "moderation_accounts_bench_tiny_scale", "--drop",
        "--case-view-parts", "5",
    )  # fmt: skip

    assert "SYNTHETIC DATA" in out
    assert re.search(r"data: accounts 2,000, events 20,000, identifiers [\d,]+, snapshots 6,666", out), out
    for figure in (
        "case view", "linked-account lookup", "rule preview \\(7 days\\)", "risk scoring \\(case_risk_of\\)",
        "risk features: SQL MAX over readings", "risk features: snapshot JSON",
        "risk features, longest histories: SQL MAX", "risk features, longest histories: snapshot JSON",
    ):  # fmt: skip
        assert re.search(rf"^{figure}: n=\d+ p50 [\d.]+ ms, p95 [\d.]+ ms", out, re.MULTILINE), out
    assert re.search(r"risk version account-risk-\S+ trained on \d+ decisions", out), out
    for part in ("total", "queries \\(all\\)", "template \\(less its queries\\)", "rest \\(middleware, view, ORM\\)"):
        assert re.search(rf"case view part {part}: in 5 of 5 views, p50 [\d.]+ ms", out), out
    assert "dropped moderation_accounts_bench_tiny_scale" in out


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRES, reason="measures PostgreSQL queries over a generated data set")
def test_the_scale_benchmark_can_build_only_what_the_rule_preview_reads():
    out = run(
        "bench/accounts_scale.py", "--accounts", "2000", "--events", "20000", "--days", "8", "--snapshots-only",
        "--database", "moderation_accounts_bench_tiny_scale_snap", "--drop",
    )  # fmt: skip

    assert re.search(r"data: accounts 2,000, events 0, identifiers 0, snapshots 6,666, snapshot readings 6,666", out)
    assert re.search(r"^rule preview \(7 days\): n=8 p50 [\d.]+ ms, p95 [\d.]+ ms", out, re.MULTILINE), out
    assert "case view:" not in out
