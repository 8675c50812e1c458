#!/usr/bin/env python
"""Active learning on SpamAssassin: labels needed by random, uncertainty, and uncertainty + diversity.

    .venv/bin/python bench/active_learning.py [var/datasets/spam-assassin] [--seeds 3] [--rounds 18]

Simulates a labelling queue. Per seed: a stratified 80/20 split (the 20 % is held out and never
labelled), a stratified seed set of ``--seed-labels`` labels from the 80 % pool, then ``--rounds``
rounds; each round labels ``--batch`` more pool items chosen by

* ``random``: uniformly at random;
* ``uncertainty``: the head's calibrated probability closest to 0.5;
* ``uncert+diversity``: ``queues.diversity.diverse_order`` (the labelling queue's own re-ranking:
  the 4 x batch most uncertain, ordered greedily by uncertainty and cosine distance to earlier picks
  over the sentence embeddings);

and retrains the head (``classifiers.head_training.train_head``, the default text features: embedding +
hashed character n-grams) on every label so far. It prints held-out F1 and ROC-AUC per round (mean
± std over seeds), and how many labels each strategy needed to reach ``--target`` (97 %) of the F1
of the head trained on the whole pool.

Embeddings come from ``bench/text_quality.py``'s cache (``$VAR_DIR/cache/spamassassin-<hash>.npz``);
a cache miss embeds the corpus (~25 min here). Torch runs on one thread. No Django, no database.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from text_quality import cache_folder, labels, load_corpus, print_machine, spam_report, stratified_sample  # noqa: E402

from classifiers.head_training import train_head  # noqa: E402
from classifiers.heads import HeadConfig  # noqa: E402
from classifiers.inference import text as text_model  # noqa: E402
from queues.diversity import diverse_order, uncertainty  # noqa: E402

SLUGS = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]
STRATEGIES = ("random", "uncertainty", "uncert+diversity")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "var" / "datasets" / "spam-assassin")
    parser.add_argument("--seeds", type=int, default=3, help="how many split and seed-set seeds")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (tune on others, e.g. 100)")
    parser.add_argument("--seed-labels", type=int, default=20)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=28)
    parser.add_argument("--targets", default="0.97,0.99,1.0", help="shares of the full-pool F1 to reach")
    parser.add_argument("--weight", type=float, default=0.5, help="diversity weight of the re-ranking")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cache_dir = cache_folder()
    started = time.perf_counter()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print_machine()
    corpus = load_corpus(args.corpus, cache_dir)
    y = corpus.is_spam
    x = text_model.build_features(corpus.embeddings, corpus.texts, text_model.DEFAULT_FEATURES)
    vectors = corpus.embeddings.astype(np.float32)
    print(f"corpus: {len(y)} messages, {y.sum()} spam; features {x.shape[1]} dims; torch threads 1")
    print(
        f"protocol: {args.seeds} seeds, {args.seed_labels} seed labels + {args.rounds} rounds x {args.batch}, "
        f"diversity weight {args.weight}, window 4 x batch"
    )

    sizes = [args.seed_labels + args.batch * r for r in range(args.rounds + 1)]
    curves = {name: np.zeros((args.seeds, len(sizes), 2)) for name in STRATEGIES}
    full_f1 = np.zeros(args.seeds)
    config = HeadConfig()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for index, seed in enumerate(seeds):
        pool, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
        full = train_head(x[pool], labels(y[pool]), categories=SLUGS, config=config)
        full_f1[index] = spam_report(full, x[test], y[test])["f1"]
        initial = stratified_sample(pool, y, args.seed_labels, np.random.default_rng(seed))
        for name in STRATEGIES:
            rng = np.random.default_rng(1000 + seed)
            chosen = list(initial)
            for r in range(args.rounds + 1):
                head = train_head(x[chosen], labels(y[chosen]), categories=SLUGS, config=config)
                report = spam_report(head, x[test], y[test])
                curves[name][index, r] = (report["f1"] or 0.0, report["roc_auc"])
                if r == args.rounds:
                    break
                taken = np.zeros(len(y), dtype=bool)
                taken[chosen] = True
                rest = pool[~taken[pool]]
                chosen += list(pick(name, head, x, vectors, rest, args.batch, rng, args.weight))
        print(
            f"seed {seed}: full-pool F1 {full_f1[index]:.4f} ({len(pool)} labels); "
            f"{time.perf_counter() - started:.0f} s so far",
            flush=True,
        )

    print(f"\n== Held-out F1 / ROC-AUC by labels (mean ± std over seeds {seeds.start}-{seeds.stop - 1})")
    print(f"{'labels':>6}  " + "  ".join(f"{name:<33}" for name in STRATEGIES))
    for r, size in enumerate(sizes):
        cells = []
        for name in STRATEGIES:
            f1, auc = curves[name][:, r, 0], curves[name][:, r, 1]
            cells.append(f"F1 {f1.mean():.4f}±{f1.std():.4f} AUC {auc.mean():.4f}   ")
        print(f"{size:>6}  " + "  ".join(cells))

    for share in (float(t) for t in args.targets.split(",")):
        full = f"full-pool F1 {full_f1.mean():.4f} ± {full_f1.std():.4f}"
        print(f"\n== Labels until held-out F1 first reaches {share:.0%} of the {full} (per seed)")
        for name in STRATEGIES:
            needed = []
            for index in range(len(seeds)):
                reached = np.flatnonzero(curves[name][index, :, 0] >= share * full_f1[index])
                needed.append(sizes[reached[0]] if len(reached) else None)
            shown = ", ".join(str(n) if n is not None else f">{sizes[-1]}" for n in needed)
            known = [n for n in needed if n is not None]
            all_reached = len(known) == len(needed)
            summary = f"mean {np.mean(known):.0f}" if all_reached else f"{len(known)}/{len(needed)} reached"
            print(f"{name:<18} {shown:<24} {summary}")
    print("\n== Mean F1 over the whole curve (area under the learning curve / rounds)")
    for name in STRATEGIES:
        print(f"{name:<18} {curves[name][:, :, 0].mean():.4f}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s wall, {time.process_time():.0f} s CPU")


def pick(
    strategy: str,
    head,  # noqa: ANN001 - a classifiers.heads.Head
    x: np.ndarray,
    vectors: np.ndarray,
    rest: np.ndarray,
    batch: int,
    rng: np.random.Generator,
    weight: float,
) -> np.ndarray:
    """The next ``batch`` pool rows (indices into the corpus) under ``strategy``."""
    if strategy == "random":
        return rng.choice(rest, size=batch, replace=False)
    probs = head.predict_proba(x[rest])[:, head.categories.index("spam")]
    u = uncertainty(probs)
    if strategy == "uncertainty":
        return rest[np.argsort(-u, kind="stable")[:batch]]
    return rest[diverse_order(u, vectors[rest], take=batch, weight=weight)]


if __name__ == "__main__":
    main()
