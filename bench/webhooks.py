"""Webhook delivery throughput and lag: events committed here, delivered by real Celery workers to a local receiver.

    scripts/with-services.sh .venv/bin/python bench/webhooks.py [--events 2000] [--concurrency 2]

Measures, in one run:
  * throughput: ``--events`` events, one per committed transaction (as decisions are), emitted as
    fast as this process can; events/s from the first commit to the last verified receipt;
  * lag at a steady rate: events at half that throughput for ``--lag-seconds``; p50/p95/max from
    each event's commit to its receipt.
The receiver is the ticketing bridge's own endpoint (examples/ticketing_bridge.py) on 127.0.0.1,
verifying every signature. Workers consume queue ``default`` with ``--concurrency`` processes.
PostgreSQL (DATABASE_URL) and Redis (REDIS_URL) when set, in a database of their own; otherwise
SQLite and Celery's filesystem broker under var/bench-webhooks/.
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "moderation_bench_webhooks"
VAR = ROOT / "var" / "bench-webhooks"


def prepare_environment(database_name: str, broker: str | None) -> dict[str, str]:
    """A fresh database and broker for this run; returns the environment the worker gets too."""
    import psycopg
    from bench_postgres import create_database_sql

    shutil.rmtree(VAR, ignore_errors=True)
    (VAR / "media").mkdir(parents=True)
    env = {"VAR_DIR": str(VAR), "MEDIA_ROOT": str(VAR / "media"), "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "moderation_site.settings"}  # fmt: skip
    database = os.environ.get("DATABASE_URL", "")
    if database.startswith("postgres"):
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')
            conn.execute(create_database_sql(database_name))
        env["DATABASE_URL"] = f"{database.rpartition('/')[0]}/{database_name}"
    if broker:
        import redis

        env["CELERY_BROKER_URL"] = broker
        redis.Redis.from_url(broker).flushdb()
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    return env


def start_workers(concurrency: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "moderation_site", "worker", "--queues", "default",
         "--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip


class Receipts:
    """Arrival time of each event, by its sequence number in the payload."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    def record(self, event: dict) -> None:
        self.at[event["data"]["seq"]] = time.time()

    def wait_for(self, seqs: range, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(seq in self.at for seq in seqs):
            if time.monotonic() > deadline:
                missing = sum(seq not in self.at for seq in seqs)
                raise SystemExit(f"timed out: {missing} of {len(seqs)} events not received")
            time.sleep(0.05)


def emit_one(seq: int) -> float:
    """One event in its own transaction, like a decision; returns the time it committed."""
    from django.db import transaction

    from webhooks.services import emit

    with transaction.atomic():
        emit(event_type="decision.created", payload={"seq": seq, "decision_id": seq, "action": "remove"})
    return time.time()


def group_cpu_seconds(pgid: int) -> float:
    """User and system CPU of every process in the group (the worker and its pool), from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2, one per core)")
    parser.add_argument("--lag-seconds", type=float, default=20)
    parser.add_argument("--database", default=DB_NAME, help="PostgreSQL database of its own, dropped and recreated")
    parser.add_argument(
        "--broker",
        default=os.environ["REDIS_URL"].rpartition("/")[0] + "/2" if os.environ.get("REDIS_URL") else None,
        help="Redis URL of a database of its own, flushed first (default: REDIS_URL's server, db 2; the suite uses 0)",
    )
    args = parser.parse_args()
    env = prepare_environment(args.database, args.broker)
    import django

    django.setup()
    from examples.ticketing_bridge import WebhookVerifier, make_handler
    from webhooks.models import Delivery, DeliveryAttempt, WebhookSubscription, new_secret

    secret, receipts = new_secret(), Receipts()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(WebhookVerifier(secret), receipts.record))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    WebhookSubscription.objects.create(
        url=f"http://127.0.0.1:{server.server_address[1]}/webhooks", secret=secret, event_types=["decision.created"]
    )
    log = VAR / "worker.log"
    workers = start_workers(args.concurrency, log)
    try:
        emit_one(-1)
        receipts.wait_for(range(-1, 0), timeout=120)  # the workers are up

        committed: dict[int, float] = {}
        worker_cpu, own_cpu = group_cpu_seconds(workers.pid), time.process_time()
        started = time.time()
        for seq in range(args.events):
            committed[seq] = emit_one(seq)
        emitted = time.time()
        receipts.wait_for(range(args.events), timeout=600)
        finished = max(receipts.at[seq] for seq in range(args.events))
        worker_cpu, own_cpu = group_cpu_seconds(workers.pid) - worker_cpu, time.process_time() - own_cpu
        throughput = args.events / (finished - started)
        burst_lags = [receipts.at[seq] - committed[seq] for seq in range(args.events)]

        rate = throughput / 2
        first, sent, paced_started = args.events, 0, time.monotonic()
        while time.monotonic() - paced_started < args.lag_seconds:
            if int((time.monotonic() - paced_started) * rate) > sent:
                committed[first + sent] = emit_one(first + sent)
                sent += 1
            else:
                time.sleep(0.001)
        receipts.wait_for(range(first, first + sent), timeout=300)
        lags = [receipts.at[seq] - committed[seq] for seq in range(first, first + sent)]
        while Delivery.objects.exclude(state="delivered").exists():  # the last outcomes are being written
            time.sleep(0.05)
    finally:
        os.killpg(workers.pid, signal.SIGTERM)
        workers.wait(timeout=60)
        server.shutdown()

    database = "PostgreSQL" if env.get("DATABASE_URL") else "SQLite"
    broker = "Redis" if env.get("CELERY_BROKER_URL") else "filesystem broker"
    retried = Delivery.objects.filter(attempts__gt=1).count()
    print(f"{database}, {broker}, {args.concurrency} worker processes, {os.cpu_count()} cores")
    print(f"throughput: {args.events} events in {finished - started:.1f} s = {throughput:.0f} events/s "
          f"(emitting alone: {args.events / (emitted - started):.0f} commits/s)")  # fmt: skip
    print(f"  CPU per event: workers {worker_cpu / args.events * 1000:.1f} ms, "
          f"emitting and receiving process {own_cpu / args.events * 1000:.1f} ms")  # fmt: skip
    print(f"  lag during the burst: p50 {statistics.median(burst_lags) * 1000:.0f} ms, "
          f"p95 {percentile(burst_lags, 95) * 1000:.0f} ms")  # fmt: skip
    print(f"lag at {rate:.0f} events/s for {args.lag_seconds:.0f} s ({sent} events): "
          f"p50 {statistics.median(lags) * 1000:.0f} ms, p95 {percentile(lags, 95) * 1000:.0f} ms, "
          f"max {max(lags) * 1000:.0f} ms")  # fmt: skip
    attempts = DeliveryAttempt.objects.count()
    print(f"attempts: {attempts} for {Delivery.objects.count()} deliveries ({retried} needed a retry)")


if __name__ == "__main__":
    main()
