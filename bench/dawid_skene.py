#!/usr/bin/env python
"""Dawid–Skene against majority vote on simulated crowds with known error rates.

    .venv/bin/python bench/dawid_skene.py [--items 2000] [--labelers 40] [--per-item 5] [--bad-share 0.2] [--seeds 5]

Each seed draws a crowd: honest labelers are right with a probability drawn uniformly from
[``--honest-min``, ``--honest-max``] and otherwise answer a uniformly random wrong class; ``--bad-share`` of the
labelers are bad: ``--adversarial-share`` of them (half by default) adversarial, always answering the next class,
the rest answering at random. Items have
``--classes`` classes with skewed priors (a moderation set is mostly "no violation"). Each item gets
``--per-item`` distinct labelers. It prints, per seed and on average: majority-vote accuracy (ties broken at
random), Dawid–Skene accuracy (``labeling.dawid_skene``), the gain in points, and how well the fitted confusion
matrices recover each labeler's true accuracy (their share of right answers): mean and largest absolute error in
points, and the share of labelers recovered within 5 points. No Django, no database.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labeling.dawid_skene import dawid_skene, majority_vote  # noqa: E402


def simulate(rng: np.random.Generator, args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth per item, answer rows (item, labeler, class), kind per labeler: 0 honest, 1 random, 2 adversarial)."""
    k = args.classes
    priors = np.array([0.6] + [0.4 / (k - 1)] * (k - 1))
    truth = rng.choice(k, size=args.items, p=priors)
    n_bad = round(args.labelers * args.bad_share)
    kinds = np.zeros(args.labelers, dtype=int)
    kinds[:n_bad] = 1
    kinds[: round(n_bad * args.adversarial_share)] = 2
    rng.shuffle(kinds)
    skill = rng.uniform(args.honest_min, args.honest_max, args.labelers)
    rows = []
    for item in range(args.items):
        t = truth[item]
        for labeler in rng.choice(args.labelers, size=args.per_item, replace=False):
            if kinds[labeler] == 1:
                answer = rng.integers(k)
            elif kinds[labeler] == 2:
                answer = (t + 1) % k
            elif rng.random() < skill[labeler]:
                answer = t
            else:
                answer = (t + rng.integers(1, k)) % k
            rows.append((item, labeler, answer))
    return truth, np.array(rows), kinds


def run_seed(seed: int, args: argparse.Namespace) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    truth, answers, kinds = simulate(rng, args)
    shares = majority_vote(answers, args.items, args.classes)
    # Ties broken at random, as a vote counter would.
    vote = np.array([rng.choice(np.flatnonzero(row == row.max())) for row in shares])
    started = time.perf_counter()
    fit = dawid_skene(answers, n_items=args.items, n_labelers=args.labelers, n_classes=args.classes)
    seconds = time.perf_counter() - started
    right = answers[:, 2] == truth[answers[:, 0]]
    counts = np.bincount(answers[:, 1], minlength=args.labelers)
    true_accuracy = np.bincount(answers[:, 1], weights=right, minlength=args.labelers) / np.maximum(counts, 1)
    errors = np.abs(fit.labeler_accuracy() - true_accuracy)[counts > 0] * 100
    return {
        "vote": (vote == truth).mean() * 100,
        "ds": (fit.labels == truth).mean() * 100,
        "mean_err": errors.mean(),
        "max_err": errors.max(),
        "within5": (errors <= 5).mean() * 100,
        "iterations": fit.iterations,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--labelers", type=int, default=40)
    parser.add_argument("--per-item", type=int, default=5)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--bad-share", type=float, default=0.2)
    parser.add_argument("--adversarial-share", type=float, default=0.5, help="of the bad labelers; the rest are random")
    parser.add_argument("--honest-min", type=float, default=0.6)
    parser.add_argument("--honest-max", type=float, default=0.9)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    print(
        f"{args.items} items, {args.labelers} labelers ({args.bad_share:.0%} bad, "
        f"{args.adversarial_share:.0%} of them adversarial, the rest random), "
        f"{args.per_item} per item, {args.classes} classes, honest accuracy U({args.honest_min}, {args.honest_max})"
    )
    header = ("seed", "vote %", "D-S %", "gain", "acc err mean", "max", "<=5 pts", "iters")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (4, 7, 7, 6, 12, 6, 8, 5), strict=True)))
    results = []
    for seed in range(args.seeds):
        r = run_seed(seed, args)
        results.append(r)
        print(
            f"{seed:>4} {r['vote']:>7.2f} {r['ds']:>7.2f} {r['ds'] - r['vote']:>+6.2f} {r['mean_err']:>12.2f} "
            f"{r['max_err']:>6.2f} {r['within5']:>7.1f}% {r['iterations']:>5}"
        )
    mean = {key: float(np.mean([r[key] for r in results])) for key in results[0]}
    print(
        f"mean {mean['vote']:>7.2f} {mean['ds']:>7.2f} {mean['ds'] - mean['vote']:>+6.2f} {mean['mean_err']:>12.2f} "
        f"{mean['max_err']:>6.2f} {mean['within5']:>7.1f}%"
    )
    print(
        f"aggregated accuracy: Dawid-Skene {mean['ds']:.2f}% vs majority vote {mean['vote']:.2f}% "
        f"({mean['ds'] - mean['vote']:+.2f} points); per-labeler accuracy recovered within "
        f"{mean['mean_err']:.2f} points on average (largest {mean['max_err']:.2f}); "
        f"fit {mean['seconds'] * 1000:.0f} ms"
    )
    return mean


if __name__ == "__main__":
    main()
