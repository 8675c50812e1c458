"""bench/risk_health.py's tiny configuration: it builds its cases, times the three figures and prints them."""

from tests.bench.conftest import figure, run_bench


def test_the_risk_health_benchmark_prints_the_per_view_cost_before_and_the_stored_read_now(bench_database):
    out = run_bench(
        "risk_health.py",
        "--cases",
        "300",
        "--samples",
        "2",
        "--compute-samples",
        "2",
        "--database",
        bench_database("risk_health"),
    )

    assert "SYNTHETIC DATA: 300 closed account cases" in out
    figure(r"^health computed from the cases .*: p50 [\d.]+ ms, p95 [\d.]+ ms$", out)
    figure(r"^periodic check writing the stored rows \(refresh_all, once\): [\d.]+ ms, \d in alert$", out)
    queries = int(figure(r"^home page reading the stored rows: p50 [\d.]+ ms, p95 [\d.]+ ms, (\d+) queries$", out)[1])
    assert queries > 0  # the count is measured, not a constant
