#!/usr/bin/env python
"""Measure candidate timm image backbones on this machine's CPU, to choose the default one.

    .venv/bin/python bench/image_backbones.py --threads 2 --sizes 224 160 128 --train-size 64
    .venv/bin/python bench/image_backbones.py --threads 1 --pipeline mobilenetv3_small_100 160

Nothing is downloaded: every model is ``timm.create_model(arch, pretrained=False, ...)``.

1. Footprint, one fresh child process per architecture (so peak RSS is that model's alone):
   parameters, the pooled embedding width (``num_classes=0``), RSS after ``import torch, timm`` (the
   floor any worker pays), after creating the model, peak RSS after one inference batch of
   ``--batch`` images at every size (eval, ``torch.inference_mode()``), and peak after one training
   step at ``--train-size`` (activations, gradients, AdamW state).
2. Speed, one child process holding every model, ``torch.set_num_threads(--threads)``: for
   ``--rounds`` rounds, each model in turn runs inference batches of ``--batch`` random images at
   every size, then AdamW training steps (10-class head, cross-entropy) at ``--train-size``, each for
   ``--seconds`` after one warm-up batch. Interleaving the models round by round means a burst of
   load from other processes hits all candidates alike; the table shows the best round (closest to
   an idle machine) and the median round.
3. With ``--pipeline ARCH SIZE``, instead: what a worker does per image through
   ``classifiers.inference.image.ImageModel`` (decode JPEG bytes, preprocess, embed, prior) on 128
   generated 480x360 JPEGs, in images/s per stage.

Prints one table, then the same as Markdown for bench/RESULTS.md. Numbers are only comparable
within one run: other work on the machine changes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_MODELS = [
    "mobilenetv3_small_100",
    "mobilenetv4_conv_small",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "convnext_atto",
    "resnet18",
    "resnet10t",
]


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_rate(step, batch: int, seconds: float) -> float:
    """Images/s over calls of ``step`` for ``seconds`` (at least 2 calls) after one warm-up call."""
    step()
    calls = 0
    started = time.perf_counter()
    while calls < 2 or time.perf_counter() - started < seconds:
        step()
        calls += 1
    return calls * batch / (time.perf_counter() - started)


def footprint(arch: str, sizes: list[int], batch: int, threads: int, train_size: int) -> dict:
    """Child process, one per architecture: size and memory."""
    import torch

    torch.set_num_threads(threads)
    import timm

    rss_import = _rss_mb()
    model = timm.create_model(arch, pretrained=False, num_classes=0).eval()
    rss_model = _rss_mb()
    with torch.inference_mode():
        # Not model.num_features: MobileNetV3 adds a 1x1 conv after pooling (head_hidden_size).
        dim = model(torch.zeros(1, 3, 64, 64)).shape[1]
        for size in sizes:
            model(torch.randn(batch, 3, size, size))
    peak_infer = _peak_rss_mb()
    train_model, opt = _trainable(arch)
    _train_step(train_model, opt, batch, train_size)()
    return {
        "arch": arch,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "dim": int(dim),
        "rss_import_mb": rss_import,
        "rss_model_mb": rss_model,
        "peak_infer_mb": peak_infer,
        "peak_total_mb": _peak_rss_mb(),
    }


def _trainable(arch: str):
    import timm
    import torch

    model = timm.create_model(arch, pretrained=False, num_classes=10).train()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def _train_step(model, opt, batch: int, size: int):
    import torch

    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def speed(
    archs: list[str], sizes: list[int], batch: int, threads: int, train_size: int, seconds: float, rounds: int
) -> dict:
    """Child process holding every model: rates per round, models interleaved."""
    import timm
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    infer_models = {arch: timm.create_model(arch, pretrained=False, num_classes=0).eval() for arch in archs}
    train_steps = {arch: _train_step(*_trainable(arch), batch, train_size) for arch in archs}
    inputs = {size: torch.randn(batch, 3, size, size) for size in sizes}
    rates: dict[str, dict[str, list[float]]] = {arch: {} for arch in archs}
    for _ in range(rounds):
        for arch in archs:
            model = infer_models[arch]
            with torch.inference_mode():
                for size in sizes:
                    rate = _timed_rate(lambda m=model, x=inputs[size]: m(x), batch, seconds)
                    rates[arch].setdefault(str(size), []).append(rate)
            rates[arch].setdefault("train", []).append(_timed_rate(train_steps[arch], batch, seconds))
    return rates


def pipeline(arch: str, size: int, threads: int, images: int) -> dict:
    """Child process: the worker's path through ``ImageModel`` on generated 480x360 JPEG photos-to-be."""
    import io

    import numpy as np
    import torch
    from PIL import Image, ImageDraw, ImageFilter

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT))
    from classifiers.inference import CategoryInfo
    from classifiers.inference.image import ImageModel

    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(images):
        picture = Image.new("RGB", (480, 360), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(picture)
        for _ in range(12):
            x, y = rng.integers(0, 480), rng.integers(0, 360)
            box = (x, y, x + rng.integers(20, 200), y + rng.integers(20, 200))
            draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        buffer = io.BytesIO()
        picture.filter(ImageFilter.GaussianBlur(2)).save(buffer, format="JPEG", quality=85)
        blobs.append(buffer.getvalue())
    slugs = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]
    model = ImageModel.load(None, arch, [CategoryInfo(slug=s, description="") for s in slugs], input_size=size)
    model.predict(model.embed([model.decode(blobs[0])] * 32), [model.decode(blobs[0])] * 32)  # warm-up, full batch
    t0 = time.perf_counter()
    decoded = [model.decode(blob) for blob in blobs]
    t1 = time.perf_counter()
    with torch.inference_mode():
        batch = model.preprocess(decoded)
    t2 = time.perf_counter()
    vectors = model.embed(decoded)
    t3 = time.perf_counter()
    model.predict(vectors, decoded)
    t4 = time.perf_counter()
    return {
        "decode": images / (t1 - t0),
        "preprocess": images / (t2 - t1),
        "embed (incl. preprocess)": images / (t3 - t2),
        "predict (prior)": images / (t4 - t3),
        "end to end": images / (t1 - t0 + t4 - t2),
        "shape": list(batch.shape),
    }


