"""Fault injection on the production set-up: what is lost, scored twice or refused when parts die.

    .venv/bin/python bench/fault_injection.py                      # the full run (about 10-15 minutes)
    .venv/bin/python bench/fault_injection.py --items 40 --kills 1 --kill-every 4 --broker-down 3 \
        --db-down 3 --poison-batch 6 --poison-kills 1                # the tiny run CI does

Starts its own PostgreSQL cluster and Redis server on free loopback ports under a temporary directory (it
stops and restarts them, so it never touches the ones other tests use), gunicorn (2 processes), Celery beat
and two Celery workers (prefork, concurrency 1, queues inference and default), then, in order:

1. **worker kills**: ``--items`` items arrive through the API in batches while every ``--kill-every`` seconds
   one worker's whole process group gets SIGKILL and is restarted (``--kills`` times, alternating workers);
2. **broker down**: Redis is killed (its queued messages die with it: no persistence) for ``--broker-down``
   seconds while the API keeps receiving items, then restarted;
3. **database down**: PostgreSQL stops immediately (a crash) for ``--db-down`` seconds while the API and a
   signed-in page are requested twice a second, then restarts;
4. **the same batch killed again and again**: one ``--poison-batch`` batch holds a "poison" item (a 36-
   megapixel image, slow enough to be caught in the act); with one worker running, each time it claims the
   poison item it is killed and restarted, ``--poison-kills`` times.

And reports: items lost (accepted but never in the database, or never finished scoring), items scored twice
(routed more than once, or more score rows than versions x categories), bystanders failed (items that failed
scoring although they were not the poison), ingest 5xx while the broker was down, HTML 500 pages and other
5xx while the database was down, and the time from the last kill to every item scored.
Leases and sweeps are shortened (``SCORING_LEASE_SECONDS``, ``SCORING_SWEEP_SECONDS``) so the run is short.
"""

import argparse
import base64
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
FINAL_STATES = ("scored", "queued", "decided", "failed")
PHRASES = [
    "DM me to double your crypto in 24h, guaranteed",
    "great photo, thanks for sharing it with us",
    "you are an idiot and everyone hates you",
    "limited offer: cheap followers, click the link",
    "meeting moved to thursday, see the agenda",
]

SETUP_CODE = """
from django.apps import apps
from django.contrib.auth import get_user_model

def model(name):
    for app in ("api", "intake", "queues"):
        try:
            return apps.get_model(app, name)
        except LookupError:
            pass
    raise LookupError(name)

user = get_user_model().objects.create_user("faultbot", password="fault-injection-pw-1", is_staff=True)
for queue in model("Queue").objects.all():
    queue.members.add(user)
token = model("ApiToken")(name="fault injection", user=user, scopes=["items:read", "items:write"])
secret = token.issue_secret()
token.save()
print("TOKEN", secret)
"""


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports. All are held open until every one is chosen: asked for one at a
    time, the kernel may hand the same port out twice (CI once gave PostgreSQL and Redis the same one)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Outcome:
    """What the API answered, per phase."""

    statuses: Counter = field(default_factory=Counter)
    html_500: int = 0
    json_503_with_retry_after: int = 0
    accepted_ids: list[str] = field(default_factory=list)
    refused_ids: list[str] = field(default_factory=list)


