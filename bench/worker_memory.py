#!/usr/bin/env python
"""Peak memory of a scoring process holding both models: text (MiniLM + prior) and image (pretrained Lite0 + safety).

    .venv/bin/python bench/worker_memory.py [--texts 128] [--images 32] [--big-side 6000] [--gif-frames 200]

Loads what a worker loads for the active versions (the text model with the cold-start prior on the default
encoder, the pretrained EfficientNet-Lite0 converted from its package and run as its ONNX export unless
``--image-runtime torch``, the image-safety classifier), then embeds and
predicts a batch of texts and a batch of images that includes a large animated GIF and an image near
the decoder's pixel limit (decoded through ``decode_image``, as the worker does). Prints RSS after each
step and the peak (ru_maxrss). Model layer only: a real pool process adds Django and Celery (~60–80 MB).
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from classifiers import pretrained  # noqa: E402
from classifiers.inference import CategoryInfo  # noqa: E402
from classifiers.inference.image import ImageModel, decode_image  # noqa: E402
from classifiers.inference.onnx_image import OnnxImageModel  # noqa: E402
from classifiers.inference.text import TextModel  # noqa: E402
from classifiers.inference.threads import set_inference_threads  # noqa: E402

SLUGS = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=128)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--big-side", type=int, default=6000, help="Side of the large still image (6000: 36 MP).")
    parser.add_argument("--gif-frames", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--image-runtime", choices=["onnx", "torch"], default="onnx", help="as IMAGE_RUNTIME (workers: onnx)"
    )
    args = parser.parse_args(argv)
    set_inference_threads(args.threads)
    categories = [CategoryInfo(slug=slug, description=f"Content about {slug.replace('_', ' ')}.") for slug in SLUGS]
    report("start")
    text_model = TextModel.load(None, categories)
    report("text model loaded")
    with tempfile.TemporaryDirectory() as folder:
        converted = Path(folder) / "lite0.pt"
        pretrained.convert(pretrained.EFFICIENTNET_LITE0, converted)
        architecture = pretrained.EFFICIENTNET_LITE0.architecture
        if args.image_runtime == "onnx":
            image_model = OnnxImageModel.load(converted, architecture, categories, cache_dir=Path(folder) / "onnx")
        else:
            image_model = ImageModel.load(converted, architecture, categories)
    report(f"image model loaded ({args.image_runtime})")
    texts = [
        f"Message {n}: click here for a free offer, or see you at the meeting. " * (1 + n % 40)
        for n in range(args.texts)
    ]
    text_model.predict(text_model.embed(texts), texts)
    report(f"{len(texts)} texts scored")
    photos = [Image.open(p).convert("RGB") for p in sorted((ROOT / "bench" / "photos").glob("*.jpg"))]
    images = [photos[n % len(photos)] for n in range(max(0, args.images - 2))]
    images.append(decode_image(big_jpeg(args.big_side)))
    report(f"{args.big_side}x{args.big_side} JPEG decoded")
    images.append(decode_image(animated_gif(args.gif_frames)))
    report(f"{args.gif_frames}-frame GIF decoded")
    embeddings = image_model.embed(images)
    report(f"{len(images)} images embedded (Lite0)")
    image_model.predict(embeddings, images)
    report(f"{len(images)} images scored (safety + priors)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def big_jpeg(side: int) -> bytes:
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).resize((side, side))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def animated_gif(frames: int) -> bytes:
    # Flat frames with a moving bar: a long animation that stays under the byte limit, as real ones do.
    images = []
    for n in range(frames):
        frame = np.full((480, 640), (n * 7) % 256, dtype=np.uint8)
        frame[:, (n * 3) % 600 : (n * 3) % 600 + 40] = 255
        images.append(Image.fromarray(frame, mode="L"))
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return buffer.getvalue()


def report(step: str) -> None:
    """RSS now and the peak so far (VmHWM), so each step's transient allocations show too."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    now, peak = (int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))
    print(f"    {step:<40} RSS {now:7.0f} MB   peak so far {peak:7.0f} MB", flush=True)


if __name__ == "__main__":
    main()
