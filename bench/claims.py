#!/usr/bin/env python
"""Claim benchmark: many reviewers claiming and deciding at once from big queues, on PostgreSQL.

    scripts/with-services.sh .venv/bin/python bench/claims.py            # full size, fresh data
    scripts/with-services.sh .venv/bin/python bench/claims.py --reuse    # keep the generated data

The issue's target: with 1,000,000 pending items over 10 queues and 5,000,000 decided rows,
64 concurrent claimers (each with its own connection) claim and decide 100,000 items; claim latency
p50 <= 3 ms, p99 <= 20 ms, and no item handed to two reviewers at once.

What it does, in order:

1. refuses to run unless ``DATABASE_URL`` names a PostgreSQL database; works only in its own
   database (``--database``, default ``moderation_bench_claims``, created next to the one named),
   which it drops and recreates unless ``--reuse`` finds complete data from an earlier run;
2. runs ``manage.py migrate`` on it, then generates the data in SQL (``INSERT ... SELECT
   generate_series`` through ``bench_postgres.insert_select``, which fills every column it does not set
   from the model's field defaults, so new columns cannot break it): 64 reviewers who are members of 10
   queues, 6,000,000 items with a short text, 5,000,000 closed entries (status ``done``) each with its
   decision, 1,000,000 pending entries with a random ``sort_key``; secondary indexes and foreign keys of
   the big tables are dropped for the load and recreated from their saved definitions, then ``VACUUM
   (ANALYZE)``. Labels and audit events are not generated for the old decisions (35,000,000 label rows
   would only cost load time);
3. prints ``EXPLAIN (ANALYZE, BUFFERS)`` of ``review.claims.claim_sql`` with real parameters, in a
   transaction that is rolled back, and checks it scans ``entry_pending_order`` with no Sort node;
4. a short serial baseline (``--baseline`` claims by one claimer, nothing else running from here);
5. the load: ``--claimers`` claimers in ``--processes`` forked processes (threads inside each when
   fewer processes than claimers), each with its own connection and reviewer, calling the real
   services ``claim_next_item`` and ``record_decision`` on a random queue until ``--items`` items are
   decided or ``--max-seconds`` pass. A sampler records what the backends wait on meanwhile;
6. prints claim and decide latency percentiles, throughput, lock waits, the double-claim count
   (items handed out more than once, from the collected claims) and database checks (every entry
   decided in the run has exactly one decision, seven labels, one audit event), then the plan again
   on the used index. Exits 1 on a double claim, a failed check, or a plan that sorts.
"""

from __future__ import annotations

import argparse
import collections
import math
import multiprocessing as mp
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from bench_postgres import connect, create_database_sql, insert_select, require_postgres_url, with_database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")

# Tables that get bulk rows; their secondary indexes and foreign keys are rebuilt after the load.
BULK_TABLES = ["queues_item", "queues_queueentry", "queues_decision", "queues_decision_categories"]
CHUNK = 1_000_000
CATEGORIES = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]


# --------------------------------------------------------------------------------------------
# Database URL and the bench database
# --------------------------------------------------------------------------------------------


def prepare_database(admin_url: str, name: str, reuse: bool) -> bool:
    """Make sure database ``name`` exists; return True when it holds complete data to reuse."""
    if "bench" not in name:
        sys.exit(f"bench/claims.py: refusing to use database {name!r}: its name must contain 'bench'.")
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if exists and reuse and _has_complete_data(with_database(admin_url, name)):
            return True
        if exists:
            print(f"dropping database {name} (no --reuse, or its data is incomplete)")
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(create_database_sql(name))
    return False


def _has_complete_data(url: str) -> bool:
    with connect(url) as conn:
        row = conn.execute("SELECT to_regclass('bench_claims_meta') IS NOT NULL").fetchone()
        if not row[0]:
            return False
        return conn.execute("SELECT 1 FROM bench_claims_meta WHERE key = 'complete'").fetchone() is not None