def _machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    load = os.getloadavg()
    return (
        f"nproc {os.cpu_count()}, {cpu}, {ram_gb:.1f} GB RAM, {platform.system()} {platform.release()}, "
        f"load average at start {load[0]:.2f}"
    )


def _child(args: argparse.Namespace, *extra: str) -> dict:
    python = PYTHON if PYTHON.exists() else Path(sys.executable)
    cmd = [str(python), __file__, *extra, "--sizes", *map(str, args.sizes), "--batch", str(args.batch)]
    cmd += ["--threads", str(args.threads), "--train-size", str(args.train_size)]
    cmd += ["--seconds", str(args.seconds), "--rounds", str(args.rounds)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(extra)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[224, 160, 128])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per measurement and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--pipeline",
        nargs=2,
        metavar=("ARCH", "SIZE"),
        help="instead of the comparison: images/s of decode, preprocess, embed and prior for ImageModel on "
        "128 generated 480x360 JPEGs, with --threads torch threads",
    )
    parser.add_argument("--pipeline-images", type=int, default=128, help="JPEGs of the --pipeline measurement")
    parser.add_argument("--footprint-child", help=argparse.SUPPRESS)
    parser.add_argument("--speed-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.footprint_child:
        print(json.dumps(footprint(args.footprint_child, args.sizes, args.batch, args.threads, args.train_size)))
        return 0
    if args.pipeline:
        arch, size = args.pipeline[0], int(args.pipeline[1])
        print(f"machine: {_machine()}")
        count = args.pipeline_images
        print(f"ImageModel pipeline, {arch} at {size}px, threads {args.threads}, batch 32, {count} JPEGs of 480x360")
        for stage, value in pipeline(arch, size, args.threads, count).items():
            print(f"  {stage}: {value if stage == 'shape' else f'{value:.0f} img/s'}")
        return 0
    if args.speed_child:
        rates = speed(
            args.speed_child, args.sizes, args.batch, args.threads, args.train_size, args.seconds, args.rounds
        )
        print(json.dumps(rates))
        return 0

    import timm
    import torch

    print(f"machine: {_machine()}")
    print(
        f"torch {torch.__version__}, timm {timm.__version__}, threads {args.threads}, batch {args.batch}, "
        f"train step at {args.train_size}px, {args.rounds} rounds x {args.seconds:.1f} s per measurement, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}"
    )
    sizes = {arch: _child(args, "--footprint-child", arch) for arch in args.models}
    print("  footprints measured", flush=True)
    rates = _child(args, "--speed-child", *args.models)
    print(f"  speeds measured; load average now {os.getloadavg()[0]:.2f}", flush=True)

    def rate(arch: str, key: str) -> str:
        values = rates[arch][key]
        return f"{max(values):.0f} ({statistics.median(values):.0f})"

    header = [
        "architecture",
        "params (M)",
        "emb dim",
        *(f"infer img/s @{s}" for s in args.sizes),
        f"train img/s @{args.train_size}",
        "RSS import/model (MB)",
        "peak RSS infer (MB)",
        "peak RSS +train (MB)",
    ]
    rows = []
    for arch in args.models:
        r = sizes[arch]
        rows.append(
            [
                arch,
                f"{r['params_m']:.2f}",
                str(r["dim"]),
                *(rate(arch, str(s)) for s in args.sizes),
                rate(arch, "train"),
                f"{r['rss_import_mb']:.0f}/{r['rss_model_mb']:.0f}",
                f"{r['peak_infer_mb']:.0f}",
                f"{r['peak_total_mb']:.0f}",
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("\nimages/s: best round (median round)")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
