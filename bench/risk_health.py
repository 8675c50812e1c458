#!/usr/bin/env python
"""What the home page paid for the account risk models' health on every view, and what it pays now.

    DATABASE_URL=postgres://moderation:moderation@127.0.0.1:5432/moderation \\
      OMP_NUM_THREADS=1 .venv/bin/python bench/risk_health.py --cases 100000 --samples 30 [--reuse]

Builds a fresh database (``--database``, dropped and created): an active and a shadow risk version and
``--cases`` closed account cases that both scored, spread over the monitoring history (28 days), 30 % of them
violations, the risks leaning towards the verdict. SYNTHETIC: the rows are generated in SQL and say nothing
about real accounts; the versions' artifacts are never loaded (health reads the cases' stored risks only).

Then, in one run, it times:

* ``risk_health.version_health`` of both versions: what the home page computed on every view before the
  health was stored (``--compute-samples`` times, p50 / p95; it now also builds the per-day series, which
  the code before did not);
* ``risk_health.refresh_all``: the periodic check writing the stored rows (a worker's cost, once per
  ``MONITOR_INTERVAL_SECONDS``);
* the home page for an admin, which reads the stored rows (``--samples`` views, server time p50 / p95 through
  Django's test client, and its query count).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

ACCOUNTS = 2_000  # cases are spread over this many accounts (health reads no account)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(fn, samples: int) -> list[float]:  # noqa: ANN001 - a callable
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def build(url: str, cases: int) -> tuple:
    from bench_postgres import connect, insert_select
    from django.utils import timezone

    from accounts.models import Account, AccountCase, RiskModelVersion
    from intake.models import Author

    now = timezone.now()
    versions = [
        RiskModelVersion.objects.create(
            name=f"bench-risk-{status}",
            status=status,
            artifact="bench/not-loaded.joblib",
            artifact_sha256="0" * 64,
            case_types=["takeover", "fraud"],
            decisions_until=now,
            activated_at=now if status == "active" else None,
        )  # fmt: skip
        for status in (RiskModelVersion.Status.ACTIVE, RiskModelVersion.Status.SHADOW)
    ]
    with connect(url, autocommit=True) as conn:
        insert_select(conn, Author, {"source": "'bench'", "external_id": "'risk-' || a"},
                      "FROM generate_series(1, %(n)s) a", {"n": ACCOUNTS})  # fmt: skip
        insert_select(conn, Account, {"author_id": "id", "state": "'active'", "strikes": "0"}, "FROM queues_author")
        low = conn.execute("SELECT min(author_id) FROM accounts_account").fetchone()[0]
        # r: the verdict (30 % violations); the risks lean towards it, the shadow's a little less.
        insert_select(
            conn,
            AccountCase,
            {
                "account_id": "%(low)s + (c %% %(accounts)s)",
                "case_type": "CASE WHEN c %% 3 = 0 THEN 'fraud' ELSE 'takeover' END",
                "status": "'closed'",
                "opened_at": "now() - (c %% 27) * interval '1 day' - interval '2 hours'",
                "closed_at": "now() - (c %% 27) * interval '1 day' - interval '1 hour'",
                "violation": "r < 0.3",
                "model_version_id": "%(active)s",
                "model_risk": "CASE WHEN r < 0.3 THEN 0.4 + 0.6 * random() ELSE 0.6 * random() END",
                "shadow_version_id": "%(shadow)s",
                "shadow_risk": "CASE WHEN r < 0.3 THEN 0.3 + 0.7 * random() ELSE 0.7 * random() END",
            },
            "FROM (SELECT c, random() AS r FROM generate_series(1, %(n)s) c) s",
            {"n": cases, "low": low, "accounts": ACCOUNTS, "active": versions[0].pk, "shadow": versions[1].pk},
        )
        conn.execute("ANALYZE accounts_accountcase")
    return tuple(versions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--database", default="moderation_bench_risk_health")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=30, help="home page views timed")
    parser.add_argument("--compute-samples", type=int, default=5, help="health computations timed")
    parser.add_argument("--reuse", action="store_true", help="measure the cases an earlier run built")
    args = parser.parse_args(argv)

    from accounts_setup import fresh_postgres, setup_django
    from bench_postgres import require_postgres_url, with_database

    if args.reuse:
        url = with_database(require_postgres_url("bench/risk_health.py"), args.database)
    else:
        url = fresh_postgres("bench/risk_health.py", args.database)
    setup_django(database_url=url)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from accounts import risk_health
    from accounts.models import AccountCase, RiskModelVersion

    if args.reuse:
        versions = tuple(RiskModelVersion.objects.filter(name__startswith="bench-risk-").order_by("pk"))
        args.cases = AccountCase.objects.count()
    else:
        versions = build(url, args.cases)
    print(f"SYNTHETIC DATA: {args.cases:,} closed account cases scored by an active and a shadow risk version; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip

    before = timed(lambda: [risk_health.version_health(v) for v in versions], args.compute_samples)
    start = time.perf_counter()
    alerts = risk_health.refresh_all()
    refresh_ms = (time.perf_counter() - start) * 1000

    admin = get_user_model().objects.filter(username="bench-risk-admin").first()
    admin = admin or get_user_model().objects.create_superuser(username="bench-risk-admin", password="bench-pw-1")
    client = Client()
    client.force_login(admin)
    assert client.get("/").status_code == 200  # warm: templates, the session
    queries: list[str] = []

    def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202 - Django's execute wrapper
        queries.append(sql)  # a wrapper, not CaptureQueriesContext: the request's end may reconnect
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        page = client.get("/").content.decode()
    assert versions[0].name in page and "not checked yet" not in page.split('id="account-model-health"')[1]
    home = timed(lambda: client.get("/"), args.samples)

    print(f"health computed from the cases (both versions, as each home page view did before): "
          f"p50 {statistics.median(before):.1f} ms, p95 {p95(before):.1f} ms")  # fmt: skip
    print(f"periodic check writing the stored rows (refresh_all, once): {refresh_ms:.1f} ms, {alerts} in alert")
    print(f"home page reading the stored rows: p50 {statistics.median(home):.1f} ms, p95 {p95(home):.1f} ms, "
          f"{len(queries)} queries")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