class Stack:
    """PostgreSQL, Redis, gunicorn, beat and two workers, all on loopback under one temporary directory."""

    def __init__(self, *, lease_seconds: int, sweep_seconds: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fault-injection-"))
        self.pg_port, self.redis_port, self.web_port = free_ports(3)
        self.pgbin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
        self.processes: dict[str, subprocess.Popen] = {}
        self.redis: subprocess.Popen | None = None
        self.database_url = f"postgres://moderation@127.0.0.1:{self.pg_port}/moderation"
        self.env = {
            **os.environ,
            "MODERATION_ENV": "embedded",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/1",
            "VAR_DIR": str(self.dir / "var"),
            "MEDIA_ROOT": str(self.dir / "media"),
            "SCORING_LEASE_SECONDS": str(lease_seconds),
            "SCORING_SWEEP_SECONDS": str(sweep_seconds),
            "SCORING_FILL_WAIT_MS": "100",
            "API_RATE_LIMIT": "",
            "LOG_LEVEL": "WARNING",
            "OMP_NUM_THREADS": "1",
            "INFERENCE_THREADS": "1",
            "WEB_CONCURRENCY": "2",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)

    # PostgreSQL: a private cluster; as root its tools run as the postgres user (initdb refuses root).
    def _pg(self, *args: str) -> list[str]:
        command = [str(self.pgbin / args[0]), *args[1:]]
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def init_postgres(self) -> None:
        data = self.dir / "pg"
        data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(data, "postgres")
        subprocess.run(self._pg("initdb", "-D", str(data), "-U", "moderation", "--auth=trust"), check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        self.start_postgres()
        with psycopg.connect(f"postgres://moderation@127.0.0.1:{self.pg_port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE moderation")

    def start_postgres(self) -> None:
        options = f"-p {self.pg_port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(self._pg("pg_ctl", "-D", str(self.dir / "pg"), "-l", str(self.dir / "pg.log"), "-w", "-o",
                                options, "start"), check=True, stdout=subprocess.DEVNULL)  # fmt: skip

    def stop_postgres(self) -> None:
        """An immediate stop: every backend is killed, as in a crash; recovery runs on the next start."""
        subprocess.run(self._pg("pg_ctl", "-D", str(self.dir / "pg"), "-m", "immediate", "stop"), check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            if self.redis.poll() is not None:  # it exited (its port taken): whatever answers there is not our Redis
                raise RuntimeError(f"redis-server exited with {self.redis.returncode} (port {self.redis_port})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill_redis(self) -> None:
        if self.redis and self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait()

    def manage(self, *args: str) -> str:
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True,
                                text=True)  # fmt: skip
        return result.stdout

    def _spawn(self, name: str, command: list[str]) -> None:
        log_file = open(self.dir / f"{name}.log", "a")  # noqa: SIM115 - kept open for the process's life
        self.processes[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log_file,
                                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def start_web(self) -> None:
        self._spawn("web", [str(ROOT / ".venv/bin/gunicorn"), "moderation_site.wsgi", "--bind",
                            f"127.0.0.1:{self.web_port}", "--workers", "2"])  # fmt: skip

    def start_beat(self) -> None:
        self._spawn("beat", [PYTHON, "-m", "celery", "-A", "moderation_site", "beat", "--schedule",
                             str(self.dir / "beat-schedule"), "--loglevel", "WARNING"])  # fmt: skip

    def start_worker(self, name: str, queues: str = "inference,default", *, loglevel: str = "WARNING") -> None:
        self._spawn(name, [PYTHON, "-m", "celery", "-A", "moderation_site", "worker", "-n", f"{name}@%h",
                           "--queues", queues, "--concurrency", "1", "--pool", "prefork",
                           "--without-gossip", "--without-mingle", "--loglevel", loglevel])  # fmt: skip

    def kill(self, name: str) -> None:
        """SIGKILL the process group: the worker and its pool child die mid-task, as in a machine loss."""
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name)
        self.kill_redis()
        self.stop_postgres()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.database_url, connect_timeout=3) as conn:
            return conn.execute(sql, params).fetchall()


def _item(external_id: str, index: int) -> dict:
    return {"source": "fault.load", "external_id": external_id, "text": f"{PHRASES[index % len(PHRASES)]} #{index}"}


def post_items(client: httpx.Client, items: list[dict], outcome: Outcome) -> int:
    try:
        response = client.post("/api/v1/items", json={"items": items} if len(items) > 1 else items[0])
    except httpx.HTTPError:
        outcome.statuses["no answer"] += 1
        outcome.refused_ids.extend(item["external_id"] for item in items)
        return 0
    record(response, outcome)
    ids = [item["external_id"] for item in items]
    (outcome.accepted_ids if response.is_success else outcome.refused_ids).extend(ids)
    return response.status_code


def record(response: httpx.Response, outcome: Outcome) -> None:
    outcome.statuses[response.status_code] += 1
    content_type = response.headers.get("content-type", "")
    if response.status_code == 500 and content_type.startswith("text/html"):
        outcome.html_500 += 1
    if (
        response.status_code == 503
        and "retry-after" in response.headers
        and content_type.startswith("application/json")
    ):
        with contextlib.suppress(ValueError):
            if {"code", "message", "errors"} <= set(response.json()):
                outcome.json_503_with_retry_after += 1


def wait_for(condition, *, timeout: float, what: str, every: float = 0.5) -> float:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(psycopg.Error, httpx.HTTPError):
            if condition():
                return time.monotonic() - started
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def unfinished(stack: Stack, source: str = "fault.%") -> int:
    return stack.query(
        "SELECT count(*) FROM queues_item WHERE source LIKE %s AND state <> ALL(%s)", (source, list(FINAL_STATES))
    )[0][0]