def migrate(url: str) -> None:
    env = dict(os.environ, DATABASE_URL=url, MODERATION_ENV="embedded", LOG_LEVEL="WARNING")
    subprocess.run([str(PYTHON), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


# --------------------------------------------------------------------------------------------
# Data generation in SQL
# --------------------------------------------------------------------------------------------


def _saved_schema(conn) -> tuple[list[tuple[str, str, str]], list[str]]:  # noqa: ANN001
    """Foreign keys and unique constraints (table, name, definition) and index definitions to rebuild."""
    constraints = conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
             FROM pg_constraint c
            WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('f', 'u')
            ORDER BY c.contype DESC, c.conname""",  # unique constraints ('u') before foreign keys ('f')
        (BULK_TABLES,),
    ).fetchall()
    indexes = [
        row[0]
        for row in conn.execute(
            """SELECT pg_get_indexdef(i.indexrelid)
                 FROM pg_index i
                WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY i.indexrelid""",
            (BULK_TABLES,),
        ).fetchall()
    ]
    return constraints, indexes


def _index_names(conn) -> set[str]:  # noqa: ANN001
    rows = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid::regclass::text = ANY(%s)", (BULK_TABLES,)
    ).fetchall()
    return {row[0] for row in rows}


def generate(url: str, *, reviewers: int, queues: int, pending: int, decided: int) -> dict[str, float]:
    """Fill the freshly migrated database; returns seconds per phase.

    Rows are written in SQL for speed, but every column the generator does not set comes from the model's own
    field defaults (``bench_postgres.insert_select``), so a column added later cannot break it. Needs Django set
    up on ``url``'s database.
    """
    from django.contrib.auth import get_user_model

    from intake.models import Item
    from queues.models import Decision, Queue, QueueEntry

    User = get_user_model()  # noqa: N806
    timings: dict[str, float] = {}
    total = pending + decided
    with connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        started = time.perf_counter()
        insert_select(
            conn,
            User,
            {"password": "'!'", "username": "'bench-reviewer-' || lpad(g::text, 3, '0')", "is_active": "true"},
            "FROM generate_series(1, %(reviewers)s) g",
            {"reviewers": reviewers},
        )
        insert_select(
            conn,
            Queue,
            {"name": "'Bench queue ' || g", "slug": "'bench-' || g", "deadline": "interval '4 hours'"},
            "FROM generate_series(1, %(queues)s) g",
            {"queues": queues},
        )
        conn.execute(
            """INSERT INTO queues_queue_members (queue_id, user_id)
               SELECT q.id, u.id FROM queues_queue q CROSS JOIN auth_user u
                WHERE q.slug LIKE 'bench-%' AND u.username LIKE 'bench-reviewer-%'"""
        )
        queue_ids = [r[0] for r in conn.execute("SELECT id FROM queues_queue WHERE slug LIKE 'bench-%' ORDER BY id")]
        user_ids = [r[0] for r in conn.execute("SELECT id FROM auth_user WHERE username LIKE 'bench-%' ORDER BY id")]
        conn.commit()

        constraints, indexes = _saved_schema(conn)
        before = _index_names(conn)
        for table, name, _ in reversed(constraints):  # foreign keys first
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for definition in indexes:
            name = re.match(r"CREATE (?:UNIQUE )?INDEX (\S+) ON", definition).group(1)
            conn.execute(f"DROP INDEX {name}")
        conn.commit()

        # Items are created 100 ms apart over the last week; the newest ``pending`` are the ones in queues.
        params = {"total": total, "decided": decided, "queues": queue_ids, "reviewers": user_ids}
        for low in range(1, total + 1, CHUNK):
            high = min(low + CHUNK - 1, total)
            chunk = {**params, "low": low, "high": high, "top": min(high, decided)}
            rows = """FROM (SELECT g, g <= %(decided)s AS done, now() - (%(total)s - g) * interval '100 ms' AS t
                              FROM generate_series(%(low)s::bigint, %(high)s::bigint) g) s"""
            insert_select(
                conn,
                Item,
                {
                    "id": "g",
                    "source": "'bench.claims'",
                    "external_id": "lpad(g::text, 10, '0')",
                    "text": "'bench item ' || g || ': free followers, click the link in my bio'",
                    "state": "CASE WHEN done THEN 'decided' ELSE 'queued' END",
                    "report_count": "1",
                    "created_at": "t",
                    "updated_at": "t",
                    "scored_at": "t",
                    "scoring_attempts": "1",
                },
                rows,
                chunk,
            )
            reviewer = "(%(reviewers)s::int[])[1 + g %% cardinality(%(reviewers)s::int[])]"
            insert_select(
                conn,
                QueueEntry,
                {
                    "id": "g",
                    "item_id": "g",
                    "queue_id": "(%(queues)s::bigint[])[1 + g %% cardinality(%(queues)s::bigint[])]",
                    "status": "CASE WHEN done THEN 'done' ELSE 'pending' END",
                    "sort_key": "random()",
                    "risk": "random()",
                    "selection": "'routed'",
                    "enqueued_at": "t",
                    "deadline_at": "t + interval '4 hours'",
                    "claimed_at": "CASE WHEN done THEN t + interval '1 minute' END",
                    "fencing_token": "CASE WHEN done THEN 1 ELSE 0 END",
                    "closed_at": "CASE WHEN done THEN t + interval '2 minutes' END",
                    "claimed_by_id": f"CASE WHEN done THEN {reviewer} END",
                },
                rows,
                chunk,
            )
            if low <= decided:
                insert_select(
                    conn,
                    Decision,
                    {
                        "id": "g",
                        "item_id": "g",
                        "entry_id": "g",
                        "reviewer_id": reviewer,
                        "action": "CASE WHEN g %% 5 = 0 THEN 'remove' ELSE 'no_violation' END",
                        "automatic": "false",
                        "claimed_at": "t + interval '1 minute'",
                        "created_at": "t + interval '2 minutes'",
                    },
                    """FROM (SELECT g, now() - (%(total)s - g) * interval '100 ms' AS t
                               FROM generate_series(%(low)s::bigint, %(top)s::bigint) g) s""",
                    chunk,
                )
                conn.execute(
                    """INSERT INTO queues_decision_categories (decision_id, policycategory_id)
                       SELECT g, (SELECT id FROM classifiers_policycategory ORDER BY id OFFSET g %% 7 LIMIT 1)
                         FROM generate_series(%(low)s::bigint, %(top)s::bigint) g WHERE g %% 5 = 0""",
                    chunk,
                )
            conn.commit()
            print(f"  rows {high:>9,} of {total:,}  ({time.perf_counter() - started:6.0f} s)", flush=True)
        timings["insert"] = time.perf_counter() - started

        started = time.perf_counter()
        for table in ("queues_item", "queues_queueentry", "queues_decision", "queues_decision_categories"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        for definition in indexes:
            conn.execute(definition)
            conn.commit()
        for table, name, definition in constraints:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            conn.commit()
        missing = before - _index_names(conn)
        if missing:
            sys.exit(f"bench/claims.py: indexes not recreated: {sorted(missing)}")
        timings["indexes and constraints"] = time.perf_counter() - started

    started = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("VACUUM (ANALYZE) " + ", ".join(BULK_TABLES + ["auth_user", "queues_queue"]))
        conn.execute("ANALYZE")
        conn.execute("CREATE TABLE bench_claims_meta (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute(
            "INSERT INTO bench_claims_meta VALUES ('complete', %s), ('pending', %s), ('decided', %s)",
            (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), str(pending), str(decided)),
        )
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


def data_sizes(url: str) -> dict[str, int]:
    with connect(url) as conn:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "items": one("SELECT count(*) FROM queues_item"),
            "pending entries": one("SELECT count(*) FROM queues_queueentry WHERE status = 'pending'"),
            "closed entries": one("SELECT count(*) FROM queues_queueentry WHERE status = 'done'"),
            "decisions": one("SELECT count(*) FROM queues_decision"),
            "labels": one("SELECT count(*) FROM queues_label"),
            "bench queues": one("SELECT count(*) FROM queues_queue WHERE slug LIKE 'bench-%'"),
            "bench reviewers": one("SELECT count(*) FROM auth_user WHERE username LIKE 'bench-reviewer-%'"),
            "database MB": one("SELECT pg_database_size(current_database()) / 1048576"),
        }


# --------------------------------------------------------------------------------------------
# The plan of the claim statement
# --------------------------------------------------------------------------------------------


def explain_claim(user_id: int, queue_id: int) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the real claim statement with real parameters; the claim is rolled back."""
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from review.claims import claim_sql
    from wellness import exposure

    now = timezone.now()
    # The same parameters as review.claims.claim_next_item, including the reviewer's capped exposure categories.
    capped = sorted(exposure.exposure_state(user_id=user_id).capped)
    params = {"user": user_id, "now": now, "until": now + settings_lease(settings), "queue": queue_id, "capped": capped}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + claim_sql(relax_durability=False), params)
            plan = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return plan


def settings_lease(settings):  # noqa: ANN001, ANN201
    from datetime import timedelta

    return timedelta(seconds=settings.REVIEW_LEASE_SECONDS)


def check_plan(plan: list[str]) -> tuple[bool, bool]:
    uses_index = any("entry_pending_order" in line and "Index" in line for line in plan)
    sorts = any(re.search(r"\bSort\b", line) for line in plan)
    return uses_index, sorts


# --------------------------------------------------------------------------------------------
# Claimers
# --------------------------------------------------------------------------------------------


class StatementTimer:
    """A Django execute_wrapper: counts statements and times the claim statement on its own."""

    def __init__(self) -> None:
        self.statements = 0
        self.claim_statement = 0.0

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001, ANN204
        self.statements += 1
        if "SKIP LOCKED" in sql:
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.claim_statement = time.perf_counter() - started
        return execute(sql, params, many, context)


def claimer(user_id: int, queue_ids: list[int], shared: dict, seed: int) -> dict:
    """One reviewer on its own connection: claim a random queue's next item, decide it, repeat."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from queues.models import Queue
    from review.claims import claim_next_item
    from review.decisions import record_decision

    rng = random.Random(seed)
    user = get_user_model().objects.get(pk=user_id)
    queues = list(Queue.objects.filter(pk__in=queue_ids))
    records: list[tuple] = []
    errors: collections.Counter = collections.Counter()
    first_errors: dict[str, str] = {}
    empty = 0
    cut_by_time = False
    timer = StatementTimer()
    with shared["loaded"].get_lock():
        shared["loaded"].value += 1
    shared["ready"].wait()
    deadline = shared["start"].value + shared["max_seconds"]
    counter = shared["counter"]
    try:
        with connection.execute_wrapper(timer):
            while True:
                with counter.get_lock():
                    if counter.value >= shared["target"]:
                        break
                    counter.value += 1
                if time.perf_counter() > deadline:
                    cut_by_time = True
                    with counter.get_lock():
                        counter.value -= 1
                    break
                queue = rng.choice(queues)
                statements = timer.statements
                claim_started = time.perf_counter()
                try:
                    claim = claim_next_item(queue=queue, user=user)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    _count_error(errors, first_errors, "claim", exc)
                    with counter.get_lock():
                        counter.value -= 1
                    if sum(errors.values()) > 100:
                        break
                    continue
                claim_ended = time.perf_counter()
                claim_statements = timer.statements - statements
                claim_statement_seconds = timer.claim_statement
                if claim is None:
                    empty += 1
                    with counter.get_lock():
                        counter.value -= 1
                    continue
                if shared["think_seconds"]:
                    # The reviewer reads the item: 0.5x to 1.5x the mean reading time.
                    time.sleep(shared["think_seconds"] * rng.uniform(0.5, 1.5))
                if rng.random() < 0.2:
                    action, categories = "remove", [rng.choice(CATEGORIES)]
                else:
                    action, categories = "no_violation", []
                statements = timer.statements
                decide_started = time.perf_counter()
                decided = True
                try:
                    record_decision(
                        entry_id=claim.entry_id, token=claim.token, user=user, action=action, categories=categories
                    )
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    _count_error(errors, first_errors, "decide", exc)
                    decided = False
                decide_ended = time.perf_counter()
                records.append(
                    (
                        claim.entry_id, claim.item_id, user_id, claim.token, queue.pk,
                        claim_started, claim_ended, decide_started, decide_ended, decided,
                        claim_statement_seconds, claim_statements, timer.statements - statements,
                    )
                )  # fmt: skip
                if sum(errors.values()) > 100:
                    break
    finally:
        connection.close()
    return {
        "records": records,
        "errors": errors,
        "first_errors": first_errors,
        "empty": empty,
        "cut_by_time": cut_by_time,
    }


def _count_error(errors: collections.Counter, first: dict[str, str], phase: str, exc: Exception) -> None:
    key = f"{phase}: {type(exc).__name__}"
    errors[key] += 1
    first.setdefault(key, str(exc)[:300])


def claimer_process(user_ids: list[int], queue_ids: list[int], shared: dict, results, seed: int) -> None:  # noqa: ANN001
    """A forked process running one claimer per thread; sends back each claimer's records."""
    import django
    from django.db import connections

    django.setup()
    connections.close_all()  # a connection inherited from the parent must not be shared
    outcome: list[dict] = []
    lock = threading.Lock()

    def run(index: int, user_id: int) -> None:
        try:
            result = claimer(user_id, queue_ids, shared, seed * 1000 + index)
        except Exception as exc:  # noqa: BLE001 - a claimer that could not start is reported, not hidden
            result = {"records": [], "errors": collections.Counter({f"start: {type(exc).__name__}": 1}),
                      "first_errors": {f"start: {type(exc).__name__}": str(exc)[:300]}, "empty": 0,
                      "cut_by_time": False}  # fmt: skip
        with lock:
            outcome.append(result)

    import resource

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=run, args=(i, uid)) for i, uid in enumerate(user_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    if outcome:
        outcome[0]["cpu_seconds"] = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    results.put(outcome)


# --------------------------------------------------------------------------------------------
# Sampling what the backends wait on
# --------------------------------------------------------------------------------------------


class WaitSampler(threading.Thread):
    """Every ``interval`` seconds, tally what each active backend of the bench database waits on."""

    def __init__(self, url: str, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.interval = interval
        self.stop = threading.Event()
        self.samples = 0
        self.active = 0
        self.waits: collections.Counter = collections.Counter()
        self.tuple_locks: collections.Counter = collections.Counter()
        self.backend_cpu: dict[int, list[float]] = {}  # pid -> [first seen, last seen] CPU seconds

    def run(self) -> None:
        with connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(self.interval):
                rows = conn.execute(
                    """SELECT wait_event_type, wait_event,
                              left(regexp_replace(query, '\\s+', ' ', 'g'), 60)
                              || CASE WHEN query LIKE '%FOR UPDATE' THEN ' ... FOR UPDATE' ELSE '' END
                         FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"""
                ).fetchall()
                # Tuple locks held or awaited by waiting backends name the table whose row they queue for.
                for relation, granted, n in conn.execute(
                    """SELECT l.relation::regclass::text, l.granted, count(*)
                         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                        WHERE l.locktype = 'tuple' AND a.datname = current_database() AND a.wait_event_type = 'Lock'
                        GROUP BY 1, 2"""
                ).fetchall():
                    self.tuple_locks[(relation, "granted" if granted else "awaited")] += n
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall():
                    seconds = proc_cpu_seconds(pid)
                    if seconds is not None:
                        self.backend_cpu.setdefault(pid, [seconds, seconds])[1] = seconds
                self.samples += 1
                self.active += len(rows)
                for wait_type, wait_event, query in rows:
                    if wait_type in {"Lock", "LWLock", "IO", "IPC"}:
                        self.waits[(wait_type, wait_event, query)] += 1
                    else:
                        self.waits[(wait_type or "CPU", wait_event or "running", "")] += 1


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (PostgreSQL backends run on this machine)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_line(name: str, seconds: list[float]) -> str:
    values = sorted(seconds)
    ms = [percentile(values, q) * 1000 for q in (50, 95, 99)]
    top = values[-1] * 1000 if values else float("nan")
    mean = sum(values) / len(values) * 1000 if values else float("nan")
    return (
        f"{name:<26} p50 {ms[0]:7.2f} ms   p95 {ms[1]:7.2f} ms   p99 {ms[2]:7.2f} ms   "
        f"max {top:8.2f} ms   mean {mean:6.2f} ms   (n={len(values):,})"
    )


def double_claims(records: list[tuple]) -> dict[str, int]:
    """Items handed out more than once, and those of them whose holds overlapped in time."""
    by_item: dict[int, list[tuple]] = collections.defaultdict(list)
    by_entry: collections.Counter = collections.Counter()
    for record in records:
        by_item[record[1]].append(record)
        by_entry[record[0]] += 1
    twice = {item: rs for item, rs in by_item.items() if len(rs) > 1}
    overlapping = 0
    for rs in twice.values():
        # Held from the end of the claim call to the end of the decide call (perf_counter is
        # CLOCK_MONOTONIC on Linux, shared by all processes).
        spans = sorted((r[6], r[8]) for r in rs)
        if any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1)):
            overlapping += 1
    return {
        "items handed out more than once": len(twice),
        "of them held by two at once": overlapping,
        "entries handed out more than once": sum(1 for n in by_entry.values() if n > 1),
    }


