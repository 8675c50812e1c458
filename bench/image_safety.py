#!/usr/bin/env python
"""The packaged image-safety classifier as a prior: false positives on benign images, speed, memory.

    .venv/bin/python bench/image_safety.py [--photos bench/photos] [--fashion /usr/share/...] [--limit N]

What can be measured offline: no explicit or gory image set is available here, so recall on real
violations is NOT measured. Measured: on benign images (the real photos in ``bench/photos``; with
``--fashion``, the Fashion-MNIST test images of Debian's dataset-fashion-mnist: clothing, dresses,
bags, a plausible source of false "sexual" flags), the share whose NSFW / NSFL probability exceeds
0.5 and whose capped prior exceeds 0.5, next to the old colour heuristics (skin-tone share, dark red)
on the same images; then milliseconds of CPU per image (batch 16) and the process RSS after loading.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from classifiers import image_priors, image_safety  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT / "bench" / "photos")
    parser.add_argument("--fashion", type=Path, help="Folder with t10k-images-idx3-ubyte(.gz) of Fashion-MNIST.")
    parser.add_argument("--limit", type=int, default=0, help="At most N Fashion-MNIST images (0: all 10,000).")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    before = rss_mb()
    model = image_safety.load(threads=args.threads)
    print(
        f"model: {model.path.name} ({image_safety.PACKAGE}=={image_safety.VERSION}), sha256 verified; "
        f"RSS {before:.0f} -> {rss_mb():.0f} MB after loading"
    )
    sets = {"photos": [Image.open(p).convert("RGB") for p in sorted(args.photos.glob("*.jpg"))]}
    if args.fashion:
        sets["fashion-mnist test"] = fashion_images(args.fashion, args.limit)
    for name, images in sets.items():
        started = time.process_time()
        probabilities = model.probabilities(images)
        cpu = time.process_time() - started
        sexual = image_safety.category_prior(probabilities, "sexual", image_priors.BASE_RATES["sexual"])
        violence = image_safety.category_prior(probabilities, "violence", image_priors.BASE_RATES["violence"])
        colour = image_priors.image_prior(images, ["sexual", "violence"])
        old_sexual = np.array([c["sexual"] for c in colour])
        old_violence = np.array([c["violence"] for c in colour])
        print(f"\n== {name}: {len(images)} benign images, {cpu / len(images) * 1000:.1f} ms CPU per image")
        print(f"    NSFW > 0.5: {share(probabilities[:, 1] > 0.5)}   NSFL > 0.5: {share(probabilities[:, 0] > 0.5)}")
        print(
            f"    sexual prior > 0.5:   safety model {share(sexual > 0.5)}, colour heuristic {share(old_sexual > 0.5)}"
        )
        print(
            f"    violence prior > 0.5: safety model {share(violence > 0.5)}, "
            f"colour heuristic {share(old_violence > 0.5)}"
        )
        print(f"    max NSFW {probabilities[:, 1].max():.3f}, max NSFL {probabilities[:, 0].max():.3f}")
        if name == "photos":
            for image_name, row in zip(sorted(p.name for p in args.photos.glob("*.jpg")), probabilities, strict=True):
                print(f"      {image_name:<14} NSFL {row[0]:.3f}  NSFW {row[1]:.3f}  SFW {row[2]:.3f}")
    print(f"\npeak RSS {peak_mb():.0f} MB")


def fashion_images(folder: Path, limit: int) -> list[Image.Image]:
    path = next(p for p in (folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-images-idx3-ubyte") if p.exists())
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    pixels = pixels[: limit or None]
    return [Image.fromarray(255 - p, mode="L").convert("RGB").resize((112, 112)) for p in pixels]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def share(mask: np.ndarray) -> str:
    return f"{float(np.mean(mask)):.1%} ({int(np.sum(mask))})"


if __name__ == "__main__":
    main()
