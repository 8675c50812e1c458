#!/usr/bin/env python
"""What a phone-size photo costs the scoring worker, decoded in full and reduced to what the models need.

    .venv/bin/python bench/image_decoding.py [--side 4032] [--rounds 3] [--threads 2]

The real photos of ``bench/photos`` (384 px) are enlarged to ``--side`` on the long side (4:3, as a phone
takes them) and stored as JPEG (quality 90), plus the first one as PNG (a screenshot-like upload); enlarged
photos are smoother than real ones, so the score agreement printed here is an upper bound of what a sharp
photo keeps. For each image, in rounds that alternate the order: CPU per image of the decode, of the
image-safety model (its letterbox resizes included) and of the pretrained Lite0 backbone (ONNX, its resize
included), with every pixel decoded (``min_side=None``) and as the worker decodes (``model.decode``: the
shorter side reduced to at least ``decode_side``). Then how far the reduced decode moves what reviewers see:
the largest change of any category score, of the safety model's probabilities, and the lowest cosine
between the two embeddings.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from classifiers import image_safety, pretrained  # noqa: E402
from classifiers.inference import CategoryInfo  # noqa: E402
from classifiers.inference.image_decoding import decode_image  # noqa: E402
from classifiers.inference.onnx_image import OnnxImageModel  # noqa: E402
from classifiers.inference.threads import set_inference_threads  # noqa: E402

SLUGS = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=4032, help="long side of the enlarged photos (4032: 12 MP)")
    parser.add_argument("--photos", type=int, default=7, help="how many of bench/photos to use")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    set_inference_threads(args.threads)
    uploads = enlarged_photos(args.side, args.photos)
    categories = [CategoryInfo(slug=slug, description=f"Content about {slug.replace('_', ' ')}.") for slug in SLUGS]
    with tempfile.TemporaryDirectory() as folder:
        converted = Path(folder) / "lite0.pt"
        pretrained.convert(pretrained.EFFICIENTNET_LITE0, converted)
        model = OnnxImageModel.load(
            converted, pretrained.EFFICIENTNET_LITE0.architecture, categories, cache_dir=Path(folder) / "onnx"
        )
    safety = image_safety.load(threads=args.threads)
    decoders = {"full": lambda data: decode_image(data, min_side=None), "reduced": model.decode}
    print(
        f"{len(uploads)} uploads ({len(uploads) - 1} JPEG + 1 PNG), long side {args.side} px; the model decodes "
        f"to a shorter side of at least {model.decode_side} px; {args.threads} inference threads"
    )
    timings: dict[str, dict[str, list[float]]] = {
        mode: {"decode": [], "safety": [], "backbone": []} for mode in decoders
    }
    outputs: dict[str, tuple] = {}
    model.embed([model.decode(uploads[0])])  # warm-up: sessions, arenas
    for round_number in range(args.rounds):
        order = list(decoders) if round_number % 2 == 0 else list(reversed(decoders))
        for mode in order:
            started = time.process_time()
            images = [decoders[mode](data) for data in uploads]
            decoded = time.process_time()
            probabilities = safety.probabilities(images)
            scored = time.process_time()
            embeddings = model.embed(images)
            embedded = time.process_time()
            for part, seconds in (
                ("decode", decoded - started),
                ("safety", scored - decoded),
                ("backbone", embedded - scored),
            ):
                timings[mode][part].append(seconds / len(uploads) * 1000)
            outputs[mode] = (images[0].size, probabilities, embeddings, model.predict(embeddings, images))
    print(f"{'CPU ms per image (median of rounds)':<40}{'decode':>10}{'safety':>10}{'backbone':>10}{'total':>10}")
    totals = {}
    for mode, parts in timings.items():
        medians = {part: statistics.median(values) for part, values in parts.items()}
        totals[mode] = sum(medians.values())
        size = "x".join(map(str, outputs[mode][0]))
        print(
            f"{mode + ' (first image ' + size + ')':<40}{medians['decode']:>10.1f}{medians['safety']:>10.1f}"
            f"{medians['backbone']:>10.1f}{totals[mode]:>10.1f}"
        )
    ratio = totals["reduced"] / totals["full"]
    print(f"reduced / full CPU per image: {ratio:.2f} ({1 / ratio:.1f}x the images per CPU-second)")
    full, reduced = outputs["full"], outputs["reduced"]
    cosines = np.sum(full[2] * reduced[2], axis=1) / (
        np.linalg.norm(full[2], axis=1) * np.linalg.norm(reduced[2], axis=1)
    )
    score_change = max(
        abs(a[slug].probability - b[slug].probability) for a, b in zip(full[3], reduced[3], strict=True) for slug in a
    )
    print(
        f"reduced vs full decode: largest category score change {score_change:.4f}; safety probabilities "
        f"{np.abs(full[1] - reduced[1]).max():.4f}; embedding cosine min {cosines.min():.4f}, mean {cosines.mean():.4f}"
    )


def enlarged_photos(side: int, count: int) -> list[bytes]:
    """The real photos enlarged to ``side`` x 3/4 side (landscape) as JPEG, and the first again as PNG."""
    paths = sorted((ROOT / "bench" / "photos").glob("*.jpg"))[:count]
    uploads = []
    for path in paths:
        enlarged = Image.open(path).convert("RGB").resize((side, side * 3 // 4), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        enlarged.save(buffer, format="JPEG", quality=90)
        uploads.append(buffer.getvalue())
    buffer = io.BytesIO()
    Image.open(io.BytesIO(uploads[0])).save(buffer, format="PNG", compress_level=1)
    return [*uploads, buffer.getvalue()]


if __name__ == "__main__":
    main()