def phase_worker_kills(stack: Stack, client: httpx.Client, args: argparse.Namespace) -> dict:
    log(f"phase 1: {args.items} items while a worker is killed every {args.kill_every} s, {args.kills} times")
    outcome = Outcome()
    batches = [
        [_item(f"load-{i}", i) for i in range(start, min(start + args.batch, args.items))]
        for start in range(0, args.items, args.batch)
    ]
    pause = args.kill_every * args.kills / max(1, len(batches))  # spread the load over the kills

    def send() -> None:
        for batch in batches:
            post_items(client, batch, outcome)
            time.sleep(pause)

    sender = threading.Thread(target=send)
    sender.start()
    last_kill = time.monotonic()
    for number in range(args.kills):
        time.sleep(args.kill_every)
        name = f"worker{1 + number % 2}"
        stack.kill(name)
        last_kill = time.monotonic()
        stack.start_worker(name)
        log(f"  killed and restarted {name} ({number + 1}/{args.kills})")
    sender.join()
    wait_for(lambda: unfinished(stack, "fault.load") == 0, timeout=args.timeout, what="phase 1 items to be scored")
    return {"outcome": outcome, "all_scored_after_last_kill_s": round(time.monotonic() - last_kill, 1)}


def phase_broker_down(stack: Stack, client: httpx.Client, args: argparse.Namespace) -> dict:
    log(f"phase 2: the broker is down for {args.broker_down} s while items arrive")
    outcome = Outcome()
    readiness = Counter()
    stack.kill_redis()
    started, index = time.monotonic(), 0
    while time.monotonic() - started < args.broker_down:
        single = [_item(f"broker-{index}", index)]
        batch = [_item(f"broker-{index}-{n}", index + n) for n in range(1, 6)]
        post_items(client, single, outcome)
        post_items(client, batch, outcome)
        with contextlib.suppress(httpx.HTTPError):
            readiness[client.get("/health/ready").status_code] += 1
        index += 10
        time.sleep(1)
    stack.start_redis()
    log("  the broker is back")
    wait_for(lambda: unfinished(stack, "fault.load") == 0, timeout=args.timeout, what="phase 2 items to be scored")
    accepted_and_lost = len(set(outcome.accepted_ids) - set(_stored(stack, outcome.accepted_ids)))
    saved_though_refused = len(_stored(stack, outcome.refused_ids))
    return {
        "outcome": outcome,
        "readiness_statuses": dict(readiness),
        "accepted_but_missing": accepted_and_lost,
        "refused_but_saved": saved_though_refused,
    }


def _stored(stack: Stack, external_ids: list[str]) -> list[str]:
    if not external_ids:
        return []
    rows = stack.query(
        "SELECT external_id FROM queues_item WHERE source = 'fault.load' AND external_id = ANY(%s)", (external_ids,)
    )
    return [row[0] for row in rows]


def sign_in(base_url: str) -> httpx.Client:
    browser = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)
    page = browser.get("/accounts/login/")
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    answer = browser.post("/accounts/login/", data={"username": "faultbot", "password": "fault-injection-pw-1",
                                                    "csrfmiddlewaretoken": token})  # fmt: skip
    if answer.status_code != 302:
        raise RuntimeError(f"sign-in failed: {answer.status_code}")
    return browser


def phase_database_down(stack: Stack, client: httpx.Client, args: argparse.Namespace) -> dict:
    log(f"phase 3: the database is down for {args.db_down} s while the API and a page are requested")
    api, page = Outcome(), Outcome()
    browser = sign_in(str(client.base_url))
    stack.stop_postgres()
    started, index = time.monotonic(), 0
    while time.monotonic() - started < args.db_down:
        with contextlib.suppress(httpx.HTTPError):
            record(client.get("/api/v1/items?limit=5"), api)
        post_items(client, [_item(f"db-{index}", index)], api)
        with contextlib.suppress(httpx.HTTPError):
            record(browser.get("/"), page)
        index += 1
        time.sleep(0.5)
    stack.start_postgres()
    log("  the database is back")
    recovered = wait_for(
        lambda: client.get("/api/v1/items?limit=1").status_code == 200 and browser.get("/").status_code == 200,
        timeout=60,
        what="the API and the page to answer 200 again",
    )
    wait_for(lambda: unfinished(stack, "fault.load") == 0, timeout=args.timeout, what="phase 3 items to be scored")
    return {"api": api, "page": page, "recovered_after_s": round(recovered, 1)}


