#!/usr/bin/env python
"""API list endpoints benchmark: p50/p95 server time of the v1 lists over 1,000,000 items, on PostgreSQL.

    scripts/with-services.sh .venv/bin/python bench/api_lists.py            # generate (or reuse) and time
    scripts/with-services.sh .venv/bin/python bench/api_lists.py --fresh    # drop and regenerate the data

The issue's target: every API list endpoint p95 <= 50 ms with 1,000,000 items.

What it does, in order:

1. refuses to run unless ``DATABASE_URL`` names a PostgreSQL database; works only in its own database
   (``--database``, default ``moderation_bench_api``, created next to the one named; the name must
   contain 'bench'), and runs ``manage.py migrate`` on it;
2. unless the database already holds this benchmark's data (and no ``--fresh``), generates it in SQL
   (``INSERT ... SELECT generate_series``): ``--items`` items (default 1,000,000) from 20,000 authors
   over 5 sources, created 2 s apart; one queue entry each over 5 queues, 70 % decided (entry done, one
   decision, a fifth of them removals with a category) and 30 % pending; labels (7 per decision) for
   every tenth decision; one active-model score for ``spam`` per item; then ``VACUUM (ANALYZE)``;
3. times each scenario through Django's test client in this process (the whole request: middleware,
   token authentication, filters, the page query, serialization), ``--requests`` times (default 300),
   after 10 warm-up requests: first pages, deep pages (cursors taken at random rows), and filtered
   pages. Rate limiting is off (``API_RATE_LIMIT=""``) so the numbers are the endpoint's own;
4. prints, per scenario, p50 and p95 of the request's wall time, of this process's CPU time for it, and
   of the time spent in PostgreSQL round trips, with the query count; flags p95 wall times over the
   50 ms goal and exits 1 if any is. On a machine shared with other work, compare the CPU and database
   columns: wall time there includes waiting for a core.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_postgres import connect, create_database_sql, insert_select, require_postgres_url, with_database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable)
sys.path.insert(0, str(ROOT))

GOAL_MS = 50.0
AUTHORS = 20_000
SOURCES = ["bench.posts", "bench.comments", "bench.messages", "bench.profiles", "bench.reviews"]
QUEUES = 5


def prepare_database(admin_url: str, name: str, fresh: bool) -> None:
    if "bench" not in name:
        sys.exit(f"bench/api_lists.py: refusing to use database {name!r}: its name must contain 'bench'.")
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and fresh:
            print(f"dropping database {name} (--fresh)")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            conn.execute(create_database_sql(name))


def migrate(url: str) -> None:
    env = dict(os.environ, DATABASE_URL=url, MODERATION_ENV="embedded", LOG_LEVEL="WARNING")
    subprocess.run([str(PYTHON), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def item_count(url: str) -> int:
    with connect(url) as conn:
        return conn.execute("SELECT count(*) FROM queues_item").fetchone()[0]


def generate(url: str, *, items: int) -> float:
    """Fill the migrated database in SQL; returns the seconds it took."""
    started = time.perf_counter()
    decided = int(items * 0.7)
    # Small tables through the ORM, big ones in SQL through insert_select: either way, columns other features add
    # later get their model defaults.
    from django.contrib.auth import get_user_model

    from classifiers.models import Score
    from intake.models import Author, Item
    from queues.models import Decision, Queue, QueueEntry
    from review.models import Label

    user = get_user_model().objects.create_user(username="bench-api-reviewer")
    queue_rows = [Queue(name=f"API bench queue {n}", slug=f"api-bench-{n}") for n in range(1, QUEUES + 1)]
    queue_rows = Queue.objects.bulk_create(queue_rows)
    for queue in queue_rows:
        queue.members.add(user)
    Author.objects.bulk_create(
        [Author(source="bench", external_id=f"u-{n}", handle=f"@author{n}") for n in range(1, AUTHORS + 1)],
        batch_size=5000,
    )
    reviewer, queues = user.pk, [queue.pk for queue in queue_rows]
    with connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        first_author = conn.execute("SELECT min(id) FROM queues_author").fetchone()[0]
        params = {
            "n": items,
            "decided": decided,
            "sources": SOURCES,
            "queues": queues,
            "reviewer": reviewer,
            "authors": AUTHORS,
            "first_author": first_author,
        }
        # Items 2 s apart, ending now; a decided item was last updated 10 minutes after it arrived.
        insert_select(
            conn,
            Item,
            {
                "source": "(%(sources)s::text[])[1 + g %% 5]",
                "external_id": "'b-' || g",
                "author_id": "%(first_author)s + g %% %(authors)s",
                "text": "'bench item ' || g || ': win a prize, click the link'",
                "state": "CASE WHEN g <= %(decided)s THEN 'decided' ELSE 'queued' END",
                "report_count": "1",
                "created_at": "t",
                "updated_at": "CASE WHEN g <= %(decided)s THEN t + interval '10 minutes' ELSE t END",
                "scored_at": "t",
                "scoring_attempts": "1",
            },
            """FROM (SELECT g, now() - (%(n)s - g) * interval '2 s' - interval '10 minutes' AS t
                       FROM generate_series(1, %(n)s) g) s""",
            params,
        )
        conn.commit()
        print(f"  items        ({time.perf_counter() - started:5.0f} s)", flush=True)
        insert_select(
            conn,
            QueueEntry,
            {
                "status": "CASE WHEN done THEN 'done' ELSE 'pending' END",
                "sort_key": "random()",
                "risk": "random()",
                "selection": "'routed'",
                "enqueued_at": "i.created_at",
                "deadline_at": "i.created_at + interval '4 hours'",
                "claimed_at": "CASE WHEN done THEN i.created_at + interval '9 minutes' END",
                "fencing_token": "CASE WHEN done THEN 1 ELSE 0 END",
                "closed_at": "CASE WHEN done THEN i.updated_at END",
                "claimed_by_id": "CASE WHEN done THEN %(reviewer)s END",
                "item_id": "i.id",
                "queue_id": "(%(queues)s::bigint[])[1 + i.id %% 5]",
            },
            "FROM (SELECT *, state = 'decided' AS done FROM queues_item) i",
            params,
        )
        conn.commit()
        print(f"  entries      ({time.perf_counter() - started:5.0f} s)", flush=True)
        insert_select(
            conn,
            Decision,
            {
                "action": "CASE WHEN e.item_id %% 5 = 0 THEN 'remove' ELSE 'no_violation' END",
                "automatic": "false",
                "claimed_at": "e.claimed_at",
                "created_at": "e.closed_at",
                "item_id": "e.item_id",
                "reviewer_id": "%(reviewer)s",
                "entry_id": "e.id",
            },
            "FROM queues_queueentry e WHERE e.status = 'done'",
            params,
        )
        conn.execute(
            """INSERT INTO queues_decision_categories (decision_id, policycategory_id)
               SELECT d.id, (SELECT id FROM classifiers_policycategory WHERE slug = 'spam')
                 FROM queues_decision d WHERE d.action = 'remove'"""
        )
        conn.commit()
        print(f"  decisions    ({time.perf_counter() - started:5.0f} s)", flush=True)
        insert_select(
            conn,
            Label,
            {
                "item_id": "d.item_id",
                "category_id": "c.id",
                "value": "d.action = 'remove' AND c.slug = 'spam'",
                "decision_id": "d.id",
                "reviewer_id": "d.reviewer_id",
                "queue_id": "e.queue_id",
                "selection": "'routed'",
                "created_at": "d.created_at",
            },
            """FROM queues_decision d JOIN queues_queueentry e ON e.id = d.entry_id
              CROSS JOIN classifiers_policycategory c
              WHERE d.id %% 10 = 0 AND c.is_active""",
        )
        conn.commit()
        print(f"  labels       ({time.perf_counter() - started:5.0f} s)", flush=True)
        insert_select(
            conn,
            Score,
            {
                "item_id": "i.id",
                "model_version_id": (
                    "(SELECT id FROM classifiers_modelversion WHERE status = 'active' AND kind = 'text')"
                ),
                "category_id": "(SELECT id FROM classifiers_policycategory WHERE slug = 'spam')",
                "probability": "random()",
                "from_prior": "false",
                "created_at": "i.created_at",
            },
            "FROM queues_item i",
        )
        conn.commit()
        print(f"  scores       ({time.perf_counter() - started:5.0f} s)", flush=True)
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def data_sizes(url: str) -> dict[str, int]:
    with connect(url) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "items": one("SELECT count(*) FROM queues_item"),
            "pending entries": one("SELECT count(*) FROM queues_queueentry WHERE status = 'pending'"),
            "decisions": one("SELECT count(*) FROM queues_decision"),
            "current labels": one("SELECT count(*) FROM queues_label WHERE superseded_by_id IS NULL"),
            "scores": one("SELECT count(*) FROM classifiers_score"),
            "queues": one("SELECT count(*) FROM queues_queue"),
            "database MB": one("SELECT pg_database_size(current_database()) / 1048576"),
        }


def scenarios(rng: random.Random) -> list[tuple[str, str, object]]:
    """(name, path, params or a function returning params) for each timed request kind."""
    from django.db.models import Max, Min

    from api.pagination import KeysetPagination
    from intake.models import Author, Item
    from queues.models import Decision, Queue
    from review.models import Label

    encode = KeysetPagination._encode
    low, high = Item.objects.aggregate(low=Min("id"), high=Max("id")).values()
    d_low, d_high = Decision.objects.aggregate(low=Min("id"), high=Max("id")).values()
    l_low, l_high = Label.objects.aggregate(low=Min("id"), high=Max("id")).values()
    queue = Queue.objects.filter(slug__startswith="api-bench-").order_by("id").first()
    author_ids = list(Author.objects.values_list("external_id", flat=True)[:500])

    def item_cursor() -> dict:
        row = Item.objects.filter(id__gte=rng.randint(low, high)).order_by("id").values("id", "updated_at").first()
        return {"cursor": encode(row["updated_at"], row["id"])}

    def decision_cursor() -> dict:
        row = Decision.objects.filter(id__gte=rng.randint(d_low, d_high)).order_by("id").values("id", "created_at")
        row = row.first()
        return {"cursor": encode(row["created_at"], row["id"])}

    def label_cursor() -> dict:
        row = Label.objects.filter(id__gte=rng.randint(l_low, l_high)).order_by("id").values("id", "created_at")
        row = row.first()
        return {"cursor": encode(row["created_at"], row["id"])}

    # The data's own "now" (its latest change), so "the last N minutes" finds rows however long ago it was generated.
    now = Item.objects.order_by("-updated_at").values_list("updated_at", flat=True).first().timestamp()

    def recent_sync() -> dict:
        # "What changed in the last N minutes": the incremental sync call.
        from datetime import UTC, datetime

        minutes = rng.randint(1, 120)
        return {"updated_after": datetime.fromtimestamp(now - minutes * 60, UTC).isoformat()}

    return [
        ("items: first page", "/api/v1/items", {}),
        ("items: deep page (random cursor)", "/api/v1/items", item_cursor),
        ("items: limit=500 deep", "/api/v1/items", lambda: {**item_cursor(), "limit": 500}),
        ("items: updated_after (sync)", "/api/v1/items", recent_sync),
        ("items: state=queued", "/api/v1/items", {"state": "queued"}),
        ("items: state=queued deep", "/api/v1/items", lambda: {**item_cursor(), "state": "queued"}),
        ("items: source", "/api/v1/items", lambda: {"source": rng.choice(SOURCES)}),
        ("items: author", "/api/v1/items", lambda: {"author": rng.choice(author_ids)}),
        ("items: queue slug", "/api/v1/items", {"queue": queue.slug}),
        ("items: queue deep", "/api/v1/items", lambda: {**item_cursor(), "queue": queue.slug}),
        ("items: spam score>=0.9", "/api/v1/items", {"category": "spam", "score_min": "0.9"}),
        (
            "items: spam score>=0.9 deep",
            "/api/v1/items",
            lambda: {**item_cursor(), "category": "spam", "score_min": "0.9"},
        ),  # fmt: skip
        ("items: created range", "/api/v1/items", lambda: {**recent_sync(), "created_before": "2100-01-01T00:00:00Z"}),
        ("decisions: first page", "/api/v1/decisions", {}),
        ("decisions: deep page", "/api/v1/decisions", decision_cursor),
        ("decisions: action=remove", "/api/v1/decisions", {"action": "remove"}),
        ("decisions: category=spam deep", "/api/v1/decisions", lambda: {**decision_cursor(), "category": "spam"}),
        ("decisions: queue", "/api/v1/decisions", {"queue": queue.slug}),
        ("labels: first page", "/api/v1/labels", {}),
        ("labels: deep page", "/api/v1/labels", label_cursor),
        ("labels: category=spam value=true", "/api/v1/labels", {"category": "spam", "value": "true"}),
        ("queues (with live stats)", "/api/v1/queues", {}),
        ("categories", "/api/v1/categories", {}),
        ("model versions", "/api/v1/model-versions", {}),
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run(requests: int, seed: int, goal_ms: float = GOAL_MS) -> int:
    from django.conf import settings

    settings.API_RATE_LIMIT = ""
    from django.test import Client

    from api.models import ApiToken

    rng = random.Random(seed)
    user = (
        __import__("django.contrib.auth", fromlist=["get_user_model"])
        .get_user_model()
        .objects.get(username="bench-api-reviewer")
    )
    ApiToken.objects.filter(name="bench/api_lists.py").delete()
    token = ApiToken(name="bench/api_lists.py", user=user, scopes=["admin"])
    secret = token.issue_secret()
    token.save()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    # As gunicorn.conf.py does in every web worker: load every view, then move the process's
    # long-lived objects out of the garbage collector's way. Without it, the full collections a
    # 500-row page sets off scan all of Django and cost ~100 ms that production does not pay.
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - importing the URLconf imports every view
    gc.freeze()
    from django.db import connection

    db_seconds = [0.0]
    query_count = [0]

    def timed_query(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            db_seconds[0] += time.perf_counter() - started
            query_count[0] += 1

    over = []
    print(
        "\nwall = the whole request in this process; cpu = this process's CPU time for it (Django, DRF,"
        "\npsycopg, JSON); db = time spent waiting on PostgreSQL round trips; q = queries per request."
    )
    header = (
        f"{'scenario':<36} {'wall p50':>8} {'wall p95':>8} {'cpu p50':>8} {'cpu p95':>8} {'db p50':>7} {'db p95':>7}"
    )
    print(header + f" {'q':>3} {'rows':>5}")
    with connection.execute_wrapper(timed_query):
        for name, path, params in scenarios(rng):
            walls, cpus, dbs, rows, queries = [], [], [], 0, 0
            for n in range(10 + requests):
                query = params() if callable(params) else params
                db_seconds[0], query_count[0] = 0.0, 0
                cpu_started, started = time.thread_time(), time.perf_counter()
                response = client.get(path, query)
                elapsed = (time.perf_counter() - started) * 1000
                cpu = (time.thread_time() - cpu_started) * 1000
                if response.status_code != 200:
                    sys.exit(f"{name}: HTTP {response.status_code}: {response.content[:300]!r}")
                if n >= 10:
                    walls.append(elapsed)
                    cpus.append(cpu)
                    dbs.append(db_seconds[0] * 1000)
                    queries = query_count[0]
                    body = response.json()
                    rows = max(rows, len(body["results"]) if isinstance(body, dict) else len(body))
            p95 = percentile(walls, 95)
            flag = "  OVER" if goal_ms and p95 > goal_ms else ""
            print(
                f"{name:<36} {statistics.median(walls):8.1f} {p95:8.1f} {statistics.median(cpus):8.1f} "
                f"{percentile(cpus, 95):8.1f} {statistics.median(dbs):7.1f} {percentile(dbs, 95):7.1f} "
                f"{queries:>3} {rows:>5}{flag}",
                flush=True,
            )
            if flag:
                over.append(name)
    token.delete()
    if not goal_ms:
        print("\ngoal: not checked (--goal-ms 0)")
        return 0
    print(f"\ngoal: p95 <= {goal_ms:.0f} ms; over the goal: {', '.join(over) if over else 'none'}")
    return 1 if over else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="moderation_bench_api", help="its name must contain 'bench'")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per scenario")
    parser.add_argument("--fresh", action="store_true", help="drop the database and generate the data again")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--goal-ms", type=float, default=GOAL_MS, help="exit 1 when a p95 is over this (0: no check, tiny runs)"
    )
    args = parser.parse_args()

    admin_url = require_postgres_url("bench/api_lists.py")
    url = with_database(admin_url, args.database)
    prepare_database(admin_url, args.database, args.fresh)
    migrate(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")
    os.environ["LOG_LEVEL"] = "ERROR"
    import django

    django.setup()
    if item_count(url) == 0:
        print(f"generating {args.items:,} items in {args.database} ...", flush=True)
        print(f"generated in {generate(url, items=args.items):.0f} s")
    else:
        print(f"reusing the data in {args.database} (--fresh to regenerate)")
    for key, value in data_sizes(url).items():
        print(f"  {key:<16} {value:>12,}")
    return run(args.requests, args.seed, args.goal_ms)


if __name__ == "__main__":
    sys.exit(main())