def database_checks(url: str, run_started_at, entry_ids: list[int]) -> dict[str, int]:  # noqa: ANN001
    with connect(url) as conn:
        conn.execute("CREATE TEMP TABLE run_entries (id bigint PRIMARY KEY)")
        with conn.cursor().copy("COPY run_entries (id) FROM STDIN") as copy:
            for entry_id in set(entry_ids):
                copy.write_row((entry_id,))
        one = lambda sql, *p: conn.execute(sql, p).fetchone()[0]  # noqa: E731
        return {
            "entries closed as done since the start": one(
                "SELECT count(*) FROM queues_queueentry WHERE status = 'done' AND closed_at >= %s", run_started_at
            ),
            "decisions created since the start": one(
                "SELECT count(*) FROM queues_decision WHERE created_at >= %s", run_started_at
            ),
            "claimed entries not in status done": one(
                "SELECT count(*) FROM queues_queueentry e JOIN run_entries r USING (id) WHERE e.status <> 'done'"
            ),
            "claimed entries without exactly one decision": one(
                """SELECT count(*) FROM (SELECT r.id FROM run_entries r LEFT JOIN queues_decision d ON d.entry_id = r.id
                                          GROUP BY r.id HAVING count(d.id) <> 1) x"""
            ),
            "items with more than one decision (run's items)": one(
                """SELECT count(*) FROM (SELECT d.item_id FROM queues_decision d
                                          WHERE d.item_id IN (SELECT e.item_id FROM queues_queueentry e
                                                               JOIN run_entries r USING (id))
                                          GROUP BY d.item_id HAVING count(*) > 1) x"""
            ),
            "labels written since the start": one(
                "SELECT count(*) FROM queues_label WHERE created_at >= %s", run_started_at
            ),
            "decision audit events since the start": one(
                "SELECT count(*) FROM audit_auditevent WHERE action = 'decision.created' AND created_at >= %s",
                run_started_at,
            ),
            "entries still claimed (any)": one("SELECT count(*) FROM queues_queueentry WHERE status = 'claimed'"),
        }


