#!/usr/bin/env python
"""Fashion-MNIST on the official splits: pretrained frozen head, pretrained staged fine-tuning, random init.

    nice -n 5 .venv/bin/python bench/fashion_mnist.py --sizes 1000 5000 --budgets 600 1200 --threads 2

For each N in ``--sizes``: a stratified sample of N images of the official training set (fixed seed),
trained through the project's own path (``classifiers.fine_tuning.fine_tune_in_stages``: a frozen head,
then the last blocks, then everything, the stage chosen by accuracy on ``--val-fraction`` of the N
training labels), and scored on the whole official test set (10,000 images). Rows:

- ``pretrained``: the packaged ImageNet EfficientNet-Lite0 (``classifiers.pretrained``, converted onto
  ``tf_efficientnet_lite0``, its [-1, 1] normalisation), frozen head and the schedule's choice;
- ``random``: the same network from random init (normalisation measured on the images), frozen head and
  fine-tuning everything (the last-blocks stage has nothing to start from).

Images are greyscale 28x28 upsampled to ``--input-size`` (the inference transform) and copied to three
channels; augmentation is horizontal flips and shifts of up to 1/8 of the side. Each row prints its
validation accuracy per stage, the test accuracy, and process CPU and wall seconds. The test set is used
for nothing but the printed test accuracy.

``--unlabelled M`` (with ``--self-train-share``) adds self-training: M images drawn from the rest of the
official training split (never the N labelled ones, never the test set) with their labels dropped are the
unlabelled pool the schedule pseudo-labels; the bench alone knows their true labels and prints how many of
the kept pseudo-labels are right. The teacher (best stage before self-training) and the self-trained student
are both scored on the test set; the validation split chooses between them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from image_training import DATA_DIR, _machine, load_fashion_mnist  # noqa: E402  (bench/ is the script's folder)


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` rows with each class in its proportion in ``labels``."""
    from sklearn.model_selection import train_test_split

    if n >= len(labels):
        return np.arange(len(labels))
    index, _ = train_test_split(np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed)
    return np.sort(index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 5000], help="training labels N")
    parser.add_argument("--budgets", nargs="+", type=float, default=[600, 1200], help="CPU seconds per run, per N")
    parser.add_argument("--epochs", type=int, default=30, help="the most epochs a stage runs within its budget")
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--all-lr", type=float, default=None, help="peak lr of the all stage (default --lr)")
    parser.add_argument("--erase", type=float, default=0.0, help="random-erasing probability per training image")
    parser.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0: off)")
    parser.add_argument(
        "--stages", nargs="+", choices=["last_blocks", "all"], default=None,
        help="fine-tuning stages after the frozen head for the pretrained row (default: last_blocks all)",
    )  # fmt: skip
    parser.add_argument(
        "--refit-on-all", action="store_true", help="train the chosen path again on all N labels after choosing"
    )
    parser.add_argument(
        "--unlabelled", type=int, default=0, help="unlabelled pool: images from the rest of the train split"
    )
    parser.add_argument("--self-train-share", type=float, default=0.5, help="budget share of self-training")
    parser.add_argument("--confidence", type=float, default=0.9, help="least softmax probability of a pseudo-label")
    parser.add_argument("--last-blocks", type=int, default=2)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", nargs="+", choices=["pretrained", "random"], default=["pretrained", "random"])
    args = parser.parse_args(argv)
    if len(args.budgets) != len(args.sizes):
        parser.error("give one --budgets value per --sizes value")

    import torch

    from classifiers import pretrained
    from classifiers.fine_tuning import ALL, FINE_TUNE_STAGES, FROZEN, REFIT, SELF_TRAINED, fine_tune_in_stages
    from classifiers.image_training import classify, prepare_images
    from classifiers.inference.image import ImageModel

    torch.set_num_threads(args.threads)
    print(f"machine: {_machine()}")
    print(
        f"torch {torch.__version__}, threads {args.threads}, input {args.input_size}px, batch {args.batch_size}, "
        f"lr {args.lr}, all-stage lr {args.all_lr or args.lr}, erase {args.erase}, mixup {args.mixup}, "
        f"last blocks {args.last_blocks}, "
        f"val fraction {args.val_fraction}, refit on all N {args.refit_on_all}, seed {args.seed}, "
        f"unlabelled pool {args.unlabelled}"
        + (f" (self-training share {args.self_train_share}, confidence {args.confidence})" if args.unlabelled else "")
    )
    train_x, train_y, test_x, test_y = load_fashion_mnist(args.data_dir)
    print(f"data: {len(train_x)} train / {len(test_x)} test images from {args.data_dir}", flush=True)

    spec = pretrained.EFFICIENTNET_LITE0
    with tempfile.TemporaryDirectory() as folder:
        pretrained.convert(spec, Path(folder) / "lite0.pt")
        lite0 = ImageModel.load(Path(folder) / "lite0.pt", spec.architecture, [])
        initial = {
            "pretrained": (lite0.network.state_dict(), lite0.normalization, tuple(args.stages or FINE_TUNE_STAGES)),
            "random": (None, None, (ALL,)),
        }
    rows = []
    for n, budget in zip(args.sizes, args.budgets, strict=True):
        index = stratified_sample(train_y, n, args.seed)
        rest = np.setdiff1d(np.arange(len(train_y)), index)
        pool = np.sort(
            np.random.default_rng(args.seed + 7).choice(rest, min(args.unlabelled, len(rest)), replace=False)
        )
        test_pixels = None
        for name in args.rows:
            state, normalization, stages = initial[name]
            print(
                f"\nN={n} {name}: {n:,} labels + {len(pool):,} unlabelled images; stages frozen, {', '.join(stages)}"
                f"{', self-training' if len(pool) else ''}; budget {budget:.0f} CPU s",
                flush=True,
            )
            result = fine_tune_in_stages(
                train_x[index],
                train_y[index],
                architecture=spec.architecture,
                input_size=args.input_size,
                initial_state=state,
                normalization=normalization,
                stages=stages,
                epochs=args.epochs,
                last_blocks=args.last_blocks,
                budget_seconds=budget,
                threads=args.threads,
                val_fraction=args.val_fraction,
                batch_size=args.batch_size,
                lr=args.lr,
                all_lr=args.all_lr,
                erase=args.erase,
                mixup=args.mixup,
                refit_on_all=args.refit_on_all,
                unlabelled=train_x[pool] if len(pool) else None,
                self_train_share=args.self_train_share if len(pool) else 0.0,
                self_train_confidence=args.confidence,
                seed=args.seed,
                progress=lambda p: print(f"  {p.describe()}, {p.cpu_seconds:.0f} CPU s", flush=True),
            )
            for stage in result.stages:
                print(
                    f"  {stage.stage}: validation accuracy {stage.val_accuracy:.4f} ({result.val_images} images), "
                    f"{stage.epochs:.1f} epochs, {stage.cpu_seconds:.0f} CPU s, {stage.wall_seconds:.0f} s wall"
                    + (", cut by the budget" if stage.stopped_by_budget else ""),
                    flush=True,
                )
            if result.self_training:
                st = result.self_training
                only = st["validation_only_right"]
                right = float((train_y[pool][result.pseudo_index] == result.pseudo_labels).mean()) if st["kept"] else 0
                print(
                    f"  self-training: teacher {st['teacher']}, pseudo-labelled {st['pseudo_labelled']:,} of "
                    f"{st['pool']:,} unlabelled images in {st['labelling_cpu_seconds']:.0f} CPU s, kept {st['kept']:,} "
                    f"(confidence >= {st['confidence']}; per class {st['kept_per_class']}), "
                    f"pseudo-labels right (bench-only check) {right:.4f}; validation images only one got right: "
                    f"teacher {only['teacher']}, student {only['student']}",
                    flush=True,
                )
            print(f"  chosen on the validation split: {result.chosen}")
            if REFIT in result.states:
                print(
                    f"  refit of the chosen path on all {n} labels: {result.refit_cpu_seconds:.0f} CPU s "
                    "(included in the run's CPU s; the refitted model is scored beside the one it replays)",
                    flush=True,
                )
            if test_pixels is None:
                test_pixels = prepare_images(test_x, result.network(), args.input_size)
            teacher = max((s for s in result.stages if s.stage != SELF_TRAINED), key=lambda s: s.val_accuracy).stage
            chosen_label = "frozen head" if result.chosen == FROZEN else f"fine-tuned ({result.chosen})"
            # A frozen head that was not chosen cost only its own stage; the chosen row costs the whole schedule,
            # and the refitted model (scored beside the model it replays) the schedule plus the refit.
            frozen_cost = (result.stages[0].cpu_seconds, result.stages[0].wall_seconds)
            schedule_cost = (
                result.cpu_seconds - result.refit_cpu_seconds,
                result.wall_seconds - result.refit_wall_seconds,
            )
            self_trained = SELF_TRAINED in result.states
            scored = [] if result.chosen == FROZEN and not self_trained else [(FROZEN, "frozen head", frozen_cost)]
            if self_trained and result.chosen == FROZEN:
                scored = [(FROZEN, "frozen head, chosen", frozen_cost)]
            if self_trained:
                # The teacher and the student side by side (the student costs the whole run, the teacher the run
                # minus self-training); the validation split chose one of them.
                student = next(s for s in result.stages if s.stage == SELF_TRAINED)
                teacher_cost = (
                    result.cpu_seconds - student.cpu_seconds - result.refit_cpu_seconds,
                    result.wall_seconds - student.wall_seconds - result.refit_wall_seconds,
                )
                if teacher != FROZEN:
                    teacher_label = f"fine-tuned ({teacher}), teacher"
                    scored.append((teacher, teacher_label + (", chosen" if teacher == result.chosen else ""),
                                   teacher_cost))  # fmt: skip
                label = f"self-trained ({n:,} labels + {len(pool):,} unlabelled)"
                scored.append((SELF_TRAINED, label + (", chosen" if result.chosen == SELF_TRAINED else ""),
                               schedule_cost))  # fmt: skip
            else:
                scored.append((result.chosen, f"{chosen_label}, chosen", schedule_cost))
            if REFIT in result.states:  # not when the self-trained student was chosen: it has nothing to replay
                scored.append(
                    (REFIT, f"{chosen_label}, chosen, refit on all N", (result.cpu_seconds, result.wall_seconds))
                )
            for key, label, (cpu, wall) in scored:
                started = time.perf_counter()
                predicted = classify(result.network(key), test_pixels, result.mean, result.std)
                accuracy = float((predicted == test_y).mean())
                rows.append((n, name, label, accuracy, cpu, wall))
                print(
                    f"  test accuracy {name} {label}: {accuracy:.4f} on {len(test_y):,} images "
                    f"(test pass {time.perf_counter() - started:.0f} s)",
                    flush=True,
                )

    print(f"\n| N labels | backbone | head | test accuracy ({len(test_y):,}) | run CPU s | run wall s |")
    print("|---|---|---|---|---|---|")
    for n, name, label, accuracy, cpu, wall in rows:
        print(f"| {n:,} | {name} | {label} | {accuracy:.4f} | {cpu:.0f} | {wall:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
