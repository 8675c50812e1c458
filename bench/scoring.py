"""Scoring throughput and latency through a real Celery worker and Redis, beside the bare model's own speed.

    scripts/with-services.sh .venv/bin/python bench/scoring.py [--sizes 128x32 512x128] [--rounds 3]

Measures, in one run and with the same inference thread count:
  * bare model: texts/s and images/s of embed + predict in batches of 32, in this process, on the same
    texts and images as end to end;
  * end to end: items/s from committing N items (the API's service) to every score committed by one
    worker process (queue ``inference``, concurrency 1), for text and for images; the ratio to bare;
  * both in interleaved rounds (bare, end to end, then end to end, bare: A B B A, so a slow drift of the
    machine's load falls on both alike); each round's ratio compares two measurements taken back to back,
    and the report is the median ratio over the rounds with its range, by items/s and by CPU per item
    (bare: this process's CPU; end to end: the worker's main process and pool child), per size and kind,
    and whether it reaches the goal of 90 %;
  * latency: items fed at half the measured end-to-end peak for a while; p50/p95 from ingest commit
    to scores committed;
  * peak RSS (VmHWM) of the worker's pool process, which has both models loaded.
Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); scripts/with-services.sh provides both.
"""

import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from bench_postgres import create_database_sql

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "moderation_bench_scoring"


def database_urls(name: str) -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("bench/scoring.py needs DATABASE_URL pointing at PostgreSQL (run it through scripts/with-services.sh)")
    prefix, _, _ = base.rpartition("/")
    return base, f"{prefix}/{name}"


