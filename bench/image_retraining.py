#!/usr/bin/env python
"""Image-head retraining on real labelled images: Fashion-MNIST, a binary policy mapping, one retraining run.

    apt-get install -y dataset-fashion-mnist      # Debian package: /usr/share/datasets/fashion-mnist
    .venv/bin/python bench/image_retraining.py --labels 200 1000 --backbone init fashion --fine-tune 0 2

Fashion-MNIST is clothing, not moderation data; it only gives real images with real labels. The
mapping is arbitrary and binary: an image violates ``hate`` when it shows a long-sleeved top
(Pullover, Coat, Shirt: 30 % of images), and not otherwise (T-shirts, dresses, trousers, shoes,
bags). ``hate`` is chosen because the image prior has no pixel heuristic for it (a constant base
rate), so the active version ranks nothing and every gain is the head's.

Per configuration (labels N x backbone x fine-tuning epochs), in a fresh SQLite database:

1. setup (not timed): the active image version is ``--backbone``: ``init`` (the random-init
   ``mobilenetv3_small_100`` saved as a 64 px checkpoint) or ``fashion`` (the backbone
   ``bench/image_training.py`` trained from scratch on Fashion-MNIST's 10 classes and saved to
   ``var/models/``; it has seen these training images and their classes, so its features make the
   binary task easy: an upper bound, not a fair test). N training images (a fixed shuffle of the
   official training split, nested across N) become items with a PNG image; a reviewer decides
   each through the review service (``remove`` + ``hate``, or ``no_violation``);
2. timed: ``learning.retraining.run_retraining`` on an image run, what the Celery task runs: the
   snapshot export with the images, embedding every image with the active backbone (nothing is
   stored yet), fine-tuning when asked (``RETRAIN_IMAGE_FINE_TUNE_EPOCHS``), training and
   calibrating the head, evaluating candidate and active version on the snapshot's held-out rows
   (20 % of the items by a hash of the item id: no item was sampled at random), registering;
3. the candidate as a worker loads it (``classifiers.runtime.load_model``) scores 2,000 images of
   the official test split (decoded from PNG, embedded, predicted): F1 at 0.5, ROC-AUC, ECE.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_embedded import setup_embedded_django  # noqa: E402
from image_training import DATA_DIR  # noqa: E402

POSITIVE = {2, 4, 6}  # Pullover, Coat, Shirt
CATEGORY = "hate"
ARCH = "mobilenetv3_small_100"
FASHION_BACKBONE = ROOT / "var" / "models" / f"fashion_mnist_{ARCH}.pt"
TEST_IMAGES = 2000


def png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def run_config(labels: int, backbone: str, fine_tune: int, threads: int, seed: int, data_dir: Path) -> None:
    """One configuration in this process (a fresh database); prints one result row."""
    var = Path(tempfile.mkdtemp(prefix="bench-image-retrain-"))
    setup_embedded_django(var, INFERENCE_THREADS=str(threads), RETRAIN_IMAGE_FINE_TUNE_EPOCHS=str(fine_tune))
    import torch
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from image_training import load_fashion_mnist

    from classifiers.heads import evaluate
    from classifiers.image_training import save_backbone
    from classifiers.inference import CategoryInfo
    from classifiers.inference.image import create_network
    from classifiers.models import RetrainingRun
    from classifiers.runtime import load_model
    from classifiers.services import register_model_version, set_model_version_status
    from learning import retraining
    from review.claims import claim_next_item
    from review.decisions import record_decision
    from tests.factories import enqueue, make_item, make_queue, make_user

    torch.set_num_threads(threads)
    train_x, train_y, test_x, test_y = load_fashion_mnist(data_dir)
    order = np.random.default_rng(seed).permutation(len(train_x))[:labels]
    test_rows = np.random.default_rng(seed + 1).permutation(len(test_x))[:TEST_IMAGES]

    if backbone == "init":
        path = var / "init-backbone.pt"
        save_backbone(create_network(ARCH), path, architecture=ARCH, input_size=64, mean=[0.29] * 3, std=[0.35] * 3)
    else:
        if not FASHION_BACKBONE.exists():
            raise SystemExit(f"{FASHION_BACKBONE} missing: run bench/image_training.py first")
        path = FASHION_BACKBONE
    active = register_model_version(name=f"bench-{backbone}", kind="image", architecture=ARCH, backbone_path=path)
    set_model_version_status(version=active, status="active", actor_label="bench")

    reviewer = make_user(username="bench-reviewer")
    queue = make_queue(members=[reviewer], name="Images")
    for row in order:
        data = png(train_x[row])
        sha = hashlib.sha256(data).hexdigest()
        name = default_storage.save(f"items/{sha}.png", ContentFile(data))
        item = make_item(text="", image=name, image_sha256=sha, image_format="png")
        enqueue(item, queue)
        claim = claim_next_item(queue=queue, user=reviewer)
        violates = int(train_y[row]) in POSITIVE
        record_decision(
            entry_id=claim.entry_id, token=claim.token, user=reviewer,
            action="remove" if violates else "no_violation", categories=[CATEGORY] if violates else [],
        )  # fmt: skip

    run, _ = retraining.start_retraining(trigger="command", kind="image", actor_label="bench")
    started, cpu = time.perf_counter(), time.process_time()
    state = retraining.run_retraining(run_id=run.pk)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    run = RetrainingRun.objects.select_related("candidate").get(pk=run.pk)
    if state != "succeeded":
        raise SystemExit(f"run {state}: {run.error}")
    held = run.metrics["candidate"]["held_out"][CATEGORY]
    before = run.metrics["active"]["held_out"][CATEGORY]

    model = load_model(run.candidate, [CategoryInfo(slug=CATEGORY, description="")])
    images = [model.decode(png(test_x[row])) for row in test_rows]
    truth = np.array([[int(int(test_y[row]) in POSITIVE)] for row in test_rows])
    predicted = model.predict(model.embed(images), images)
    probs = np.array([[p[CATEGORY].probability for p in predicted]]).T
    test = evaluate(probs, truth, categories=[CATEGORY])[CATEGORY]
    print(
        f"| {labels} | {backbone} | {fine_tune} | {run.metrics['train_rows']}/{run.metrics['held_out_rows']} "
        f"| {held['f1']:.3f} / {held['roc_auc']:.3f} | {before['f1']:.3f} / {before['roc_auc']:.3f} "
        f"| **{test['f1']:.3f}** / {test['roc_auc']:.3f} / {test['ece']:.3f} | {len(run.epoch_losses)} | {wall:.1f} "
        f"| {cpu:.1f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", nargs="+", type=int, default=[200, 1000])
    parser.add_argument("--backbone", nargs="+", choices=["init", "fashion"], default=["init", "fashion"])
    parser.add_argument("--fine-tune", nargs="+", type=int, default=[0, 2], help="fine-tuning epochs (0: heads only)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the four Fashion-MNIST IDX files")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a single configuration (internal)
    args = parser.parse_args()
    if args.one:
        run_config(args.labels[0], args.backbone[0], args.fine_tune[0], args.threads, args.seed, args.data_dir)
        return
    print(f"load average at start {os.getloadavg()[0]:.2f}, nproc {os.cpu_count()}, torch threads {args.threads}")
    print(
        "| labels | backbone | fine-tune epochs | train/held-out rows | snapshot held-out F1 / ROC-AUC, candidate "
        "| same rows, active | up to 2,000 test images: F1 / ROC-AUC / ECE | L-BFGS passes | run wall s | run CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for labels, backbone, fine_tune in itertools.product(args.labels, args.backbone, args.fine_tune):
        subprocess.run(
            [sys.executable, __file__, "--one", "--labels", str(labels), "--backbone", backbone,
             "--fine-tune", str(fine_tune), "--threads", str(args.threads), "--seed", str(args.seed),
             "--data-dir", str(args.data_dir)],
            check=True,
        )  # fmt: skip
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
