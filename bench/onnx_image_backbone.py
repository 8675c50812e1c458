"""The image backbone on torch, ONNX Runtime float32 and ONNX Runtime int8: speed per CPU-second and agreement.

    OMP_NUM_THREADS=2 .venv/bin/python bench/onnx_image_backbone.py --threads 2 --images 64 --train 2000 --test 1000
    .venv/bin/python bench/onnx_image_backbone.py --tiny      # CI: a few images, seconds

Issue 20 point 6 asks to measure the image backbone the way the text encoder was measured (bench/onnx_encoder.py):
the pretrained EfficientNet-Lite0 (classifiers.pretrained, converted onto timm's tf_efficientnet_lite0, 224 px)
  * speed: images per CPU-second of embedding (preprocessing included) in batches of 8, each runtime in turn,
    interleaved over ``--rounds`` so that a change in machine load hits every runtime alike;
  * agreement: cosine of each runtime's embeddings with torch's, on Fashion-MNIST test images;
  * head metric: a logistic regression on frozen embeddings of ``--train`` Fashion-MNIST training images, scored
    on ``--test`` test images (accuracy), trained and scored per runtime, and torch's regression scored on the
    other runtime's embeddings (what an existing head would see).
int8 is ONNX Runtime's dynamic quantisation (``quantize_dynamic``, per-channel int8 weights, the text encoder's
recipe), applied to the exported float32 graph.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from classifiers import pretrained  # noqa: E402
from classifiers.inference import onnx_image  # noqa: E402
from classifiers.inference.image import BATCH_SIZE as image_batch  # noqa: E402
from classifiers.inference.image import ImageModel  # noqa: E402
from classifiers.inference.threads import set_inference_threads  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")


def fashion_images(count: int, *, split: str, seed: int) -> tuple[list[Image.Image], np.ndarray]:
    from image_training import read_idx

    prefix = "train" if split == "train" else "t10k"
    images = read_idx(FASHION / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(FASHION / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64)
    rows = np.random.default_rng(seed).choice(len(images), size=count, replace=False)
    return [Image.fromarray(images[i]).convert("RGB") for i in rows], labels[rows]


def photos(count: int) -> list[Image.Image]:
    """Real photos (bench/photos), repeated to ``count``, at their own sizes: resizing is part of the cost."""
    files = sorted(p for p in (ROOT / "bench" / "photos").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    loaded = [Image.open(p).convert("RGB") for p in files]
    return [loaded[i % len(loaded)] for i in range(count)]


def quantised(fp32: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = fp32.with_suffix(".int8.onnx")
    if not int8.exists():
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return int8


def cpu_per_image(embed, images: list[Image.Image]) -> float:  # noqa: ANN001 - any runtime's embed
    started = time.process_time()
    embed(images)
    return (time.process_time() - started) / len(images)


def head_accuracy(train: np.ndarray, train_y: np.ndarray, test: np.ndarray, test_y: np.ndarray):  # noqa: ANN201
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, C=1.0).fit(train, train_y)
    return model, float((model.predict(test) == test_y).mean())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=64, help="photos per speed round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--speed-only", action="store_true", help="stop after the timings")
    parser.add_argument("--tiny", action="store_true", help="CI: 8 photos, 1 round, 40/40 Fashion-MNIST images")
    args = parser.parse_args(argv)
    if args.tiny:
        args.images, args.rounds, args.train, args.test = 8, 1, 40, 40
    set_inference_threads(args.threads)
    spec = pretrained.EFFICIENTNET_LITE0
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "lite0.pt"
        pretrained.convert(spec, checkpoint)
        torch_model = ImageModel.load(checkpoint, spec.architecture, [])
        files = onnx_image.export_backbone(checkpoint, spec.architecture, Path(folder) / "onnx")
        fp32 = onnx_image.OnnxBackbone(files, threads=args.threads)
        int8_files = onnx_image.ExportedFiles(model=quantised(files.model), meta=files.meta)
        int8 = onnx_image.OnnxBackbone(int8_files, threads=args.threads)
        runtimes = {"torch fp32": torch_model.embed, "onnx fp32": fp32.embed, "onnx int8": int8.embed}
        print(
            f"{spec.architecture} at {torch_model.input_size} px, {args.threads} threads; images per run: torch "
            f"{image_batch}, onnx {onnx_image.BATCH_SIZE} (each runtime's own default)"
        )

        speed_images = photos(args.images)
        for embed in runtimes.values():
            embed(speed_images[:8])  # warm up
        cpu: dict[str, list[float]] = {name: [] for name in runtimes}
        for _ in range(args.rounds):
            for name, embed in runtimes.items():
                cpu[name].append(cpu_per_image(embed, speed_images))
        base = float(np.median(cpu["torch fp32"]))
        results: dict = {"speed": {}, "quality": {}}
        for name, values in cpu.items():
            per_image = float(np.median(values))
            results["speed"][name] = per_image
            print(f"speed {name}: {1 / per_image:.1f} images per CPU-second ({per_image * 1000:.1f} ms CPU per image, "
                  f"median of {len(values)} rounds of {len(speed_images)}); {base / per_image:.2f}x torch")  # fmt: skip

        if args.speed_only:
            return results
        train_images, train_y = fashion_images(args.train, split="train", seed=0)
        test_images, test_y = fashion_images(args.test, split="test", seed=1)
        vectors = {name: (embed(train_images), embed(test_images)) for name, embed in runtimes.items()}
        torch_train, torch_test = vectors["torch fp32"]
        torch_head, torch_accuracy = head_accuracy(torch_train, train_y, torch_test, test_y)
        for name, (train, test) in vectors.items():
            cosine = (test * torch_test).sum(axis=1)
            _, accuracy = head_accuracy(train, train_y, test, test_y)
            transferred = float((torch_head.predict(test) == test_y).mean())
            results["quality"][name] = {"cosine_min": float(cosine.min()), "accuracy": accuracy}
            print(f"quality {name}: cosine to torch min {cosine.min():.4f} mean {cosine.mean():.4f}; Fashion-MNIST "
                  f"logistic head accuracy {accuracy:.3f} (torch {torch_accuracy:.3f}); torch's head on these "
                  f"embeddings {transferred:.3f} ({args.train} train, {args.test} test images)")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
