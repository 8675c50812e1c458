#!/usr/bin/env python
"""A bulk decision over 1,000 items on PostgreSQL: how long it takes, and that every item got its own records.

    scripts/with-services.sh .venv/bin/python bench/console_bulk.py              # 1,000 items
    scripts/with-services.sh .venv/bin/python bench/console_bulk.py --items 50   # the CI's tiny run

The issue's target: a bulk decision of 1,000 items completes in <= 10 s with 1,000 decisions, audit events and
webhook outbox rows.

It works in its own database (``--database``, default ``moderation_bench_console_bulk``, recreated on every
run; the name must contain 'bench'), migrates it, and creates a lead who works one queue holding ``--items``
pending items (plus 20,000 decided ones around them, so the tables are not empty) and one webhook subscription
to ``decision.created``. Then it times, in this process, the two halves a lead's click sets off: the request's
part (``start_bulk_decision``: checks, the job row, one row per item) and the worker's part
(``run_bulk_action``, the task's own code, called directly), then the undo; and counts the decisions, labels,
audit events, webhook events and deliveries written. Exits 1 if the run took over 10 s or a count is off.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_postgres import connect, require_postgres_url, with_database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable)
sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 10.0
BACKGROUND_ITEMS = 20_000


def fresh_database(admin_url: str, name: str) -> str:
    if "bench" not in name:
        sys.exit(f"bench/console_bulk.py: refusing to use database {name!r}: its name must contain 'bench'.")
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin_url, name)
    env = dict(os.environ, DATABASE_URL=url, MODERATION_ENV="embedded", LOG_LEVEL="WARNING")
    subprocess.run([str(PYTHON), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return url


def populate(items: int) -> tuple[object, list[int]]:
    """The lead, their queue's ``items`` pending items (ids), decided items around them, a webhook subscription."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.utils import timezone

    from intake.models import Item
    from queues.models import Queue, QueueEntry
    from webhooks.models import WebhookSubscription

    lead = get_user_model().objects.create_user(username="bench-bulk-lead")
    lead.user_permissions.add(Permission.objects.get(codename="run_bulk_actions"))
    lead = get_user_model().objects.get(pk=lead.pk)
    queue = Queue.objects.create(name="Bulk bench", slug="bulk-bench", explore_rate=0)
    queue.members.add(lead)
    now = timezone.now()
    rows = [
        Item(source="bench", external_id=f"b-{n}", text=f"bench item {n}: win a prize", state="queued")
        for n in range(BACKGROUND_ITEMS + items)
    ]
    Item.objects.bulk_create(rows, batch_size=2000)
    Item.objects.filter(pk__in=[r.pk for r in rows[:BACKGROUND_ITEMS]]).update(state="decided")
    entries = [
        QueueEntry(
            item=row,
            queue=queue,
            sort_key=n,
            risk=0.5,
            enqueued_at=now,
            deadline_at=now + queue.deadline,
            status="done" if n < BACKGROUND_ITEMS else "pending",
        )  # fmt: skip
        for n, row in enumerate(rows)
    ]
    QueueEntry.objects.bulk_create(entries, batch_size=2000)
    WebhookSubscription.objects.create(url="https://tickets.example/hooks", event_types=["decision.created"])
    return lead, [row.pk for row in rows[BACKGROUND_ITEMS:]]


def run(items: int) -> int:
    from audit.models import AuditEvent
    from console import bulk
    from queues.models import Decision, QueueEntry
    from review.models import Label
    from webhooks.models import Delivery, WebhookEvent

    lead, ids = populate(items)
    started = time.perf_counter()
    job = bulk.start_bulk_decision(user=lead, item_ids=ids, action="remove", categories=["spam"], note="bench")
    requested = time.perf_counter()
    job = bulk.run_bulk_action(bulk_action_id=job.pk)
    finished = time.perf_counter()
    counts = {
        "decisions": Decision.objects.filter(item_id__in=ids).count(),
        "labels": Label.objects.filter(item_id__in=ids).count(),
        "audit events (decision.created)": AuditEvent.objects.filter(action="decision.created").count(),
        "webhook events (decision.created)": WebhookEvent.objects.filter(type="decision.created").count(),
        "webhook deliveries (outbox)": Delivery.objects.count(),
    }
    undo_started = time.perf_counter()
    bulk.undo_bulk_action(bulk_action_id=job.pk, user=lead)
    undone = time.perf_counter()
    pending_again = QueueEntry.objects.filter(item_id__in=ids, status="pending").count()
    total = finished - started
    print(f"bulk decision of {items:,} items ({job.succeeded:,} decided, {job.failed} left alone)")
    print(f"  request part (checks, job and item rows)  {requested - started:7.2f} s")
    print(f"  worker part (decide every item)           {finished - requested:7.2f} s")
    print(f"  total                                      {total:7.2f} s   goal <= {GOAL_SECONDS:.0f} s")
    print(f"  per item                                   {1000 * total / items:7.2f} ms")
    for name, value in counts.items():
        print(f"  {name:<40} {value:>7,}")
    print(
        f"  undo of every decision                     {undone - undo_started:7.2f} s",
        f"({pending_again:,} pending again)",
    )
    expected = dict.fromkeys(counts, items) | {"labels": items * _active_categories()}
    wrong = [name for name, value in counts.items() if value != expected[name]]
    if pending_again != items:
        wrong.append("undo")
    ok = total <= GOAL_SECONDS * items / 1000 and not wrong
    print(f"result: {'within' if total <= GOAL_SECONDS * items / 1000 else 'OVER'} the goal (scaled to {items:,} items)"
          + (f"; counts off: {', '.join(wrong)}" if wrong else "; every count as expected"))  # fmt: skip
    return 0 if ok else 1


def _active_categories() -> int:
    from classifiers.models import PolicyCategory

    return PolicyCategory.objects.filter(is_active=True).count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="moderation_bench_console_bulk", help="its name must contain 'bench'")
    parser.add_argument("--items", type=int, default=1_000)
    args = parser.parse_args(argv)
    url = fresh_database(require_postgres_url("bench/console_bulk.py"), args.database)
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="moderation_site.settings", LOG_LEVEL="ERROR")
    os.environ["CELERY_BROKER_URL"] = "memory://"  # the worker's part is called directly
    import django

    django.setup()
    return run(args.items)


if __name__ == "__main__":
    sys.exit(main())