def fresh_database(admin_url: str, bench_url: str, var: Path) -> None:
    name = bench_url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(create_database_sql(name))
    env = {**os.environ, "DATABASE_URL": bench_url, "VAR_DIR": str(var)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def setup_django(bench_url: str, var: Path, broker: str) -> None:
    os.environ.update(
        {"DATABASE_URL": bench_url, "VAR_DIR": str(var), "CELERY_BROKER_URL": broker, "MEDIA_ROOT": str(var / "media")}
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def labelled_texts(n: int) -> tuple[list[str], list[int]]:
    """``n`` texts and whether each is spam: SpamAssassin mails when the corpus is here, else synthetic ones."""
    from classifiers.corpora import read_mail, spamassassin_files

    corpus = ROOT / "var" / "datasets" / "spam-assassin"
    if corpus.exists():
        files = spamassassin_files(corpus)[:: max(1, len(spamassassin_files(corpus)) // n)][:n]
        print(f"texts: {len(files)} SpamAssassin mails from {corpus}, cut at 4,000 characters")
        mails = [read_mail(path, max_body_chars=4000) for path in files]
        return [mail.text or "empty" for mail in mails], [int(mail.is_spam) for mail in mails]
    # Said out loud: these are ~70 characters each and near-duplicates of one another, so the model is cheap
    # and routing groups every one; figures from them are not figures on real mail.
    print(f"texts: {n} SYNTHETIC one-line texts (no corpus at {corpus}; scripts/fetch-datasets.sh fetches it)")
    return [f"Limited offer number {i}: buy followers now, click the link in bio" for i in range(n)], [
        i % 2 for i in range(n)
    ]


def install_tuned_text_versions(texts: list[str], labels: list[int], var: Path, *, shadow: bool) -> None:
    """Make the active text version one with a tuned encoder (and, with ``shadow``, a second tuned one its shadow),
    as retraining with enough labels leaves a worker: each reads its own int8 encoder file and head. A shadow is
    scored beside the active version in the worker, not in the bare model: with one, compare memory, not the ratio.

    Tuned for one epoch on ``texts``: the figures are of speed and memory, which the weights do not change.
    """
    import tempfile

    import numpy as np

    from classifiers.inference import text as text_model
    from classifiers.reading import head_record
    from classifiers.services import register_model_version, set_model_version_status
    from classifiers.text_tuning import TuningConfig, tune_text_encoder

    y = np.array(labels)[:, None]
    for seed, status in [(0, "active"), (1, "shadow")][: 2 if shadow else 1]:
        started = time.process_time()
        tuned = tune_text_encoder(texts, y, var / "tuned", config=TuningConfig(epochs=1, seed=seed))
        text_model.register_tuned_encoder(tuned.backbone, tuned.path)
        features = replace(text_model.DEFAULT_FEATURES, backbone=tuned.backbone)
        vectors = text_model.embed_texts(texts, backbone=tuned.backbone)
        head = text_model.train_text_head(vectors, texts, y, categories=["spam"], features=features)
        with tempfile.TemporaryDirectory() as folder:
            head.save(Path(folder) / "head.npz")
            version = register_model_version(
                name=f"bench-tuned-{seed}",
                kind="text",
                architecture=tuned.backbone.removeprefix("sentence:"),
                artifact_path=Path(folder) / "head.npz",
                backbone_path=tuned.path,
                categories=list(head.categories),
                metrics=head_record(head),
            )
        set_model_version_status(version=version, status=status, actor_label="bench")
        print(
            f"text version {version.name} ({status}): encoder tuned on {len(texts)} texts, "
            f"{time.process_time() - started:.0f} CPU s to tune and train"
        )


def posters(n: int) -> list[bytes]:
    from PIL import Image, ImageDraw

    out = []
    for i in range(n):
        image = Image.new("RGB", (480, 360), (i * 37 % 255, i * 91 % 255, i * 53 % 255))
        ImageDraw.Draw(image).text((40, 160), f"poster {i} FREE GIFT", fill="white", font_size=36)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def bare_throughput(kind: str, inputs: list) -> tuple[float, float]:
    """embed + predict in batches of 32 with the active version of ``kind``: (items/s, CPU-seconds per item).

    Images are decoded from their bytes outside the timing: the bare model is what the worker calls on decoded
    images. CPU time is this process's (every thread), so it holds on a loaded machine where wall time does not.
    """
    from classifiers.models import ModelVersion
    from classifiers.runtime import _category_infos, load_model

    model = load_model(ModelVersion.objects.get(kind=kind, status="active"), _category_infos())
    if kind == "image":
        inputs = [model.decode(data) for data in inputs]
    model.predict(model.embed(inputs[:8]), inputs[:8])  # warm up
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(inputs), 32):
        batch = inputs[start : start + 32]
        model.predict(model.embed(batch), batch)
    return len(inputs) / (time.perf_counter() - started), (time.process_time() - cpu) / len(inputs)


def group_cpu_seconds(leader_pid: int) -> dict[int, float]:
    """User + system CPU of every process in the worker's process group (its main process and pool child), by pid."""
    ticks, spent = os.sysconf("SC_CLK_TCK"), {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader_pid:
            spent[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return spent


def total_cpu(worker: subprocess.Popen) -> float:
    return sum(group_cpu_seconds(worker.pid).values())


def start_worker(bench_url: str, var: Path, broker: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "VAR_DIR": str(var),
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(var / "media"),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "moderation_site", "worker", "--queues", "inference,default",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        # A process group of its own (to stop it and count its CPU), but this process's session: with the kernel's
        # autogroup scheduling (sched_autogroup_enabled=1 here), each session is one scheduling group, and on a
        # busy machine a worker in a new session got a different share of the cores than this process had for
        # the bare model (images ran faster end to end than bare, texts slower). One session, one share.
        cwd=ROOT, env=env, process_group=0, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )  # fmt: skip


def pool_pids(worker: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def submit(prefix: str, start: int, contents: list, kind: str) -> list[int]:
    from intake.images import check_image
    from intake.payloads import ItemSubmission
    from intake.submission import submit_items

    submissions = []
    for offset, content in enumerate(contents):
        external_id = f"{prefix}-{start + offset}"
        if kind == "text":
            submissions.append(ItemSubmission(source="bench", external_id=external_id, text=content))
        else:
            image = check_image(content, max_bytes=10**7, max_pixels=4 * 10**7)
            submissions.append(ItemSubmission(source="bench", external_id=external_id, image=image))
    return [r.item_id for r in submit_items(submissions=submissions)]


def wait_scored(ids: list[int], timeout: float) -> float:
    from intake.models import Item

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Item.objects.filter(id__in=ids, state__in=["received", "scoring"]).exists():
            return time.monotonic()
        # end_to_end takes the end from the items' scored_at, so a longer interval does not lengthen the measured
        # time; a shorter one took CPU from the worker being measured (one poll of 512 ids: 2 ms of this process
        # and 0.7 ms of PostgreSQL; ten a second cost the end-to-end figure about a point that bare did not pay).
        time.sleep(0.5)
    raise SystemExit(
        f"timed out: {Item.objects.filter(id__in=ids, state__in=['received', 'scoring']).count()} unscored"
    )


@dataclass
class Round:
    """One round of one kind: the bare model and end to end on the same inputs, measured back to back."""

    bare_rate: float
    bare_cpu: float
    e2e_rate: float
    e2e_cpu: float
    main_cpu: float  # of e2e_cpu: the worker's main process (receiving messages), the rest is the pool child

    @property
    def rate_ratio(self) -> float:
        return self.e2e_rate / self.bare_rate

    @property
    def cpu_ratio(self) -> float:
        return self.bare_cpu / self.e2e_cpu


def end_to_end(kind: str, contents: list, prefix: str, worker: subprocess.Popen) -> tuple[float, float, float]:
    """Items/s from the first ingest commit to the last score committed, and the worker's CPU-seconds per item
    (scoring, storing, routing, and the display images it makes: everything the worker does for them), and of
    that its main process's share.

    The end is the items' latest ``scored_at`` (stamped by the worker as it stores the scores), not the moment
    this process next looks, so the polling interval does not add to the measured time.
    """
    from django.db.models import Max

    from intake.models import Item

    before = group_cpu_seconds(worker.pid)
    started = time.time()
    ids = []
    for start in range(0, len(contents), 500):
        ids += submit(prefix, start, contents[start : start + 500], kind)
    wait_scored(ids, timeout=1800)
    finished = Item.objects.filter(id__in=ids).aggregate(last=Max("scored_at"))["last"].timestamp()
    wait_idle(worker)
    after = group_cpu_seconds(worker.pid)
    spent = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    total = sum(spent.values())
    return len(ids) / (finished - started), total / len(ids), spent.get(worker.pid, 0.0) / len(ids)


def close_entries(prefix: str) -> None:
    """Take a round's items out of the open queues, as if reviewed: the next round submits the same contents
    again, and every round should route distinct mails, not exact copies of pending items (which join their
    near-duplicate groups, a cost the first round does not pay)."""
    from queues.models import QueueEntry

    QueueEntry.objects.filter(
        item__external_id__startswith=f"{prefix}-", status__in=[QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED]
    ).update(status=QueueEntry.Status.DONE)


def measure_round(kind: str, inputs: list, prefix: str, worker: subprocess.Popen, *, e2e_first: bool) -> Round:
    def bare() -> tuple[float, float]:
        return bare_throughput(kind, inputs)

    def e2e() -> tuple[float, float, float]:
        measured = end_to_end(kind, inputs, prefix, worker)
        close_entries(prefix)
        return measured

    if e2e_first:
        e2e_measured = e2e()
        bare_measured = bare()
    else:
        bare_measured = bare()
        e2e_measured = e2e()
    return Round(*bare_measured, *e2e_measured)


def verdict(kind: str, rounds: list[Round], goal: float = 0.9) -> str:
    """The median ratios over the rounds with their range, and whether each reaches ``goal``."""
    rates, cpus = [r.rate_ratio for r in rounds], [r.cpu_ratio for r in rounds]
    rate, cpu = statistics.median(rates), statistics.median(cpus)
    return (
        f"{kind}: items/s {rate:.0%} of bare (rounds {min(rates):.0%}-{max(rates):.0%}), "
        f"CPU {cpu:.0%} (rounds {min(cpus):.0%}-{max(cpus):.0%}); goal >= {goal:.0%}: "
        f"by items/s {'MET' if rate >= goal else 'NOT MET'}, by CPU {'MET' if cpu >= goal else 'NOT MET'}"
    )


def wait_idle(worker: subprocess.Popen, *, quiet_seconds: float = 1.0, timeout: float = 120) -> None:
    """Wait until the worker has used no CPU for ``quiet_seconds`` (its display-image tasks are done), so the
    next phase's figures do not carry this one's leftover work."""
    deadline, last, quiet_since = time.monotonic() + timeout, total_cpu(worker), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = total_cpu(worker)
        if now - last > 0.02:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return


def latency_at(rate: float, seconds: float, contents: list, kind: str) -> list[float]:
    """Feed items at ``rate`` per second for ``seconds`` (and at least 3, so a short run still measures); return
    commit-to-scored latencies in seconds."""
    from intake.models import Item

    ids, sent, started = [], 0, time.monotonic()
    while time.monotonic() - started < seconds or sent < 3:
        due = int((time.monotonic() - started) * rate) - sent
        if due > 0:
            batch = [contents[(sent + i) % len(contents)] for i in range(due)]
            ids += submit(f"lat-{kind}", sent, batch, kind)
            sent += due
        time.sleep(0.02)
    wait_scored(ids, timeout=600)
    rows = Item.objects.filter(id__in=ids).values_list("created_at", "scored_at")
    return sorted((scored - created).total_seconds() for created, scored in rows)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def parse_sizes(values: list[str]) -> list[tuple[int, int]]:
    sizes = []
    for value in values:
        texts_part, _, images_part = value.partition("x")
        if not (texts_part.isdigit() and images_part.isdigit()):
            raise SystemExit(f"--sizes takes TEXTSxIMAGES, e.g. 128x32; not {value!r}")
        sizes.append((int(texts_part), int(images_part)))
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument(
        "--sizes", nargs="+", metavar="TEXTSxIMAGES", help="several sizes in one run (one worker), e.g. 128x32 512x128"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved bare / end-to-end rounds per size and kind (median reported)"
    )
    parser.add_argument(
        "--kinds", nargs="+", choices=["text", "image"], default=["text", "image"], help="measure only these kinds"
    )
    parser.add_argument(
        "--tuned-text",
        choices=["active", "active+shadow"],
        help="measure with a tuned-encoder text version active (and a second one in shadow: two encoders loaded)",
    )
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--database", default=DB_NAME, help="PostgreSQL database of its own, dropped and recreated")
    parser.add_argument(
        "--broker", help="Redis URL of a database of its own, flushed first (default: REDIS_URL's server, db 1)"
    )
    args = parser.parse_args()
    sizes = parse_sizes(args.sizes) if args.sizes else [(args.texts, args.images)]
    redis_url = os.environ.get("REDIS_URL") or sys.exit("bench/scoring.py needs REDIS_URL (scripts/with-services.sh)")
    broker = args.broker or redis_url.rpartition("/")[0] + "/1"  # a database of its own: the test suite uses /0
    admin_url, bench_url = database_urls(args.database)
    var = ROOT / "var" / "bench-scoring"
    var.mkdir(parents=True, exist_ok=True)
    fresh_database(admin_url, bench_url, var)
    setup_django(bench_url, var, broker)
    import redis

    redis.Redis.from_url(broker).flushdb()
    from django.conf import settings

    from classifiers.runtime import configure_torch_threads

    configure_torch_threads()
    threads = settings.INFERENCE_THREADS or max(1, (os.cpu_count() or 1) // max(1, settings.INFERENCE_PROCESSES))
    # getattr: the same harness also measures a checkout from before IMAGE_RUNTIME existed (torch only).
    print(
        f"machine: {os.cpu_count()} cores, inference threads {threads}, load {os.getloadavg()}; "
        f"TEXT_ENCODER={os.environ.get('TEXT_ENCODER', 'default')}, "
        f"IMAGE_RUNTIME={getattr(settings, 'IMAGE_RUNTIME', 'torch')}"
    )
    largest_texts, labels = labelled_texts(max(n for n, _ in sizes))
    if args.tuned_text:
        install_tuned_text_versions(largest_texts, labels, var, shadow=args.tuned_text == "active+shadow")
    log = var / "worker.log"
    worker = start_worker(bench_url, var, broker, log)
    try:
        # Warm the worker up (model loading is a one-off cost per process, not throughput).
        warm_images = posters(2)
        wait_scored(submit("warm", 0, largest_texts[:4], "text") + submit("warm-img", 0, warm_images, "image"), 600)
        wait_idle(worker)
        verdicts, e2e_text_rates = [], []
        for number, (n_texts, n_images) in enumerate(sizes):
            text_inputs, image_inputs = largest_texts[:n_texts], posters(n_images)
            measured: dict[str, list[Round]] = {"text": [], "image": []}
            for round_number in range(args.rounds):
                # A B B A: bare first in even rounds, end to end first in odd ones.
                for kind, inputs in (("text", text_inputs), ("image", image_inputs)):
                    if kind not in args.kinds:
                        continue
                    prefix = f"e2e-{kind}-{number}-{round_number}"
                    measured[kind].append(measure_round(kind, inputs, prefix, worker, e2e_first=bool(round_number % 2)))
                print(
                    f"size {n_texts} texts, {n_images} images, round {round_number + 1} of {args.rounds} "
                    f"(load {os.getloadavg()[0]:.1f}, {'end to end' if round_number % 2 else 'bare'} first):"
                )
                latest = {kind: rounds[-1] for kind, rounds in measured.items() if rounds}
                bare_rates = ", ".join(f"{kind} {r.bare_rate:.1f} items/s" for kind, r in latest.items())
                bare_cpus = ", ".join(f"{kind} {r.bare_cpu * 1000:.1f} ms" for kind, r in latest.items())
                print(f"bare model: {bare_rates} (batches of 32); CPU per item: {bare_cpus}")
                e2e_rates = ", ".join(
                    f"{kind} {r.e2e_rate:.1f} items/s ({r.rate_ratio:.0%} of bare)" for kind, r in latest.items()
                )
                e2e_cpus = ", ".join(
                    f"{kind} {r.e2e_cpu * 1000:.1f} ms (bare/worker {r.cpu_ratio:.0%}; main process "
                    f"{r.main_cpu * 1000:.1f} ms)"
                    for kind, r in latest.items()
                )
                print(f"end to end: {e2e_rates}; worker CPU per item: {e2e_cpus}", flush=True)
            e2e_text_rates += [r.e2e_rate for r in measured["text"]]
            for kind in args.kinds:
                line = f"size {n_texts}x{n_images}, {verdict(kind, measured[kind])}"
                verdicts.append(line)
                print(line, flush=True)
        rate = statistics.median(e2e_text_rates) / 2 if e2e_text_rates else 1.0
        latencies = latency_at(rate, args.latency_seconds, text_inputs, "text")
        print(f"latency at {rate:.1f} text items/s (half of peak), {len(latencies)} items: "
              f"p50 {percentile(latencies, 50):.2f} s, p95 {percentile(latencies, 95):.2f} s, "
              f"max {latencies[-1]:.2f} s (fill wait {settings.SCORING_FILL_WAIT_MS} ms)")  # fmt: skip
        rss = max((peak_rss_mb(pid) for pid in pool_pids(worker)), default=0.0)
        print(f"worker pool process peak RSS with text and image models loaded: {rss:.0f} MB")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    print(f"load average at end: {os.getloadavg()}")
    print("summary (median over rounds of end to end / bare, measured back to back):")
    for line in verdicts:
        print(f"  {line}")


if __name__ == "__main__":
    main()