def _big_png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (6000, 6000), "navy").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def phase_poison(stack: Stack, client: httpx.Client, args: argparse.Namespace) -> dict:
    log(f"phase 4: a batch of {args.poison_batch} whose poison item kills its worker, {args.poison_kills} times")
    # One worker for this phase: the kill then hits only the batch that holds the poison item, as a real
    # crash would (killing a second worker mid-batch would charge its items an attempt the poison did not cause).
    stack.kill("worker2")
    outcome = Outcome()
    items = [{**_item(f"poison-batch-{i}", i), "source": "fault.poison"} for i in range(args.poison_batch - 1)]
    items.insert(args.poison_batch // 2, {"source": "fault.poison", "external_id": "poison", "text": "the poison",
                                          "image_base64": _big_png()})  # fmt: skip
    if post_items(client, items, outcome) >= 300:
        raise RuntimeError(f"the poison batch was refused: {outcome.statuses}")
    kills = 0

    def poison_claims() -> tuple[str, int]:
        query = (
            "SELECT state, scoring_attempts FROM queues_item WHERE source = 'fault.poison' AND external_id = 'poison'"
        )
        return stack.query(query)[0]

    claimed_before = 0  # the item is new: any claim is the first
    for _ in range(args.poison_kills):
        # A new claim of the poison item: its attempts went up (the state alone stays "scoring" after a kill).
        try:
            wait_for(
                lambda before=claimed_before: (
                    (poison_claims()[0] == "scoring" and poison_claims()[1] > before)
                    or poison_claims()[0] in FINAL_STATES
                ),
                timeout=args.timeout,
                what="a worker to claim the poison item",
                every=0.02,
            )
        except TimeoutError:
            log(f"  the poison item was not claimed again: {poison_claims()}")
            break
        if poison_claims()[0] in FINAL_STATES:
            log(f"  the poison item finished before it was claimed again: {poison_claims()}")
            break
        stack.kill("worker1")
        claimed_before = poison_claims()[1]
        kills += 1
        log(f"  the poison item was claimed: killed its worker ({kills}/{args.poison_kills})")
        time.sleep(1)
        stack.start_worker("worker1")
    wait_for(lambda: unfinished(stack, "fault.poison") == 0, timeout=args.timeout, what="the poison batch to finish")
    stack.start_worker("worker2")
    # A failed item is routed to reviewers like any other (state "queued"): its failure_reason says it failed.
    rows = stack.query(
        "SELECT external_id, CASE WHEN failure_reason <> '' THEN 'failed' ELSE state END, scoring_attempts "
        "FROM queues_item WHERE source = 'fault.poison'"
    )
    bystanders_failed = sum(1 for external_id, state, _ in rows if external_id != "poison" and state == "failed")
    poison = next((state, attempts) for external_id, state, attempts in rows if external_id == "poison")
    return {"kills": kills, "bystanders": len(rows) - 1, "bystanders_failed": bystanders_failed,
            "poison_state": poison[0], "poison_attempts": poison[1]}  # fmt: skip


def totals(stack: Stack, accepted: list[str]) -> dict:
    stored = set(_stored(stack, accepted))
    scored_twice = stack.query(
        "SELECT count(*) FROM (SELECT e.item_id FROM queues_queueentry e JOIN queues_item i ON i.id = e.item_id "
        "WHERE i.source LIKE 'fault.%%' GROUP BY e.item_id HAVING count(*) > 1) twice"
    )[0][0]
    over_scored = stack.query(
        "SELECT count(*) FROM (SELECT s.item_id FROM classifiers_score s JOIN queues_item i ON i.id = s.item_id "
        "WHERE i.source LIKE 'fault.%%' GROUP BY s.item_id, s.model_version_id, s.category_id HAVING count(*) > 1) x"
    )[0][0]
    states = dict(stack.query("SELECT state, count(*) FROM queues_item WHERE source LIKE 'fault.%%' GROUP BY state"))
    failed_load = stack.query("SELECT count(*) FROM queues_item WHERE source = 'fault.load' AND failure_reason <> ''")[
        0
    ][0]
    return {
        "accepted": len(accepted),
        "lost": len(set(accepted) - stored) + unfinished(stack),
        "scored_twice": scored_twice + over_scored,
        "failed_under_load": failed_load,
        "states": states,
    }


