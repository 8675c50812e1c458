#!/usr/bin/env python
"""Retraining the text heads on 10,000 stored embeddings: one retraining run, end to end, wall and CPU seconds.

    .venv/bin/python bench/retrain_heads.py [--items 10000] [--sampled 0.1]

Setup (not timed): a fresh SQLite database in a temporary ``VAR_DIR``; ``--items`` items with one
human decision each and its labels (one per seeded category: ``spam`` from the corpus, the six
others 0), and one stored ``Embedding`` row each. The texts and embeddings are the SpamAssassin
mails cached by ``bench/text_quality.py`` (5,922 distinct mails); to reach 10,000 the corpus is
repeated, each copy with a marker line appended to the text and Gaussian noise (sigma 0.01 per
dimension, then re-normalised) added to the embedding, so no two rows are identical. ``--sampled``
of the decisions come from random sampling, so the held-out set is the random sample (as in
production once sampling runs); the rest are routed by risk. Rows are bulk-inserted rather than
decided through the review service: this measures retraining, not reviewing.

Timed: ``learning.retraining.run_retraining`` (what the Celery task runs): the snapshot export
(items.jsonl, manifest, hashes), reading it back, loading 10,000 embeddings from the database,
building the features (embedding + hashed character n-grams), training the linear head with
L-BFGS, Platt calibration, evaluating the candidate and the active version on the held-out rows,
registering the candidate. Twice: first with the cold-start prior active (which loads the MiniLM
encoder to embed the policy descriptions), then with the first candidate promoted (no encoder).
Then a breakdown of the same steps called one by one.

Goal (the issue): at most 60 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_embedded import setup_embedded_django  # noqa: E402

SLUGS = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]


class Timer:
    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        print(f"| {self.what} | {self.wall:.2f} | {self.cpu:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "var" / "datasets" / "spam-assassin")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--sampled", type=float, default=0.1, help="share of decisions from random sampling")
    args = parser.parse_args()

    import text_quality

    from classifiers.corpora import spamassassin_files

    files = spamassassin_files(args.corpus)
    cache_dir = text_quality.cache_folder()
    if not (cache_dir / f"spamassassin-{text_quality.corpus_key(args.corpus, files)}.npz").exists():
        sys.exit("no cached SpamAssassin embeddings: run bench/text_quality.py once first (~25 min)")
    corpus = text_quality.load_corpus(args.corpus, cache_dir)
    with tempfile.TemporaryDirectory(prefix="retrain-heads-") as folder:
        setup_embedded_django(Path(folder))
        populate(corpus, args.items, args.sampled)
        measure()


def populate(corpus, n: int, sampled: float) -> None:  # noqa: ANN001
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from classifiers.models import Embedding, PolicyCategory
    from intake.models import Item
    from queues.models import Decision, Queue
    from review.models import Label

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    reviewer = get_user_model().objects.create_user(username="bench-reviewer")
    queue = Queue.objects.get(is_default=True)
    categories = {c.slug: c for c in PolicyCategory.objects.filter(slug__in=SLUGS)}
    m = len(corpus.texts)
    with transaction.atomic():
        items = []
        for i in range(n):
            copy, row = divmod(i, m)
            text = corpus.texts[row] if copy == 0 else f"{corpus.texts[row]}\n[copy {copy}]"
            items.append(Item(source="bench", external_id=f"r-{i}", text=text[:20_000], state=Item.State.DECIDED))
        items = Item.objects.bulk_create(items, batch_size=500)
        embeddings = []
        for i, item in enumerate(items):
            copy, row = divmod(i, m)
            vector = corpus.embeddings[row].astype(np.float64)
            if copy:
                vector = vector + rng.normal(scale=0.01, size=vector.shape)
                vector /= np.linalg.norm(vector)
            embeddings.append(
                Embedding(
                    item_id=item.pk, backbone="sentence:all-MiniLM-L6-v2", dim=384,
                    vector=vector.astype(np.float16).tobytes(),
                )
            )  # fmt: skip
        Embedding.objects.bulk_create(embeddings, batch_size=1000)
        is_spam = [bool(corpus.is_spam[i % m]) for i in range(n)]
        decisions = Decision.objects.bulk_create(
            [
                Decision(item=item, reviewer=reviewer, action="remove" if spam else "no_violation")
                for item, spam in zip(items, is_spam, strict=True)
            ],
            batch_size=500,
        )
        selection = rng.random(n) < sampled
        Label.objects.bulk_create(
            [
                Label(
                    item=item, category=categories[slug], value=spam and slug == "spam", decision=decision,
                    reviewer=reviewer, queue=queue, selection="sampled" if pick else "routed",
                )
                for item, decision, spam, pick in zip(items, decisions, is_spam, selection, strict=True)
                for slug in SLUGS
            ],
            batch_size=1000,
        )  # fmt: skip
    print(
        f"setup: {n} items, {n * len(SLUGS)} labels, {n} stored embeddings, {int(selection.sum())} randomly sampled "
        f"({time.perf_counter() - started:.0f} s, not timed)"
    )


def measure() -> None:
    import torch

    from classifiers.models import ModelVersion, RetrainingRun
    from classifiers.retraining import fit_text_candidate, register_text_candidate, text_embeddings
    from classifiers.runtime import configure_torch_threads
    from classifiers.services import set_model_version_status
    from classifiers.snapshots import read_snapshot
    from learning.retraining import run_retraining, start_retraining
    from learning.training_data import export_training_snapshot

    configure_torch_threads()
    load, threads = os.getloadavg()[0], torch.get_num_threads()
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}; torch {threads} threads")
    print()
    print("| step | wall s | CPU s |")
    print("| --- | --- | --- |")
    runs = []
    for label in ("run 1: whole retraining run, cold-start prior active (loads the encoder)",
                  "run 2: whole retraining run, the run-1 candidate active"):  # fmt: skip
        run, _ = start_retraining(trigger="command", actor_label="bench/retrain_heads.py")
        with Timer(label):
            state = run_retraining(run_id=run.pk)
        run = RetrainingRun.objects.get(pk=run.pk)
        if state != "succeeded":
            sys.exit(f"run {run.pk} {state}: {run.error}")
        runs.append(run)
        set_model_version_status(version=run.candidate, status=ModelVersion.Status.ACTIVE, actor_label="bench")

    with Timer("breakdown: export snapshot (10,000 items, JSONL, hashes)"):
        snapshot = export_training_snapshot(actor_label="bench")
    with Timer("breakdown: read and verify the snapshot"):
        data = read_snapshot(snapshot.path)
    with Timer("breakdown: load 10,000 stored embeddings"):
        text_embeddings(data.records)
    with Timer("breakdown: features + train + calibrate + evaluate both (fit_text_candidate)"):
        fitted = fit_text_candidate(snapshot=data)
    with Timer("breakdown: register the candidate"):
        register_text_candidate(fitted, name="bench-breakdown", snapshot_label=snapshot.label)

    print()
    for run in runs:
        m = run.metrics
        cand, active = m["candidate"]["held_out"]["spam"], (m.get("active") or {}).get("held_out", {}).get("spam", {})
        print(
            f"run {run.pk}: {m['train_rows']} training items, {m['held_out_rows']} held out ({m['held_out_source']}); "
            f"{len(run.epoch_losses)} L-BFGS passes, loss {run.epoch_losses[0]:.4f} -> {run.epoch_losses[-1]:.4f}; "
            f"held-out spam F1 {cand['f1']:.4f} (ROC-AUC {cand['roc_auc']:.4f}) vs active "
            f"{m['active']['version']} F1 {active.get('f1') or 0:.4f} (ROC-AUC {active.get('roc_auc') or 0:.4f})"
        )


if __name__ == "__main__":
    main()