def table_stats(url: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute(
            """SELECT relname, n_live_tup, n_dead_tup, n_tup_hot_upd, n_tup_upd, autovacuum_count, autoanalyze_count
                 FROM pg_stat_user_tables WHERE relname IN ('queues_queueentry', 'queues_item') ORDER BY relname"""
        ).fetchall()


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", default="moderation_bench_claims", help="bench database (name must contain 'bench')"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep complete data from an earlier run instead of regenerating"
    )
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--decided", type=int, default=5_000_000, help="closed entries with a decision each")
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--claimers", type=int, default=64)
    parser.add_argument("--processes", type=int, default=64, help="claimers are spread over this many processes")
    parser.add_argument("--items", type=int, default=100_000, help="stop after this many decided items")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--baseline", type=int, default=300, help="serial claims+decisions by one claimer first")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean time a claimer holds an item before deciding it (reading time); default 0: back to back",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default=None,
        help="diagnostic: set synchronous_commit for the claimers' sessions (PGOPTIONS); default: the server's",
    )
    args = parser.parse_args()

    admin_url = require_postgres_url("bench/claims.py")
    url = with_database(admin_url, args.database)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}   nproc {os.cpu_count()}")
    print("busiest processes on the machine at start:")
    ps = subprocess.run(["ps", "-eo", "pcpu,rss,comm", "--sort=-pcpu"], capture_output=True, text=True).stdout
    print("\n".join("    " + line for line in ps.splitlines()[:6]))
    print(f"bench database: {args.database} (on {urlparse(admin_url).hostname}:{urlparse(admin_url).port})")

    started = time.perf_counter()
    reused = prepare_database(admin_url, args.database, args.reuse)
    # Django on the bench database from here on: the generator reads the models' field defaults.
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    if reused:
        print("reusing the generated data (--reuse); it may have been partly consumed by earlier runs")
    else:
        migrate(url)
        print(f"migrated in {time.perf_counter() - started:.1f} s; generating data ...")
        timings = generate(url, reviewers=args.claimers, queues=args.queues, pending=args.pending, decided=args.decided)
        print(
            "generated in "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
            + f"; total with migrate {time.perf_counter() - started:.0f} s"
        )
    sizes = data_sizes(url)
    print("data: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    if sizes["pending entries"] < args.items + args.baseline:
        sys.exit("bench/claims.py: not enough pending entries left; run without --reuse to regenerate.")

    from django.contrib.auth import get_user_model
    from django.db import connection, connections

    from queues.models import Queue
    from review.claims import claim_next_item
    from review.decisions import record_decision

    user_ids = list(
        get_user_model()
        .objects.filter(username__startswith="bench-reviewer-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )[: args.claimers]
    queue_ids = list(Queue.objects.filter(slug__startswith="bench-").order_by("pk").values_list("pk", flat=True))
    if len(user_ids) < args.claimers:
        sys.exit(f"bench/claims.py: only {len(user_ids)} reviewers in the data; regenerate without --reuse.")

    failures: list[str] = []
    plan = explain_claim(user_ids[0], queue_ids[0])
    print("\nEXPLAIN (ANALYZE, BUFFERS) of review.claims.claim_sql, before the load (rolled back):")
    print("\n".join("    " + line for line in plan))
    uses_index, sorts = check_plan(plan)
    print(f"uses entry_pending_order: {uses_index}; Sort node: {sorts}")
    if not uses_index or sorts:
        failures.append("the claim plan does not come straight from entry_pending_order")

    if args.baseline:
        user = get_user_model().objects.get(pk=user_ids[0])
        queues = list(Queue.objects.filter(pk__in=queue_ids))
        rng = random.Random(args.seed)
        claims, decides, claim_cpu, decide_cpu = [], [], 0.0, 0.0
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        backend_before = proc_cpu_seconds(backend) or 0.0
        for _ in range(args.baseline):
            t0, c0 = time.perf_counter(), time.process_time()
            claim = claim_next_item(queue=rng.choice(queues), user=user)
            t1, c1 = time.perf_counter(), time.process_time()
            record_decision(entry_id=claim.entry_id, token=claim.token, user=user, action="no_violation", categories=[])
            claims.append(t1 - t0)
            decides.append(time.perf_counter() - t1)
            claim_cpu += c1 - c0
            decide_cpu += time.process_time() - c1
        backend_cpu = (proc_cpu_seconds(backend) or 0.0) - backend_before
        print(f"\nserial baseline, one claimer, {args.baseline} claims (load average {os.getloadavg()[0]:.2f}):")
        print(latency_line("  claim_next_item", claims))
        print(latency_line("  record_decision", decides))
        print(
            f"  CPU per claim+decide: this process {(claim_cpu + decide_cpu) / args.baseline * 1000:.1f} ms "
            f"(claim {claim_cpu / args.baseline * 1000:.1f}, decide {decide_cpu / args.baseline * 1000:.1f}), "
            f"its PostgreSQL backend {backend_cpu / args.baseline * 1000:.1f} ms"
        )
    connections.close_all()

    # ---- the load -------------------------------------------------------------------------
    processes = max(1, min(args.processes, args.claimers))
    if args.synchronous_commit:
        os.environ["PGOPTIONS"] = f"-c synchronous_commit={args.synchronous_commit}"
        print(f"claimer sessions run with synchronous_commit={args.synchronous_commit} (diagnostic)")
    context = mp.get_context("fork")  # Django is set up once here; every child opens its own connections
    shared = {
        "counter": context.Value("q", 0),
        "start": context.Value("d", 0.0),
        "loaded": context.Value("i", 0),
        "ready": context.Event(),
        "target": args.items,
        "max_seconds": args.max_seconds,
        "think_seconds": args.think_ms / 1000,
    }
    results = context.Queue()
    groups = [user_ids[i::processes] for i in range(processes)]
    workers = [
        context.Process(target=claimer_process, args=(group, queue_ids, shared, results, args.seed + i), daemon=True)
        for i, group in enumerate(groups)
    ]
    for worker in workers:
        worker.start()
    # The clock starts once every claimer has connected and loaded its reviewer and queues.
    waited = time.perf_counter()
    while shared["loaded"].value < args.claimers and time.perf_counter() - waited < 180:
        time.sleep(0.2)
    print(f"{shared['loaded'].value} claimers connected in {time.perf_counter() - waited:.1f} s")
    print(
        f"reading time per item: {args.think_ms:.0f} ms mean (uniform 0.5x-1.5x)"
        if args.think_ms
        else "reading time per item: none (claim and decide back to back)"
    )
    with connect(url) as conn:
        run_started_at = conn.execute("SELECT now()").fetchone()[0]
    stats_before = table_stats(url)
    sampler = WaitSampler(url)
    cpu_before = cpu_times()
    load_before = os.getloadavg()
    print(
        f"\nload: {args.claimers} claimers in {processes} processes x {math.ceil(args.claimers / processes)} "
        f"thread(s), {len(queue_ids)} queues, target {args.items:,} decided items, limit {args.max_seconds:.0f} s; "
        f"load average {load_before[0]:.2f}"
    )
    shared["start"].value = time.perf_counter()
    load_started = shared["start"].value
    shared["ready"].set()
    sampler.start()

    outcomes: list[dict] = []
    reported = 0
    last_print = load_started
    while reported < len(workers):
        try:
            outcomes += results.get(timeout=1.0)
            reported += 1
        except Exception:  # noqa: BLE001 - queue.Empty: print progress and keep waiting
            pass
        if time.perf_counter() - last_print >= 30:
            last_print = time.perf_counter()
            done = shared["counter"].value
            elapsed = last_print - load_started
            print(f"  {elapsed:5.0f} s: {done:,} claims started, {done / elapsed:,.0f}/s, "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        if reported < len(workers) and not any(w.is_alive() for w in workers) and results.empty():
            print("  every claimer process has exited, some without reporting")
            break
    load_ended = max((r[8] for o in outcomes for r in o["records"]), default=time.perf_counter())
    sampler.stop.set()
    cpu_after = cpu_times()
    for worker in workers:
        worker.join(timeout=30)
    sampler.join(timeout=5)
    load_after = os.getloadavg()

    records = [r for o in outcomes for r in o["records"]]
    errors: collections.Counter = sum((o["errors"] for o in outcomes), collections.Counter())
    first_errors = {k: v for o in outcomes for k, v in o["first_errors"].items()}
    empty = sum(o["empty"] for o in outcomes)
    cut = any(o["cut_by_time"] for o in outcomes)
    wall = load_ended - load_started
    decided = sum(1 for r in records if r[9])
    busy = 1 - (cpu_after[1] - cpu_before[1]) / max(1, cpu_after[0] - cpu_before[0])

    print(f"\nresults ({'CUT SHORT by --max-seconds' if cut else 'complete'}):")
    print(f"  claimers reporting: {len(outcomes)} of {args.claimers}")
    print(f"  claimed {len(records):,}, decided {decided:,} ({decided / args.items:.1%} of the target) in {wall:.1f} s")
    print(f"  claims per second: {len(records) / wall:,.1f}   decisions per second: {decided / wall:,.1f}")
    print(latency_line("  claim (claim_next_item)", [r[6] - r[5] for r in records]))
    print(latency_line("  claim UPDATE statement", [r[10] for r in records]))
    print(latency_line("  decide (record_decision)", [r[8] - r[7] for r in records]))
    print(latency_line("  claim + decide", [r[8] - r[5] for r in records]))
    statements = collections.Counter((r[11], r[12]) for r in records).most_common(3)
    print(f"  SQL statements per (claim, decide): {statements}")
    print(f"  empty claims (None): {empty}; errors: {dict(errors) or 'none'}")
    for key, message in first_errors.items():
        print(f"    first {key}: {message}")
    print(f"  CPU busy (all cores, whole machine) during the load: {busy:.0%}")
    client_cpu = sum(o.get("cpu_seconds", 0.0) for o in outcomes)
    server_cpu = sum(last - first for first, last in sampler.backend_cpu.values())
    machine_cpu = (cpu_after[0] - cpu_before[0] - (cpu_after[1] - cpu_before[1])) / CLK_TCK
    if records:
        print(
            f"  CPU seconds: claimer processes {client_cpu:.0f}, their PostgreSQL backends {server_cpu:.0f}, "
            f"whole machine {machine_cpu:.0f} of {wall * (os.cpu_count() or 1):.0f} available; per claim+decide: "
            f"claimers {client_cpu / len(records) * 1000:.1f} ms, backends {server_cpu / len(records) * 1000:.1f} ms"
        )
    print(f"  load average at start of the load {load_before[0]:.2f}, at its end {load_after[0]:.2f}")
    if sampler.samples:
        print(f"  backends active per sample (mean): {sampler.active / sampler.samples:.1f}; what they were doing:")
        total = max(1, sum(sampler.waits.values()))
        for (kind, event, query), n in sampler.waits.most_common(12):
            print(f"    {n / total:6.1%}  {kind}/{event}  {query}")
        print("  tuple locks of waiting backends, by table (samples x backends):")
        for (relation, state), n in sampler.tuple_locks.most_common(6):
            print(f"    {n:8,}  {relation} ({state})")

    doubles = double_claims(records)
    for key, value in doubles.items():
        print(f"  {key}: {value}")
    checks = database_checks(url, run_started_at, [r[0] for r in records])
    print("  database checks:")
    for key, value in checks.items():
        print(f"    {key}: {value:,}")
    print("  table stats before -> after (name, live, dead, hot updates, updates, autovacuums, autoanalyzes):")
    for before_row, after_row in zip(stats_before, table_stats(url), strict=True):
        print(f"    {before_row}\n    -> {after_row}")

    print(f"\ndouble claims: {doubles['items handed out more than once']}")
    if doubles["items handed out more than once"] or doubles["entries handed out more than once"]:
        failures.append("an item was handed out more than once")
    if (
        checks["claimed entries without exactly one decision"]
        or checks["items with more than one decision (run's items)"]
    ):
        failures.append("a decided entry does not have exactly one decision")
    if errors:
        failures.append(f"{sum(errors.values())} service calls failed")

    plan = explain_claim(user_ids[0], queue_ids[0])
    print("\nEXPLAIN (ANALYZE, BUFFERS) of review.claims.claim_sql, after the load (rolled back):")
    print("\n".join("    " + line for line in plan))
    uses_index, sorts = check_plan(plan)
    print(f"uses entry_pending_order: {uses_index}; Sort node: {sorts}")
    if not uses_index or sorts:
        failures.append("the claim plan after the load does not come straight from entry_pending_order")
    connections.close_all()

    claim_ms = sorted(r[6] - r[5] for r in records)
    p50, p99 = percentile(claim_ms, 50) * 1000, percentile(claim_ms, 99) * 1000
    print(
        f"\ngoals: p50 <= 3 ms: {'met' if p50 <= 3 else 'NOT met'} ({p50:.2f} ms); "
        f"p99 <= 20 ms: {'met' if p99 <= 20 else 'NOT met'} ({p99:.2f} ms); "
        f"0 double claims: {'met' if not doubles['items handed out more than once'] else 'NOT met'}; "
        f"index scan, no sort: {'met' if uses_index and not sorts else 'NOT met'}"
    )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