def run(args: argparse.Namespace) -> dict:
    stack = Stack(lease_seconds=args.lease_seconds, sweep_seconds=args.sweep_seconds)
    log(f"stack under {stack.dir}: postgres :{stack.pg_port}, redis :{stack.redis_port}, web :{stack.web_port}")
    try:
        stack.init_postgres()
        stack.start_redis()
        stack.manage("migrate", "--no-input", "-v0")
        stack.manage("setup_demo_queues")
        secret = stack.manage("shell", "-c", SETUP_CODE).split("TOKEN ", 1)[1].strip()
        stack.start_web()
        stack.start_beat()
        stack.start_worker("worker1")
        stack.start_worker("worker2")
        base_url = f"http://127.0.0.1:{stack.web_port}"
        client = httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {secret}"})
        wait_for(lambda: client.get("/health/live").status_code == 200, timeout=120, what="gunicorn")
        started = time.monotonic()
        phases = {
            "worker_kills": phase_worker_kills,
            "broker_down": phase_broker_down,
            "database_down": phase_database_down,
            "poison": phase_poison,
        }
        results = {name: phase(stack, client, args) for name, phase in phases.items() if name in args.phases}
        accepted = [
            *(results["worker_kills"]["outcome"].accepted_ids if "worker_kills" in results else []),
            *(results["broker_down"]["outcome"].accepted_ids if "broker_down" in results else []),
            *(results["database_down"]["api"].accepted_ids if "database_down" in results else []),
        ]
        results["totals"] = totals(stack, accepted)
        results["elapsed_s"] = round(time.monotonic() - started, 1)
        return results
    finally:
        stack.stop_all()
        if args.keep:
            log(f"kept {stack.dir} (logs of every process)")
        else:
            shutil.rmtree(stack.dir, ignore_errors=True)


def report(results: dict) -> None:
    def five_hundreds(statuses: Counter) -> int:
        return sum(n for status, n in statuses.items() if isinstance(status, int) and status >= 500)

    total = results["totals"]
    figures: dict = {
        "items accepted": total["accepted"],
        "lost": total["lost"],
        "scored twice": total["scored_twice"],
        "failed under worker kills (bystanders)": total["failed_under_load"],
    }
    if kills := results.get("worker_kills"):
        figures["all scored after the last kill (s)"] = kills["all_scored_after_last_kill_s"]
    if broker := results.get("broker_down"):
        figures |= {
            "ingest answers while the broker was down": dict(broker["outcome"].statuses),
            "ingest 5xx while the broker was down": five_hundreds(broker["outcome"].statuses),
            "  of those refused, saved anyway": broker["refused_but_saved"],
            "readiness answers while the broker was down": broker["readiness_statuses"],
        }
    if database := results.get("database_down"):
        figures |= {
            "API answers while the database was down": dict(database["api"].statuses),
            "page answers while the database was down": dict(database["page"].statuses),
            "HTML 500 while the database was down": database["api"].html_500 + database["page"].html_500,
            "API 5xx while the database was down": five_hundreds(database["api"].statuses),
            "  of those 503 + Retry-After + JSON error": database["api"].json_503_with_retry_after,
            "page 5xx while the database was down": five_hundreds(database["page"].statuses),
            "API and page answer 200 again after (s)": database["recovered_after_s"],
        }
    if poison := results.get("poison"):
        figures |= {
            "poison kills": poison["kills"],
            "poison batch bystanders failed": f"{poison['bystanders_failed']} of {poison['bystanders']}",
            "poison item": f"{poison['poison_state']} after {poison['poison_attempts']} attempts",
        }
    figures |= {"final states": total["states"], "elapsed (s)": results["elapsed_s"]}
    print("fault_injection results")
    for name, value in figures.items():
        print(f"  {name}: {value}")
    print("FIGURES " + json.dumps({k.strip(): v for k, v in figures.items() if isinstance(v, int | float | str)}))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="items sent while workers are killed")
    parser.add_argument("--batch", type=int, default=20, help="items per API request in phase 1")
    parser.add_argument("--kills", type=int, default=10, help="worker kills in phase 1")
    parser.add_argument("--kill-every", type=float, default=30, help="seconds between worker kills")
    parser.add_argument("--broker-down", type=float, default=60, help="seconds the broker is down")
    parser.add_argument("--db-down", type=float, default=20, help="seconds the database is down")
    parser.add_argument("--poison-batch", type=int, default=32, help="items in the poison item's batch")
    parser.add_argument("--poison-kills", type=int, default=3, help="times the poison item's batch is killed")
    parser.add_argument("--lease-seconds", type=int, default=15, help="SCORING_LEASE_SECONDS for this run")
    parser.add_argument("--sweep-seconds", type=int, default=5, help="SCORING_SWEEP_SECONDS for this run")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for any phase's items")
    parser.add_argument(
        "--phases",
        type=lambda text: text.split(","),
        default=["worker_kills", "broker_down", "database_down", "poison"],
        help="which phases to run, comma-separated (default: all four, in order)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and its logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    results = run(parse_args(argv))
    report(results)
    return results


if __name__ == "__main__":
    main()
