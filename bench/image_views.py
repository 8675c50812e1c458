"""Web memory under concurrent views of near-limit images (issue 18, fault 7): goal <= 300 MB per web process.

    .venv/bin/python bench/image_views.py                          # 16 images of 6,300 x 6,300, 16 views at once
    .venv/bin/python bench/image_views.py --images 2 --side 1500 --concurrency 4 --rounds 1   # the tiny CI run

Starts its own PostgreSQL cluster and Redis on loopback (``fault_injection.Stack``), gunicorn as ``make run``
does (2 processes x 4 threads, ``gunicorn.conf.py``) and, later, one Celery worker on the ``default`` queue. Then:

1. ``--images`` PNGs of ``--side`` x ``--side`` pixels (6,300 x 6,300 = 39.7 MP, under the 40 MP limit; about
   130 KB each) arrive through ``POST /api/v1/items``, ``--ingest-concurrency`` at once, and are put in a queue;
2. gunicorn is restarted, so each process's peak RSS (``VmHWM``) counts the views alone;
3. with no worker running, ``--concurrency`` reviewers view the images at once: the answers must be 202
   placeholders (the web process decodes nothing);
4. the worker starts and makes the display derivatives: time until all are stored, the worker's peak RSS;
5. ``--rounds`` times, ``--concurrency`` views at once of the stored derivatives: status, latency, and every web
   process's peak RSS.
"""

import argparse
import io
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.fault_injection import Stack, log, wait_for  # noqa: E402 - after ROOT is importable

GOAL_WEB_RSS_MB = 300

SETUP_CODE = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from api.models import ApiToken
from queues.models import Queue

User = get_user_model()
queue = Queue.objects.order_by("pk").first()
bot = User.objects.create_user("imagebot", password="image-bench-pw-1", is_staff=True)
token = ApiToken(name="image bench", user=bot, scopes=["items:read", "items:write"])
secret = token.issue_secret()
token.save()
reviewer = User.objects.create_user("imagereviewer", password="image-bench-pw-2")
queue.members.add(reviewer)
session = SessionStore()
session[SESSION_KEY] = str(reviewer.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = reviewer.get_session_auth_hash()
session.create()
print("TOKEN", secret, "SESSION", session.session_key)
"""

ENQUEUE_CODE = """
from django.utils import timezone
from intake.models import Item
from queues.models import Queue, QueueEntry

queue = Queue.objects.order_by("pk").first()
now = timezone.now()
for item in Item.objects.filter(source="bench.images"):
    QueueEntry.objects.get_or_create(item=item, queue=queue, defaults={
        "sort_key": 0.0, "enqueued_at": now, "deadline_at": now + queue.deadline})
print("IDS", ",".join(str(pk) for pk in Item.objects.filter(source="bench.images").values_list("pk", flat=True)))
"""


def near_limit_png(side: int, index: int) -> bytes:
    """A mostly flat picture (so the file is tiny) with a few shapes, different per image (so each is stored)."""
    image = Image.new("RGB", (side, side), (40 + index * 7 % 200, 90, 160))
    draw = ImageDraw.Draw(image)
    for n in range(6):
        box = (side * n // 8, side * (n + index % 3) // 10, side * (n + 2) // 8, side * (n + 3) // 10)
        draw.rectangle(box, fill=(200, 40 * n % 255, index * 13 % 255))
    with_buffer = io.BytesIO()
    image.save(with_buffer, format="PNG", optimize=True)
    return with_buffer.getvalue()


def process_group_members(leader_pid: int) -> list[int]:
    """Every live process in the leader's process group (the gunicorn master and its workers, a worker's pool)."""
    members = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader_pid:  # field 5 of /proc/<pid>/stat: the process group id
            members.append(int(status.parent.name))
    return sorted(members)


def memory_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def web_processes(stack: Stack) -> dict[int, dict[str, float]]:
    """gunicorn's worker processes (not the master, which serves no request) and their RSS now and at peak."""
    master = stack.processes["web"].pid
    return {pid: memory_mb(pid) for pid in process_group_members(master) if pid != master}


