"""Server time to render the work view with the next item, claim included, with ~1,000,000 pending items.

    scripts/with-services.sh .venv/bin/python bench/work_view.py [--requests 300]

Uses the claims benchmark's PostgreSQL database (``bench/claims.py`` generates 1,000,000 pending
entries over 10 queues and 5,000,000 decided rows; run it first, or pass --generate). Each request
is what a reviewer's browser sends when the next item is needed: an htmx GET of the queue, which
claims the best item and renders the workspace fragment (scores, reports, author history, group).
The item is then handed back (outside the timing) so every request claims through the index again.
Timed in-process with Django's test client: server time only, no network.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "moderation_bench_claims"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--generate", action="store_true", help="Run bench/claims.py's data generation first.")
    parser.add_argument("--database", default=DB_NAME, help="the claims benchmark's database")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("needs DATABASE_URL pointing at PostgreSQL (run it through scripts/with-services.sh)")
    if args.generate:
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "claims.py"), "--items", "0", "--reuse", "--database", args.database],
            cwd=ROOT,
            check=True,
        )
    os.environ["DATABASE_URL"] = base.rpartition("/")[0] + "/" + args.database
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "bench-work-view"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment

    from classifiers.models import ModelVersion, PolicyCategory, Score
    from queues.models import Queue, QueueEntry

    setup_test_environment()  # lets the test client run against this (non-test) database
    pending = QueueEntry.objects.filter(status="pending").count()
    queue = Queue.objects.filter(members__isnull=False).order_by("pk").first()
    if queue is None:
        sys.exit("no queue with members; generate data with bench/claims.py first")
    user = queue.members.first()
    # Give the items at the head of the queue real scores, so the model panel renders as in production.
    head = list(
        QueueEntry.objects.filter(queue=queue, status="pending")
        .order_by("sort_key")
        .values_list("item_id", flat=True)[:50]
    )
    version = ModelVersion.objects.get(kind="text", status="active")
    Score.objects.bulk_create(
        [
            Score(item_id=item_id, model_version=version, category=category, probability=0.42, from_prior=True)
            for item_id in head
            for category in PolicyCategory.objects.all()
        ],
        ignore_conflicts=True,
    )
    client = Client()
    client.force_login(user)
    print(
        f"pending entries: {pending:,} over {Queue.objects.count()} queues; queue {queue.name!r};"
        f" load {os.getloadavg()}"
    )
    timings = []
    for _ in range(args.requests):
        started = time.perf_counter()
        response = client.get(f"/queues/{queue.slug}/", HTTP_HX_REQUEST="true")
        timings.append(time.perf_counter() - started)
        if response.status_code != 200 or b'id="decision-form"' not in response.content:
            sys.exit(f"unexpected response {response.status_code}: {response.content[:300]!r}")
        # Hand the item back (not timed), so the next request claims through the index again.
        QueueEntry.objects.filter(queue=queue, claimed_by=user, status="claimed").update(
            status="pending", claimed_by=None, lease_until=None
        )
    timings.sort()
    p50, p95, p99 = (timings[int(q * (len(timings) - 1))] * 1000 for q in (0.5, 0.95, 0.99))
    print(f"work view (claim + render), {len(timings)} requests: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
          f"mean {statistics.mean(timings) * 1000:.1f} ms")  # fmt: skip
    print(f"goal p95 <= 50 ms: {'met' if p95 <= 50 else 'NOT met'}; load at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
