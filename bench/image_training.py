#!/usr/bin/env python
"""Prove the image training loop on real labelled images: Fashion-MNIST, from scratch, on CPU.

    apt-get install -y dataset-fashion-mnist      # Debian package: /usr/share/datasets/fashion-mnist
    .venv/bin/python bench/image_training.py --threads 1 --sizes 1000 5000 20000 --epochs 10 4 2

Fashion-MNIST (Zalando; 60,000 training and 10,000 test greyscale 28x28 images of clothing, 10
classes) is outside the policy categories: it only shows that ``classifiers.image_training`` trains
a timm backbone from random init to something whose embeddings carry meaning. What it does:

1. reads the four IDX files of the Debian package (no download);
2. for each N in ``--sizes``, trains ``--arch`` (default: the project's default backbone) from
   scratch on the first N images of a fixed shuffle of the training set (nested subsets), images
   upsampled to ``--input-size`` and greyscale copied to three channels, with ``--epochs`` epochs;
   the accuracy on a fixed 2,000-image subset of the test set is printed after every epoch;
3. prints, per N, the accuracy of the trained classifier on the whole official test set (10,000
   images), the training time and images/s, with the torch thread count;
4. saves the most accurate backbone to ``var/models/fashion_mnist_<arch>.pt`` in the project's
   format, reloads it with ``ImageModel.load``, embeds test images decoded from PNG bytes by
   ``ImageModel.decode``, and prints nearest-centroid accuracy of those embeddings (centroids from
   2,000 training images' embeddings), next to the same measure for the untrained ("init") backbone.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format): magic, dimension sizes, then uint8 data."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise ValueError(f"{path}: not a uint8 IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if not (data_dir / "train-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"Fashion-MNIST not found in {data_dir}: apt-get install -y dataset-fashion-mnist")
    return (
        read_idx(data_dir / "train-images-idx3-ubyte.gz"),
        read_idx(data_dir / "train-labels-idx1-ubyte.gz").astype(np.int64),
        read_idx(data_dir / "t10k-images-idx3-ubyte.gz"),
        read_idx(data_dir / "t10k-labels-idx1-ubyte.gz").astype(np.int64),
    )


def nearest_centroid_accuracy(
    train_vectors: np.ndarray, train_labels: np.ndarray, test_vectors: np.ndarray, test_labels: np.ndarray
) -> float:
    """Accuracy of assigning each test vector to the class whose mean training vector is most similar."""
    classes = np.unique(train_labels)
    centroids = np.stack([train_vectors[train_labels == c].mean(0) for c in classes])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    return float((classes[np.argmax(test_vectors @ centroids.T, axis=1)] == test_labels).mean())


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return f"nproc {os.cpu_count()}, {cpu}, {ram_gb:.1f} GB RAM, load average at start {os.getloadavg()[0]:.2f}"


def main() -> int:
    from classifiers.inference.image import DEFAULT_ARCHITECTURE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default=DEFAULT_ARCHITECTURE)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 5000, 20000], help="training set sizes N")
    parser.add_argument("--epochs", nargs="+", type=int, default=[10, 4, 2], help="epochs for each N")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=None, help="default: var/models/fashion_mnist_<arch>.pt")
    args = parser.parse_args()
    if len(args.epochs) != len(args.sizes):
        parser.error("give one --epochs value per --sizes value")

    import timm
    import torch

    from classifiers.image_training import classify, prepare_images, save_backbone, train_backbone
    from classifiers.inference import CategoryInfo
    from classifiers.inference.image import ImageModel, clear_cache

    torch.set_num_threads(args.threads)
    out = args.out or ROOT / "var" / "models" / f"fashion_mnist_{args.arch}.pt"
    print(f"machine: {_machine()}")
    print(
        f"torch {torch.__version__}, timm {timm.__version__}, threads {args.threads}, arch {args.arch}, "
        f"input {args.input_size}px, batch {args.batch_size}, lr {args.lr}, seed {args.seed}"
    )
    train_x, train_y, test_x, test_y = load_fashion_mnist(args.data_dir)
    order = np.random.default_rng(args.seed).permutation(len(train_x))
    val_index = np.sort(np.random.default_rng(args.seed + 1).permutation(len(test_x))[:2000])
    print(f"data: {len(train_x)} train / {len(test_x)} test images from {args.data_dir}")

    results = []
    best = None
    for n, epochs in zip(args.sizes, args.epochs, strict=True):
        index = np.sort(order[:n])
        print(f"\nN={n}, {epochs} epochs")
        model, metrics = train_backbone(
            train_x[index],
            train_y[index],
            architecture=args.arch,
            input_size=args.input_size,
            epochs=epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            threads=args.threads,
            val_images=test_x[val_index],
            val_labels=test_y[val_index],
            progress=lambda r: print(
                f"  epoch {r.epoch}: loss {r.loss:.3f}, train acc {r.train_accuracy:.3f}, "
                f"test-2000 acc {r.val_accuracy:.3f}, {r.seconds:.0f} s",
                flush=True,
            ),
        )
        started = time.perf_counter()
        test_pixels = prepare_images(test_x, model, args.input_size)
        accuracy = float((classify(model, test_pixels, metrics.mean, metrics.std) == test_y).mean())
        eval_seconds = time.perf_counter() - started
        row = {
            "n": n,
            "epochs": epochs,
            "test_accuracy": accuracy,
            "train_seconds": metrics.seconds,
            "images_per_second": metrics.images_per_second,
            "eval_seconds": eval_seconds,
        }
        results.append(row)
        print(
            f"  N={n}: test accuracy {accuracy:.4f} on {len(test_x):,} images; training {metrics.seconds:.0f} s "
            f"({metrics.images_per_second:.0f} img/s incl. per-epoch eval); test pass {eval_seconds:.1f} s",
            flush=True,
        )
        if best is None or accuracy > best[0]["test_accuracy"]:
            best = (row, model, metrics)
        del model

    row, model, metrics = best
    sha = save_backbone(
        model,
        out,
        architecture=args.arch,
        input_size=args.input_size,
        mean=metrics.mean,
        std=metrics.std,
        meta={
            "dataset": "fashion-mnist (Debian dataset-fashion-mnist)",
            "train_images": row["n"],
            "epochs": row["epochs"],
            "test_accuracy": row["test_accuracy"],
            "classes": CLASSES,
        },
    )
    print(f"\nsaved N={row['n']} backbone to {out} (sha256 {sha[:12]}, {out.stat().st_size / 1e6:.1f} MB)")

    # Reload through the inference path: PNG bytes -> decode -> embed, as a worker would.
    # Never in any training subset above (the last 2,000 of the shuffle, fewer with a small data set).
    centroid_index = np.sort(order[len(order) - min(2000, len(order) - max(args.sizes)) :])
    categories = [CategoryInfo(slug="sexual", description="")]
    summary = {}
    for name, path in (("trained", out), ("init", None)):
        clear_cache()
        image_model = ImageModel.load(path, args.arch, categories, input_size=args.input_size)
        started = time.perf_counter()
        test_images = [image_model.decode(_png(a)) for a in test_x]
        decode_seconds = time.perf_counter() - started
        started = time.perf_counter()
        test_vectors = image_model.embed(test_images)
        embed_seconds = time.perf_counter() - started
        train_vectors = image_model.embed([image_model.decode(_png(a)) for a in train_x[centroid_index]])
        summary[name] = nearest_centroid_accuracy(train_vectors, train_y[centroid_index], test_vectors, test_y)
        print(
            f"{name:>7} backbone {image_model.backbone}: nearest-centroid accuracy {summary[name]:.4f} "
            f"on {len(test_x):,} test embeddings (dim {image_model.dim}); "
            f"decode {len(test_x) / decode_seconds:.0f} img/s, "
            f"embed {len(test_x) / embed_seconds:.0f} img/s"
        )

    print(f"\n| N train images | epochs | test accuracy ({len(test_x):,}) | train time (s) | train img/s |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['n']:,} | {r['epochs']} | {r['test_accuracy']:.4f} | {r['train_seconds']:.0f} | "
            f"{r['images_per_second']:.0f} |"
        )
    print(
        f"\nnearest-centroid accuracy of reloaded embeddings: trained {summary['trained']:.4f}, "
        f"init {summary['init']:.4f} (chance 0.10)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
