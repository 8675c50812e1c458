#!/usr/bin/env python
"""Sustained-ingestion benchmark: POST /api/v1/items through gunicorn against PostgreSQL.

    DATABASE_URL=postgres://moderation:moderation@127.0.0.1:5432/moderation_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6390/7 \\
        .venv/bin/python bench/ingest.py --workers 2 --mode both --seconds 15

Without ``CELERY_BROKER_URL`` the server uses the embedded default's filesystem broker, which
writes a file for every scoring message (about 1 ms of CPU per single-item request more than Redis).

What it does, in order:

1. refuses to run unless ``DATABASE_URL`` names a PostgreSQL database;
2. runs ``manage.py migrate`` against it, then (through the ORM) creates a user and an API token
   with the ``items:write`` scope; with ``--truncate`` it first empties items, reports and authors;
3. starts ``gunicorn moderation_site.wsgi`` on a free loopback port (``--workers`` workers of the class set in
   ``gunicorn.conf.py``, gthread with 4 threads, unless ``--gunicorn-arg=--worker-class=sync``;
   ``MODERATION_ENV=embedded``, ``VAR_DIR`` in a temp dir, ``LOG_LEVEL=WARNING``) and waits for it;
4. for each mode (``batch``: ``{"items": [500 items]}`` per request; ``single``: one item per request)
   runs a short warm-up, then ``--clients`` threads sending requests back to back for ``--seconds``
   (or until ``--max-requests``), over ``http.client`` connections that are kept open when the server
   allows it (gthread keeps them alive; the sync worker closes after every response);
5. prints items/s, requests/s, p50/p95/max latency per request, and the CPU time spent by the gunicorn
   workers, the PostgreSQL backends and this client, then one summary line per mode;
6. always stops gunicorn; exits 1 if any request got a non-2xx answer (the first error body is printed)
   or if an item was not actually created (every item has a unique external_id, so each is an insert).

The client shares the machine's cores with the server, so it is kept cheap: request bodies are
assembled from pre-encoded JSON fragments, and the per-mode CPU table shows what the client cost.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from bench_postgres import require_postgres_url

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python" if (VENV_BIN / "python").exists() else Path(sys.executable)
GUNICORN = VENV_BIN / "gunicorn" if (VENV_BIN / "gunicorn").exists() else Path(sys.executable).parent / "gunicorn"
ENDPOINT = "/api/v1/items"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# Realistic-looking content
# --------------------------------------------------------------------------------------------

SENTENCES = [
    "DM me to double your crypto in 24 hours, guaranteed returns or your money back!!!",
    "Click the link in my bio for free followers, limited spots left today only.",
    "I honestly can't believe people still fall for these giveaway scams in the comments.",
    "You are the worst streamer on this platform and everyone in chat knows it.",
    "Great tutorial, the part about color grading finally made sense to me.",
    "This account keeps reposting my artwork without credit, please look into it.",
    "Selling verified accounts with 10k followers, cheap, message me on telegram.",
    "If you show up at the meetup again we will make sure you regret it.",
    "Does anyone know when the next episode drops? The cliffhanger was brutal.",
    "Work from home and earn $500 a day, no experience needed, ask me how.",
    "Your mom should have taught you some manners before letting you online.",
    "Thanks for sharing, I tried the recipe and my kids loved it.",
    "Hot singles in your area are waiting, tap here to meet them tonight.",
    "This video contains graphic footage from the accident, viewer discretion advised.",
    "Reported this user three times already and nothing happened, what is going on?",
    "Buy cheap watches and designer bags at 90% off, link below, fast shipping.",
    "The moderators here are clearly biased and delete anything they disagree with.",
    "I think the referee made the right call, the replay was pretty clear.",
    "Go back to where you came from, nobody wants your kind here.",
    "Free gift cards for the first 100 people who comment their email address.",
    "Loved the soundtrack, does anyone have the name of the song at 3:42?",
    "He posted my home address in the group chat and now strangers are messaging me.",
    "Join our investment group, guaranteed 40% monthly profit, zero risk.",
    "Can we please keep the discussion civil? There is no need for insults.",
]
REASONS = ["spam", "scam_fraud", "harassment", "hate_speech", "violence", "impersonation", "nudity", "other"]
SURFACES = ["comment", "post", "message", "profile", "live_chat"]
LANGUAGES = ["en", "en", "en", "es", "fr", "de", "pt"]


def _text(rng: random.Random) -> str:
    """A few hundred characters made of plausible sentences."""
    target = rng.randint(200, 600)
    parts: list[str] = []
    size = 0
    while size < target:
        sentence = rng.choice(SENTENCES)
        parts.append(sentence)
        size += len(sentence) + 1
    return " ".join(parts)


class PayloadFactory:
    """Builds item JSON quickly from pre-encoded fragments; every item gets a fresh external_id."""

    POOL = 512

    def __init__(self, run_id: str, author_pool: int, seed: int) -> None:
        rng = random.Random(seed)
        self.run_id = run_id
        self.author_pool = author_pool
        self.texts = [json.dumps(_text(rng)) for _ in range(self.POOL)]
        self.report_texts = [json.dumps(rng.choice(SENTENCES)[: rng.randint(20, 80)]) for _ in range(self.POOL)]
        self.metadata = [
            json.dumps(
                {"surface": rng.choice(SURFACES), "language": rng.choice(LANGUAGES), "bench": True},
                separators=(",", ":"),
            )
            for _ in range(self.POOL)
        ]
        self.reasons = [json.dumps(reason) for reason in REASONS]
        self.created_at = [
            json.dumps(
                f"20{rng.randint(15, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
                f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
            )
            for _ in range(self.POOL)
        ]

    def item(self, rng: random.Random, serial: str) -> str:
        pool = self.POOL
        author = rng.randrange(self.author_pool) if self.author_pool else serial
        handle = "".join(rng.choices(string.ascii_lowercase, k=8))
        return (
            '{"source":"bench.ingest","external_id":"' + self.run_id + "-" + serial + '",'
            '"text":' + self.texts[rng.randrange(pool)] + ","
            '"author":{"external_id":"a-' + str(author) + '","handle":"@' + handle + '",'
            '"account_created_at":' + self.created_at[rng.randrange(pool)] + "},"
            '"metadata":' + self.metadata[rng.randrange(pool)] + ","
            '"reports":[{"id":"r-'
            + self.run_id
            + "-"
            + serial
            + '","reporter_id":"u-'
            + str(rng.randrange(10**6))
            + '",'
            '"reason":' + rng.choice(self.reasons) + ',"text":' + self.report_texts[rng.randrange(pool)] + "}]}"
        )


# --------------------------------------------------------------------------------------------
# Process CPU accounting (from /proc; Linux only)
# --------------------------------------------------------------------------------------------


def _proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return 0.0
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _proc_children(ppid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if int(data[data.rindex(b")") + 2 :].split()[1]) == ppid:
            children.append(int(entry))
    return children


PG_BACKGROUND = (b"checkpointer", b"background writer", b"walwriter", b"autovacuum launcher", b"logical replication")


def _postgres_pids(database: str) -> tuple[list[int], list[int]]:
    """PostgreSQL processes serving ``database`` (backends, its autovacuum workers), and the shared ones.

    Backends of other databases in the same cluster (other people's tests) are left out of both.
    """
    ours, shared = [], []
    token = database.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", "rb") as handle:
                if handle.read().strip() != b"postgres":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                title = handle.read().replace(b"\0", b" ")
        except OSError:
            continue
        if token in title.split():
            ours.append(int(entry))
        elif not title.startswith(b"postgres:") or any(name in title for name in PG_BACKGROUND):
            shared.append(int(entry))  # the postmaster and the cluster-wide background processes
    return ours, shared


def _machine_ticks() -> list[int]:
    """Machine-wide CPU ticks from /proc/stat: user nice system idle iowait irq softirq steal."""
    try:
        with open("/proc/stat") as handle:
            return [int(value) for value in handle.readline().split()[1:9]]
    except OSError:
        return [0] * 8


def cpu_snapshot(gunicorn_pid: int, database: str) -> dict[str, dict]:
    """CPU seconds so far, per process, of the gunicorn workers, the PostgreSQL processes, and us."""
    ours, shared = _postgres_pids(database)
    return {
        "gunicorn workers": {pid: _proc_cpu_seconds(pid) for pid in _proc_children(gunicorn_pid)},
        "postgres": {pid: _proc_cpu_seconds(pid) for pid in ours},
        "postgres shared": {pid: _proc_cpu_seconds(pid) for pid in shared},
        "bench client": {os.getpid(): time.process_time()},
        "machine": _machine_ticks(),
    }


def cpu_delta(before: dict, after: dict) -> tuple[dict[str, float], dict[str, float]]:
    """(CPU seconds per process group, machine-wide seconds busy/idle/iowait/steal) between two snapshots."""
    # Processes that exited in between are lost; ones that started count from zero.
    groups = {
        group: sum(seconds - before[group].get(pid, 0.0) for pid, seconds in after[group].items())
        for group in after
        if group != "machine"
    }
    ticks = [b - a for a, b in zip(before["machine"], after["machine"], strict=True)]
    user, nice, system, idle, iowait, irq, softirq, steal = (t / CLK_TCK for t in ticks)
    machine = {"busy": user + nice + system + irq + softirq, "idle": idle, "iowait": iowait, "steal": steal}
    return groups, machine


# --------------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------------


@dataclass
class ModeResult:
    mode: str
    clients: int
    items_per_request: int
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    items_ok: int = 0
    errors_by_status: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None
    not_created: int = 0
    connections: int = 0
    keepalive_reuses: int = 0
    bytes_sent: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    machine: dict[str, float] = field(default_factory=dict)

    @property
    def requests_ok(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(self.errors_by_status.values())


class Collector:
    def __init__(self, result: ModeResult) -> None:
        self.result = result
        self.lock = threading.Lock()

    def ok(self, latency: float, items: int, not_created: int, body_bytes: int) -> None:
        with self.lock:
            self.result.latencies.append(latency)
            self.result.items_ok += items
            self.result.not_created += not_created
            self.result.bytes_sent += body_bytes

    def error(self, status: str, body: str) -> None:
        with self.lock:
            self.result.errors_by_status[status] = self.result.errors_by_status.get(status, 0) + 1
            if self.result.first_error is None:
                self.result.first_error = f"{status}: {body[:4000]}"

    def connection(self, reused: bool) -> None:
        with self.lock:
            if reused:
                self.result.keepalive_reuses += 1
            else:
                self.result.connections += 1


class Ticket:
    """Allows requests until the count or the deadline is reached (in-flight requests then finish)."""

    def __init__(self, max_requests: int, deadline: float) -> None:
        self.max_requests = max_requests
        self.deadline = deadline
        self.issued = 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        with self.lock:
            if self.issued >= self.max_requests:
                return False
            self.issued += 1
            return True


def client_loop(
    *,
    port: int,
    secret: str,
    mode: str,
    batch_size: int,
    factory: PayloadFactory,
    ticket: Ticket,
    collector: Collector,
    client_no: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json", "Accept": "application/json"}
    conn: http.client.HTTPConnection | None = None
    counter = 0
    prefix = f"c{client_no}-"
    try:
        while ticket.take():
            if mode == "batch":
                parts = []
                for _ in range(batch_size):
                    counter += 1
                    parts.append(factory.item(rng, prefix + str(counter)))
                body = ('{"items":[' + ",".join(parts) + "]}").encode()
                expected, n_items = 200, batch_size
            else:
                counter += 1
                body = factory.item(rng, prefix + str(counter)).encode()
                expected, n_items = 201, 1

            for attempt in (1, 2):
                reused = conn is not None
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, port, timeout=120)
                collector.connection(reused)
                start = time.perf_counter()
                try:
                    conn.request("POST", ENDPOINT, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                except (ConnectionError, http.client.HTTPException, OSError) as exc:
                    conn.close()
                    conn = None
                    if reused and attempt == 1:
                        continue  # the server closed an idle kept-alive connection; retry on a fresh one
                    collector.error(type(exc).__name__, str(exc))
                    break
                latency = time.perf_counter() - start
                if response.will_close:
                    conn.close()
                    conn = None
                if response.status == expected:
                    if mode == "batch":
                        created = json.loads(payload).get("created", 0)
                    else:
                        created = 1 if b'"status":"created"' in payload else 0
                    collector.ok(latency, n_items, n_items - created, len(body))
                elif 200 <= response.status < 300:
                    # 2xx but not the expected code (200 for a single item means "merged": not an insert).
                    collector.ok(latency, n_items, n_items, len(body))
                else:
                    collector.error(str(response.status), payload.decode("utf-8", "replace"))
                break
    finally:
        if conn is not None:
            conn.close()


def run_mode(
    *,
    mode: str,
    seconds: float,
    warmup: float,
    clients: int,
    max_requests: int,
    batch_size: int,
    port: int,
    secret: str,
    factory: PayloadFactory,
    gunicorn_pid: int,
    database: str,
    seed: int,
) -> ModeResult:
    items_per_request = batch_size if mode == "batch" else 1

    def phase(duration: float, limit: int, seed_offset: int) -> ModeResult:
        result = ModeResult(mode=mode, clients=clients, items_per_request=items_per_request)
        collector = Collector(result)
        ticket = Ticket(limit, time.monotonic() + duration)
        threads = [
            threading.Thread(
                target=client_loop,
                kwargs={
                    "port": port,
                    "secret": secret,
                    "mode": mode,
                    "batch_size": batch_size,
                    "factory": factory,
                    "ticket": ticket,
                    "collector": collector,
                    "client_no": seed_offset * 1000 + n,
                    "seed": seed * 7919 + seed_offset * 1000 + n,
                },
                daemon=True,
            )
            for n in range(clients)
        ]
        before = cpu_snapshot(gunicorn_pid, database)
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.elapsed = time.perf_counter() - start
        result.cpu, result.machine = cpu_delta(before, cpu_snapshot(gunicorn_pid, database))
        result.cpu["total"] = sum(result.cpu.values())
        return result

    if warmup > 0:
        warm = phase(warmup, max(clients * 2, 1), seed_offset=1 if mode == "batch" else 3)
        print(f"  warm-up: {warm.requests_ok} requests in {warm.elapsed:.1f} s, {warm.errors} errors")
        if warm.errors:
            print("  the warm-up failed, so the measured run is skipped; the numbers below are the warm-up's")
            return warm
    return phase(seconds, max_requests, seed_offset=2 if mode == "batch" else 4)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = max(0, min(len(sorted_values) - 1, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def report_mode(result: ModeResult, workers: int, cores: int) -> str:
    lat = sorted(result.latencies)
    items_s = result.items_ok / result.elapsed if result.elapsed else 0.0
    req_s = result.requests_ok / result.elapsed if result.elapsed else 0.0
    p50, p95, p99 = (percentile(lat, f) * 1000 for f in (0.50, 0.95, 0.99))
    mean = sum(lat) / len(lat) * 1000 if lat else float("nan")
    print(f"  requests:   {result.requests_ok} ok, {result.errors} failed {result.errors_by_status or ''}".rstrip())
    print(
        f"  items:      {result.items_ok} sent in {result.elapsed:.2f} s "
        f"({result.not_created} not created), {result.bytes_sent / 1e6:.1f} MB of request bodies"
    )
    print(f"  throughput: {items_s:.0f} items/s, {req_s:.1f} requests/s")
    print(
        f"  latency:    p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
        f"mean {mean:.1f} ms, max {(lat[-1] * 1000 if lat else float('nan')):.1f} ms"
    )
    print(f"  connections: {result.connections} opened, {result.keepalive_reuses} requests on a kept-alive one")
    wall = result.elapsed
    if wall:
        cpu_parts = ", ".join(
            f"{name} {seconds:.1f} s ({seconds / wall:.2f} cores)" for name, seconds in result.cpu.items()
        )
        print(f"  CPU:        {cpu_parts}")
        machine = result.machine
        others = max(0.0, machine["busy"] - result.cpu["total"])
        print(
            f"  machine:    {cores} cores: busy {machine['busy'] / wall:.2f}, idle {machine['idle'] / wall:.2f}, "
            f"iowait {machine['iowait'] / wall:.2f}, steal {machine['steal'] / wall:.2f} cores (/proc/stat); "
            f"other processes {others / wall:.2f} cores"
        )
        if others / wall > 0.15:
            print("  WARNING:    other processes used a noticeable share of the CPU; the numbers are pessimistic.")
        if result.requests_ok:
            per_req = ", ".join(
                f"{name} {seconds / result.requests_ok * 1000:.2f} ms"
                for name, seconds in result.cpu.items()
                if name != "total"
            )
            print(f"  CPU per request: {per_req}")
            ceiling = cores / (result.cpu["total"] / result.requests_ok)
            print(
                f"  CPU ceiling: {ceiling:.1f} requests/s = {ceiling * result.items_per_request:.0f} items/s "
                f"if all {cores} cores did nothing else (cores / total CPU per request)"
            )
    if result.first_error:
        print(f"  first error: {result.first_error}")
    return (
        f"{result.mode}: {items_s:.0f} items/s ({req_s:.1f} req/s), p50 {p50:.0f} ms, p95 {p95:.0f} ms"
        f" [{workers} gunicorn workers, {result.clients} client threads, {result.items_per_request} items/request,"
        f" {result.errors} errors]"
    )


# --------------------------------------------------------------------------------------------
# Setup: database, token, gunicorn
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def server_env(database_url: str, var_dir: Path, secret_key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MODERATION_ENV="embedded",
        DATABASE_URL=database_url,
        SECRET_KEY=secret_key,
        VAR_DIR=str(var_dir),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="moderation_site.settings",
        DEBUG="0",
        API_RATE_LIMIT="",  # measures ingestion, not the per-token rate limit (600 requests a minute by default)
    )
    return env


def prepare_database(env: dict[str, str], truncate: bool) -> tuple[str, int]:
    """Migrate, optionally empty the ingestion tables, create a token; return (secret, items now)."""
    started = time.perf_counter()
    migrate = subprocess.run([str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env)
    if migrate.returncode != 0:
        sys.exit(f"bench/ingest.py: 'manage.py migrate' failed (exit {migrate.returncode}); see its output above.")
    print(f"migrate: {time.perf_counter() - started:.1f} s")

    os.environ.update(
        {
            k: env[k]
            for k in (
                "MODERATION_ENV",
                "DATABASE_URL",
                "SECRET_KEY",
                "VAR_DIR",
                "LOG_LEVEL",
                "DJANGO_SETTINGS_MODULE",
                "DEBUG",
            )
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from api.models import ApiToken
    from intake.models import Author, Item, Report

    if truncate:
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (Report, Item, Author))
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        print(f"truncated {tables}")
    user, _ = get_user_model().objects.get_or_create(username="bench-ingest", defaults={"is_active": True})
    token = ApiToken(name=f"bench ingest {time.strftime('%Y-%m-%d %H:%M:%S')}", user=user, scopes=["items:write"])
    secret = token.issue_secret()
    token.save()
    return secret, Item.objects.count()


def count_rows() -> dict[str, int]:
    from django.db import connection

    from intake.models import Author, Item, Report

    connection.close()  # a fresh connection: the load may have taken longer than CONN_MAX_AGE
    return {"items": Item.objects.count(), "reports": Report.objects.count(), "authors": Author.objects.count()}


def start_gunicorn(env: dict[str, str], port: int, workers: int, extra: list[str], log_path: Path) -> subprocess.Popen:
    command = [str(GUNICORN), "moderation_site.wsgi", "-b", f"{HOST}:{port}", "-w", str(workers), *extra]
    print("gunicorn: " + " ".join(command))
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_server(proc: subprocess.Popen, port: int, workers: int, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", ENDPOINT)
            conn.getresponse().read()
            conn.close()
            # Answering; give every worker a moment to finish booting too.
            while len(_proc_children(proc.pid)) < workers and time.monotonic() < deadline:
                time.sleep(0.1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"gunicorn did not answer on port {port} within {timeout:.0f} s:\n{log_path.read_text()[-4000:]}"
    )


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own session: the master and its workers
        proc.wait(timeout=5)


def machine_summary() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}){mem}"


def background_load(seconds: float = 1.0) -> float:
    """Cores busy machine-wide over ``seconds`` (user, nice, system, irq, softirq from /proc/stat)."""
    before = _machine_ticks()
    time.sleep(seconds)
    ticks = [(b - a) / CLK_TCK for a, b in zip(before, _machine_ticks(), strict=True)]
    return sum(ticks[i] for i in (0, 1, 2, 5, 6)) / seconds


def wait_until_quiet(timeout: float, threshold: float = 0.2) -> None:
    """On a shared machine, wait (up to ``timeout`` s) until other processes use under ``threshold`` cores."""
    deadline = time.monotonic() + timeout
    busy = background_load()
    while busy > threshold and time.monotonic() < deadline:
        print(f"  waiting for a quiet machine: {busy:.2f} cores busy")
        busy = background_load(5.0)
    print(f"  background load: {busy:.2f} cores busy" + ("" if busy <= threshold else " (gave up waiting)"))


def code_state() -> str:
    """The commit and whether the working tree differs from it, so a result can be tied to the code."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (f", {len(dirty)} uncommitted changes/new files" if dirty else ", clean")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["batch", "single", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured duration per mode (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured warm-up per mode, seconds (default 2)")
    parser.add_argument("--max-requests", type=int, default=20_000, help="cap on measured requests per mode")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument(
        "--clients",
        type=int,
        default=0,
        help="client threads per mode (default: workers+1 for batch, 2*workers for single)",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="items per batch request (default 500)")
    parser.add_argument(
        "--author-pool", type=int, default=0, help="draw authors from this many ids (default 0: a new author per item)"
    )
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="empty the items, reports and authors tables before the run (destructive)",
    )
    parser.add_argument(
        "--gunicorn-arg",
        action="append",
        default=[],
        help="extra argument for gunicorn, repeatable (e.g. --gunicorn-arg=--threads=2)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each mode, wait up to this many seconds for other processes to use < 0.2 cores",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    # A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the finally block still stops gunicorn.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f"bench/ingest.py: stopped by signal {signum}"))

    database_url = require_postgres_url("bench/ingest.py")
    if not GUNICORN.exists():
        sys.exit(f"bench/ingest.py: {GUNICORN} not found; create the virtualenv first.")

    modes = ["batch", "single"] if args.mode == "both" else [args.mode]
    cores = os.cpu_count() or 1
    var_dir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    env = server_env(database_url, var_dir, os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50))
    print(f"machine: {machine_summary()}")
    print(f"code: {code_state()}")
    print(f"background load before starting: {background_load():.2f} cores busy (over 1 s)")
    print(f"database: {urlparse(database_url)._replace(netloc=urlparse(database_url).hostname or '').geturl()}")
    broker = urlparse(env.get("CELERY_BROKER_URL", "filesystem://"))
    print(f"broker: {broker.scheme}://{broker.hostname or ''}{f':{broker.port}' if broker.port else ''}")
    secret, items_before = prepare_database(env, args.truncate)
    print(f"items in the database before: {items_before}")

    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    factory = PayloadFactory(run_id, args.author_pool, args.seed)
    port = free_port()
    log_path = var_dir / "gunicorn.log"
    proc = start_gunicorn(env, port, args.workers, args.gunicorn_arg, log_path)
    summaries: list[str] = []
    failed = False
    try:
        wait_for_server(proc, port, args.workers, log_path)
        for mode in modes:
            if args.wait_quiet > 0:
                wait_until_quiet(args.wait_quiet)
            clients = args.clients or (args.workers + 1 if mode == "batch" else 2 * args.workers)
            per_request = args.batch_size if mode == "batch" else 1
            print(
                f"\n== {mode}: {per_request} item(s)/request, {clients} client threads, "
                f"{args.workers} gunicorn workers, {args.seconds:.0f} s (max {args.max_requests} requests)"
            )
            result = run_mode(
                mode=mode,
                seconds=args.seconds,
                warmup=args.warmup,
                clients=clients,
                max_requests=args.max_requests,
                batch_size=args.batch_size,
                port=port,
                secret=secret,
                factory=factory,
                gunicorn_pid=proc.pid,
                database=urlparse(database_url).path.lstrip("/"),
                seed=args.seed,
            )
            summaries.append(report_mode(result, args.workers, cores))
            if result.errors or result.not_created:
                failed = True
    finally:
        stop_gunicorn(proc)
        server_log = log_path.read_text(errors="replace") if log_path.exists() else ""
        shutil.rmtree(var_dir, ignore_errors=True)

    after = count_rows()
    print(
        f"\nitems in the database after: {after['items']} (+{after['items'] - items_before}); "
        f"reports {after['reports']}, authors {after['authors']}"
    )
    log_lines = server_log.splitlines()
    tracebacks = [n for n, line in enumerate(log_lines) if line.startswith("Traceback")]
    errors = [line for line in log_lines if "ERROR" in line or "CRITICAL" in line]
    if tracebacks or errors:
        print(f"gunicorn log: {len(tracebacks)} tracebacks, {len(errors)} ERROR/CRITICAL lines. First traceback:")
        first = tracebacks[0] if tracebacks else 0
        print("\n".join(log_lines[max(0, first - 2) : first + 80]))
    print(f"\nsummary (gunicorn workers: {args.workers}; client threads as listed)")
    for line in summaries:
        print(line)
    if failed:
        print("FAILED: some requests got a non-2xx answer or did not create their items (see above).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