def view_all(stack: Stack, session_key: str, item_ids: list[int], concurrency: int) -> dict:
    """``concurrency`` reviewers at once, each viewing every image (the work view's <img> loads), in turn."""
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def reviewer(offset: int) -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{stack.web_port}", cookies={"sessionid": session_key}, timeout=120
        ) as client:
            for n in range(len(item_ids)):
                item_id = item_ids[(offset + n) % len(item_ids)]
                started = time.monotonic()
                response = client.get(f"/items/{item_id}/image")
                with lock:
                    latencies.append(time.monotonic() - started)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(reviewer, range(concurrency)))
    latencies.sort()
    return {
        "statuses": statuses,
        "views": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def run(args: argparse.Namespace) -> dict:
    stack = Stack(lease_seconds=60, sweep_seconds=30)
    stack.env.update({"WEB_CONCURRENCY": "2", "WEB_THREADS": "4"})
    log(f"stack under {stack.dir}: postgres :{stack.pg_port}, redis :{stack.redis_port}, web :{stack.web_port}")
    results: dict = {"side": args.side, "images": args.images, "concurrency": args.concurrency}
    try:
        stack.init_postgres()
        stack.start_redis()
        stack.manage("migrate", "--no-input", "-v0")
        stack.manage("setup_demo_queues")
        printed = stack.manage("shell", "-c", SETUP_CODE).split()
        secret, session_key = printed[printed.index("TOKEN") + 1], printed[printed.index("SESSION") + 1]
        stack.start_web()
        base_url = f"http://127.0.0.1:{stack.web_port}"
        api = httpx.Client(base_url=base_url, timeout=120, headers={"Authorization": f"Bearer {secret}"})
        wait_for(lambda: api.get("/health/live").status_code == 200, timeout=120, what="gunicorn")

        log(f"1. {args.images} PNGs of {args.side} x {args.side} through the API, {args.ingest_concurrency} at once")
        pictures = [near_limit_png(args.side, index) for index in range(args.images)]

        def upload(index: int) -> int:
            return api.post(
                "/api/v1/items",
                files={"image": (f"{index}.png", pictures[index], "image/png")},
                data={"payload": json.dumps({"source": "bench.images", "external_id": f"img-{index}",
                                             "image_part": "image"})},
            ).status_code  # fmt: skip

        with ThreadPoolExecutor(max_workers=args.ingest_concurrency) as pool:
            statuses = list(pool.map(upload, range(args.images)))
        if set(statuses) - {200, 201}:
            raise RuntimeError(f"ingest answered {statuses}")
        results["file_kb"] = round(statistics.mean(len(p) for p in pictures) / 1024, 1)
        results["ingest_concurrency"] = args.ingest_concurrency
        results["ingest_peak_web_rss_mb"] = max(m["VmHWM"] for m in web_processes(stack).values())
        item_ids = [int(pk) for pk in stack.manage("shell", "-c", ENQUEUE_CODE).split("IDS ", 1)[1].strip().split(",")]

        log("2. gunicorn restarted, so its peak RSS counts the views alone")
        stack.kill("web")
        stack.start_web()
        wait_for(lambda: api.get("/health/live").status_code == 200, timeout=120, what="gunicorn")
        api.get("/health/live")
        results["web_rss_at_start_mb"] = max(m["VmRSS"] for m in web_processes(stack).values())

        log(f"3. {args.concurrency} reviewers at once, no worker yet")
        results["views_before_derivatives"] = view_all(stack, session_key, item_ids, args.concurrency)

        log("4. a worker on the default queue makes the derivatives")
        started = time.monotonic()
        stack.start_worker("imageworker", queues="default")
        display_dir = stack.dir / "media" / "display"
        wait_for(lambda: len(list(display_dir.glob("*/*.jpg"))) >= args.images, timeout=args.timeout,
                 what="the display derivatives", every=0.2)  # fmt: skip
        results["derivatives_made_s"] = round(time.monotonic() - started, 1)
        worker_pids = process_group_members(stack.processes["imageworker"].pid)
        results["worker_peak_rss_mb"] = max(memory_mb(pid)["VmHWM"] for pid in worker_pids)

        log(f"5. {args.rounds} rounds of {args.concurrency} reviewers at once viewing the stored derivatives")
        results["views"] = [view_all(stack, session_key, item_ids, args.concurrency) for _ in range(args.rounds)]
        web = web_processes(stack)
        results["web_peak_rss_mb"] = {str(pid): m["VmHWM"] for pid, m in web.items()}
        results["max_web_peak_rss_mb"] = max(m["VmHWM"] for m in web.values())
        return results
    finally:
        stack.stop_all()


def report(results: dict) -> None:
    print(json.dumps(results, indent=2))
    served = results["views"]
    ok = all(set(round_["statuses"]) == {200} for round_ in served)
    pending = results["views_before_derivatives"]["statuses"]
    print(
        "FIGURES "
        f"images: {results['images']} x {results['side']}x{results['side']} px ({results['file_kb']} KB each); "
        f"before derivatives: {pending}; derivatives made in {results['derivatives_made_s']} s, "
        f"worker peak RSS {results['worker_peak_rss_mb']} MB; "
        f"{results['concurrency']} concurrent viewers: all 200: {ok}, "
        f"p50 {max(r['p50_ms'] for r in served)} ms, max {max(r['max_ms'] for r in served)} ms; "
        f"web peak RSS per process: {results['max_web_peak_rss_mb']} MB (goal <= {GOAL_WEB_RSS_MB}); "
        f"web peak RSS during ingest ({results['ingest_concurrency']} uploads at once): "
        f"{results['ingest_peak_web_rss_mb']} MB",
        flush=True,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--side", type=int, default=6300, help="pixels on each side (6,300^2 = 39.7 MP)")
    parser.add_argument("--concurrency", type=int, default=16, help="reviewers viewing at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ingest-concurrency", type=int, default=8, help="uploads at once (step 1)")
    parser.add_argument("--timeout", type=float, default=600)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    results = run(parse_args(argv))
    report(results)
    return results


if __name__ == "__main__":
    main()
