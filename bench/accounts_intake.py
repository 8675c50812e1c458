#!/usr/bin/env python
"""Account event intake on PostgreSQL: events/s in batches of 1,000, then signal lag at half that rate.

    DATABASE_URL=postgres://moderation:moderation@127.0.0.1:5432/moderation \\
    REDIS_URL=redis://127.0.0.1:6390/3 \\
        .venv/bin/python bench/accounts_intake.py --batches 40 --lag-seconds 20

What it does:

1. creates a fresh database ``--database`` beside ``DATABASE_URL`` (PostgreSQL only), migrates it, creates
   an API token with ``events:write``, and the event partitions for the coming days;
2. simulates a platform (``accounts.simulator``, SYNTHETIC DATA) and cuts its events into requests of
   ``{"events": [1,000 events]}``, JSON-encoded before timing;
3. **throughput**: POSTs ``--batches`` requests back to back to ``/api/v1/events`` (the whole middleware,
   authentication, DRF and validation stack; no worker running) and prints events/s and per-request
   p50/p95. With ``--server gunicorn`` (the default) the site runs in ``gunicorn moderation_site.wsgi``
   (``--gunicorn-workers``, the threads of ``gunicorn.conf.py``) and this process is only the HTTP client;
   with ``--server inprocess`` requests go through Django's WSGI handler in this process, no socket (the
   first session's method: the client then shares its process with the server and cannot keep a rate);
4. **signal lag**: starts one Celery worker (``--worker-concurrency``) on the Redis broker, POSTs batches
   at ``--lag-rate`` events/s (default: ``--lag-share``, half, of the measured rate) for ``--lag-seconds``,
   and for each batch
   measures the time from its commit (the response) until every account it touched has signals updated
   by an update that started after the commit (polled every 50 ms, so lags are rounded up to that);
5. stops the worker and prints p50/p95/max lag, and exits 1 if any request failed or a batch was
   never folded in within ``--lag-timeout`` seconds.

The client, the web code, PostgreSQL, Redis and the worker share the machine's cores.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts_setup import PYTHON, ROOT, fresh_postgres, setup_django  # noqa: E402
from ingest import HOST, free_port, start_gunicorn, stop_gunicorn, wait_for_server  # noqa: E402

BATCH = 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--database", default="moderation_accounts_bench_intake")
    parser.add_argument("--batches", type=int, default=40, help="requests of 1,000 events in the throughput run")
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--lag-share", type=float, default=0.5, help="share of the measured rate for the lag run")
    parser.add_argument("--lag-timeout", type=float, default=60.0)
    parser.add_argument("--lag-rate", type=float, default=0.0, help="events/s in the lag run (0: --lag-share)")
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--server", choices=["gunicorn", "inprocess"], default="gunicorn")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    broker = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL")
    if not broker or not broker.startswith("redis"):
        sys.exit("bench/accounts_intake.py: set REDIS_URL (the lag run needs a real broker and worker).")
    url = fresh_postgres("bench/accounts_intake.py", args.database)
    setup_django(database_url=url, broker_url=broker)
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.partitions import maintain_event_partitions
    from accounts.simulator import Sizes, simulate
    from api.models import ApiToken
    from moderation_site.celery_app import app

    maintain_event_partitions()
    token = ApiToken(name="bench", user=get_user_model().objects.create_user("bench"), scopes=["events:write"])
    secret = token.issue_secret()
    token.save()
    app.control.purge()
    needed = (args.batches + int(args.lag_seconds * 10) + 5) * BATCH
    bodies = _bodies(simulate, Sizes, timezone.now(), needed, args.seed)
    server = _start_server(url, args.gunicorn_workers) if args.server == "gunicorn" else None
    try:
        return _run(args, bodies, secret, server, url, broker)
    finally:
        if server is not None:
            stop_gunicorn(server[0])


def _run(args, bodies, secret, server, url, broker) -> int:  # noqa: ANN001
    from django.test import Client

    from moderation_site.celery_app import app

    if server is None:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")  # runs the site's middleware and views, no socket

        def send(body: bytes) -> tuple[int, bytes]:
            response = client.post("/api/v1/events", data=body, content_type="application/json")
            return response.status_code, response.content
    else:
        local = threading.local()  # one keep-alive connection per sending thread
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

        def send(body: bytes) -> tuple[int, bytes]:
            # gunicorn closes a connection idle for its keep-alive (5 s): reconnect and send again, which is
            # safe because every event carries its id (a retry is a no-op).
            if not hasattr(local, "connection"):
                local.connection = http.client.HTTPConnection(HOST, server[1], timeout=60)
            connection = local.connection
            for attempt in (1, 2):
                try:
                    connection.request("POST", "/api/v1/events", body=body, headers=headers)
                    response = connection.getresponse()
                    return response.status, response.read()
                except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                    connection.close()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def post(body: bytes) -> float:
        started = time.perf_counter()
        status, content = send(body)
        if status != 201:
            sys.exit(f"request failed: {status} {content[:500]!r}")
        return time.perf_counter() - started

    for body in bodies[:2]:  # warm-up: connections, prepared statements, imports
        post(body)
    timed = bodies[2 : 2 + args.batches]
    started = time.perf_counter()
    latencies = [post(body) for body in timed]
    elapsed = time.perf_counter() - started
    rate = len(timed) * BATCH / elapsed
    where = "in-process WSGI" if server is None else f"gunicorn, {args.gunicorn_workers} workers"
    print(f"SYNTHETIC DATA (accounts.simulator); PostgreSQL; {where}; batches of 1,000")
    print(
        f"throughput: {len(timed) * BATCH:,} events in {elapsed:.2f} s = {rate:,.0f} events/s; "
        f"per request p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p95 {percentile(latencies, 0.95) * 1000:.0f} ms"
    )
    app.control.purge()  # the throughput run's messages: the worker would fold them in during the lag run
    _fold_everything()

    target = args.lag_rate or rate * args.lag_share
    # Through gunicorn, batches go out on a few threads, so one slow answer does not hold the next batch back.
    senders = 1 if server is None else 4
    lags, failures, achieved = _lag_run(args, bodies[2 + args.batches :], post, target, url, broker, senders)
    if lags:
        print(
            f"signal lag at {achieved:,.0f} events/s sent (target {target:,.0f}) for {args.lag_seconds:.0f} s, "
            f"{len(lags)} batches, {args.worker_concurrency} worker process(es): "
            f"p50 {percentile(lags, 0.5):.2f} s, p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s"
        )
    return 1 if failures else 0


def _start_server(url: str, workers: int) -> tuple:
    """gunicorn serving the site on a free loopback port, on the bench database: (process, port)."""
    var = Path(tempfile.mkdtemp(prefix="accounts-intake-"))
    env = dict(os.environ, DATABASE_URL=url, API_RATE_LIMIT="", VAR_DIR=str(var), PROMETHEUS_MULTIPROC_DIR=str(var))
    port = free_port()
    process = start_gunicorn(env, port, workers, [], var / "gunicorn.log")
    wait_for_server(process, port, workers, var / "gunicorn.log")
    return process, port


def _bodies(simulate, Sizes, now, needed: int, seed: int) -> list[bytes]:  # noqa: ANN001, N803
    events: list[dict] = []
    round_ = 0
    while len(events) < needed:
        sim = simulate(seed=seed + round_, end=now - timedelta(minutes=1), hours=24, sizes=Sizes(ordinary=4000))
        events += sim.events
        round_ += 1
    return [json.dumps({"events": events[i : i + BATCH]}).encode() for i in range(0, needed - BATCH + 1, BATCH)]


def _fold_everything() -> None:
    from accounts.models import AccountSignals
    from accounts.signal_updates import update_account_signals

    ids = list(AccountSignals.objects.filter(pending_since__isnull=False).values_list("account_id", flat=True))
    for start in range(0, len(ids), 500):
        update_account_signals(account_ids=ids[start : start + 500])


def _lag_run(args, bodies, post, rate, url, broker, senders) -> tuple[list[float], int, float]:  # noqa: ANN001
    """Post at ``rate`` events/s; per batch, seconds from its commit until every account it marked is folded in.

    A batch marks its accounts' signals rows pending (``pending_since``, no later than its commit); the batch
    is folded in once no row pending since its commit or earlier is left. One indexed count per poll.
    """
    from django.utils import timezone

    env = dict(os.environ, DATABASE_URL=url, CELERY_BROKER_URL=broker, LOG_LEVEL="WARNING")
    worker = subprocess.Popen(
        [str(PYTHON), "-m", "celery", "-A", "moderation_site", "worker", "-Q", "default", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-c", str(args.worker_concurrency), "-l", "WARNING"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    outstanding: list[tuple[float, object]] = []  # (commit time, commit timestamp)
    lags: list[float] = []
    lock = threading.Lock()
    sending_done = threading.Event()
    try:
        time.sleep(4)  # the worker connects to the broker and the database
        poller = threading.Thread(target=_poll, args=(outstanding, lags, lock, sending_done, args.lag_timeout))
        poller.start()
        interval, sent = BATCH / rate, 0
        started = time.perf_counter()
        next_at = started

        def send_and_record(body: bytes) -> None:
            post(body)
            with lock:
                outstanding.append((time.perf_counter(), timezone.now()))

        futures = []
        with ThreadPoolExecutor(max_workers=senders) as pool:
            for body in bodies:
                if time.perf_counter() - started >= args.lag_seconds:
                    break
                time.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += interval
                futures.append(pool.submit(send_and_record, body))
                sent += 1
        for future in futures:
            future.result()  # a failed request (post exits) ends the run here, not silently in its thread
        achieved = sent * BATCH / (time.perf_counter() - started)
        sending_done.set()
        poller.join(timeout=args.lag_timeout + 5)
        return lags, sent - len(lags), achieved
    finally:
        sending_done.set()
        worker.terminate()
        worker.wait(timeout=30)


def _poll(outstanding: list, lags: list, lock: threading.Lock, sending_done: threading.Event, timeout: float) -> None:
    """Every 50 ms: which batches have no account left pending since their commit."""
    from django.db import connection

    while not sending_done.is_set() or outstanding:
        with lock:
            waiting = list(outstanding)
        for entry in waiting:
            committed, stamp = entry
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM accounts_accountsignals "
                    "WHERE pending_since IS NOT NULL AND pending_since <= %s",
                    [stamp],
                )
                folded = cursor.fetchone()[0] == 0
            waited = time.perf_counter() - committed
            if folded or waited > timeout:
                with lock:
                    outstanding.remove(entry)
                    if folded:
                        lags.append(waited)
                if not folded:
                    print(f"a batch was not folded in within {timeout:.0f} s", flush=True)
        time.sleep(0.05)
    connection.close()


if __name__ == "__main__":
    sys.exit(main())
