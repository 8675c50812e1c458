#!/usr/bin/env python
"""The text head's ranking against TF-IDF + logistic regression, side by side, at 100/300/1,000/all labels.

    .venv/bin/python bench/ranking_baseline.py [var/datasets/spam-assassin] [--splits 5] [--sizes 100,300,1000,0]
        [--processes 1]

For each of ``--splits`` stratified 80/20 splits of the distinct SpamAssassin mails (seeds 0..n-1)
and each training size (0 = every training mail), a stratified draw of that many training labels
trains:

* **head**: the project's text head (``train_text_head``: MiniLM embedding + hashed character n-grams,
  linear, cross-fitted Platt calibration, its log-odds averaged with those of a hashed TF-IDF logistic
  regression, ``classifiers.lexical``, weighted by a weight each head chooses by the out-of-fold log-loss of
  its training labels, and the blend calibrated by Platt on out-of-fold blends), the model the workers run;
* **head-only**: the same trained head's embedding half alone (its Platt-calibrated probabilities, no regression);
* **blend-raw**: the same blend without its calibration (what heads trained before the calibration score);
* **text-only**: the head trained and scored without the author tokens (see below), on the same embeddings;
* **tfidf+lr**: TF-IDF of word 1-2-grams and character 3-5-grams (sublinear tf, fitted on the drawn
  training mails), logistic regression with C chosen by 3-fold cross-validation on average
  precision from {0.1, 1, 10, 100};
* **tfidf+lr+author**: the same baseline reading the texts with the author tokens appended.

The author of a mail is its sender, the key a platform sends with an item (``spamassassin:<From address>``):
the head reads it as the product does (``text_model.with_author``: a token naming the author and one naming
its mail domain, in its n-grams and regression, never in the embedding). ``--no-authors`` leaves it out.

With ``--tune-min-labels N`` (the product's ``RETRAIN_TEXT_TUNE_MIN_LABELS``; 0, the default here, is off) a
cell of N or more training labels does what a retraining run then does: it trains the encoder's last
``--tune-layers`` layers (default 1) on them (``classifiers.text_tuning``; the output of the layers before is
computed once for every mail, as a run computes it for its own), embeds the cell's mails with the tuned int8
ONNX encoder and trains the head on those. **head** is then that model, and **frozen-enc** the head on the
packaged encoder, for comparison.

Both are scored on the same held-out 20 % (about 1,185 mails): PR-AUC (average precision) and F1 at
0.5, mean and standard deviation over splits, and the per-split difference. ``--limit`` samples N
mails and embeds them without the cache (CI's tiny run). Each (split, size) cell draws its labels with the seed
(split, size); ``--processes N`` computes N cells at once, in forked processes (set OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
import types
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.sparse import hstack  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import average_precision_score, f1_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, StratifiedShuffleSplit  # noqa: E402
from text_cold_start import corpus_arrays  # noqa: E402

from classifiers.inference import text as text_model  # noqa: E402

C_GRID = (0.1, 1.0, 10.0, 100.0)
# The shipped head's parts, scored from the same trained head; "no-shift": the calibrated blend before its
# decision point was moved to 0.5 (classifiers.inference.text.choose_decision), for F1 at 0.5 with and without.
# With authors, also "text-only" and "tfidf+lr+author"; when tuning, "frozen-enc".
VARIANTS = ["head-only", "blend-raw", "no-shift"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "var" / "datasets" / "spam-assassin")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--sizes", default="100,300,1000,0")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument(
        "--processes", type=int, default=1, help="cells (split, size) computed at once, each in its own process"
    )
    parser.add_argument(
        "--tune-min-labels", type=int, default=0, help="tune the encoder's last layer in cells of this many labels"
    )
    parser.add_argument("--tune-layers", type=int, default=1, help="how many of the encoder's last layers tune")
    parser.add_argument("--no-authors", action="store_true", help="score the texts alone, without their senders")
    args = parser.parse_args(argv)
    texts, is_spam, vectors, _ = corpus_arrays(args.corpus, args.limit, 0)
    authors = None if args.no_authors else mail_authors(args.corpus, texts)
    if authors is not None:
        VARIANTS.extend(["text-only", "tfidf+lr+author"])
        print(f"authors: {len(set(authors))} distinct senders")
    y = is_spam.astype(int)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"mails: {len(texts)} ({int(y.sum())} spam); {args.splits} splits; sizes {sizes} (0 = all)")
    splitter = StratifiedShuffleSplit(n_splits=args.splits, test_size=0.2, random_state=0)
    _DATA.update(texts=texts, y=y, vectors=vectors, splits=list(splitter.split(np.zeros(len(y)), y)), authors=authors)
    _DATA["tune_min"] = args.tune_min_labels
    if args.tune_min_labels > 0:
        from classifiers import text_tuning

        started, wall = time.process_time(), time.perf_counter()
        _DATA["inputs"] = text_tuning.layer_inputs(texts, layers=args.tune_layers)
        _DATA["tuning"] = text_tuning.TuningConfig(layers=args.tune_layers)
        print(
            f"tuning the last {args.tune_layers} layer(s) from {args.tune_min_labels} labels; the other layers' "
            "output for every mail: "
            f"{time.process_time() - started:.0f} CPU s, {time.perf_counter() - wall:.0f} s",
            flush=True,
        )
        VARIANTS.append("frozen-enc")
    # Size by size, in the order given: every split of the first size finishes before the next size starts.
    cells = [(split, size) for size in sizes for split in range(args.splits)]
    results: dict[tuple[int, str], dict[int, tuple[float, float]]] = {}
    seconds: dict[str, float] = {"head": 0.0, "tfidf+lr": 0.0}
    weights: dict[int, list[float]] = {}  # the blend weight each trained head chose by cross-validation
    # The pool pickles run_cell by module and name; a bench loaded from its file path (CI's tiny run) has no
    # entry in sys.modules, so it gets one holding the same function.
    sys.modules.setdefault(__name__, types.SimpleNamespace(run_cell=run_cell))  # type: ignore[arg-type]
    pool = multiprocessing.get_context("fork").Pool(args.processes) if args.processes > 1 else None
    outcomes = pool.imap(run_cell, cells) if pool is not None else map(run_cell, cells)
    for split, size, scores, weight, cpu in outcomes:
        for name, value in scores.items():
            results.setdefault((size, name), {})[split] = value
        weights.setdefault(size, []).append(weight)
        seconds["head"] += cpu["head"]
        seconds["tfidf+lr"] += cpu["tfidf+lr"]
        label = "all" if size == 0 else size
        print(
            f"  split {split}, {label} labels: head PR-AUC {scores['head'][0]:.4f} F1 {scores['head'][1]:.4f} "
            f"(blend weight {weight:g}, F1 without the decision shift {scores['no-shift'][1]:.4f}); "
            f"tfidf+lr PR-AUC {scores['tfidf+lr'][0]:.4f} F1 {scores['tfidf+lr'][1]:.4f}",
            flush=True,
        )
        if split + 1 == args.splits:
            table(results, [s for s in sizes if (s, "head") in results], title=f"after {label} labels")
    if pool is not None:
        pool.close()
    table(results, sizes, title=f"all {args.splits} splits")
    side_by_side(results, sizes, weights)
    print(f"\nCPU seconds, all splits and sizes: head {seconds['head']:.0f}, tfidf+lr {seconds['tfidf+lr']:.0f}")


_DATA: dict = {}  # the corpus and splits, set before the worker processes fork


def run_cell(cell: tuple[int, int]) -> tuple[int, int, dict[str, tuple[float, float]], float, dict[str, float]]:
    """One split and training size: train the head and the baseline on the same draw, score the split's held-out."""
    split, size = cell
    texts, y, vectors, authors = _DATA["texts"], _DATA["y"], _DATA["vectors"], _DATA["authors"]
    train, test = _DATA["splits"][split]
    rows = draw(train, y, size, np.random.default_rng([split, size]))
    started = time.process_time()
    train_texts, test_texts = [texts[i] for i in rows], [texts[i] for i in test]
    train_authors = [authors[i] for i in rows] if authors else None
    test_authors = [authors[i] for i in test] if authors else None
    features = text_model.DEFAULT_FEATURES
    head = text_model.train_text_head(
        vectors[rows], train_texts, y[rows, None], categories=["spam"], authors=train_authors
    )
    frozen = text_model.text_head_proba(head, vectors[test], test_texts, authors=test_authors)[:, 0]
    train_vectors, test_vectors = vectors[rows], vectors[test]
    if 0 < _DATA["tune_min"] <= len(rows):
        tuned = tuned_vectors(rows, test)
        features = replace(features, backbone=tuned.backbone)
        head = text_model.train_text_head(
            tuned.train, train_texts, y[rows, None], categories=["spam"], features=features, authors=train_authors
        )
        train_vectors, test_vectors = tuned.train, tuned.test
    head_scores = text_model.text_head_proba(head, test_vectors, test_texts, authors=test_authors)[:, 0]
    cpu = {"head": time.process_time() - started}
    uncalibrated = text_model.text_head_proba(
        head, test_vectors, test_texts, calibrate_blend=False, authors=test_authors
    )
    blend_raw = uncalibrated[:, 0]
    matrix, read = text_model.head_inputs(test_vectors, test_texts, features, authors=test_authors)
    variants = {
        "head-only": head.predict_proba(matrix)[:, 0],
        "blend-raw": blend_raw,
        "no-shift": unshifted(head, blend_raw),
    }
    if _DATA["tune_min"] > 0:
        variants["frozen-enc"] = frozen
    if authors:
        text_only = text_model.train_text_head(
            train_vectors, train_texts, y[rows, None], categories=["spam"], features=features
        )
        variants["text-only"] = text_model.text_head_proba(text_only, test_vectors, test_texts)[:, 0]
        variants["tfidf+lr+author"] = tfidf_lr(
            text_model.lexical_texts(train_texts, train_authors, features), y[rows], read.texts
        )
    started = time.process_time()
    baseline_scores = tfidf_lr([texts[i] for i in rows], y[rows], test_texts)
    cpu["tfidf+lr"] = time.process_time() - started
    scores = {
        name: (float(average_precision_score(y[test], p)), float(f1_score(y[test], p >= 0.5)))
        for name, p in (("head", head_scores), *variants.items(), ("tfidf+lr", baseline_scores))
    }
    return split, size, scores, float(text_model.checked_blend_weight(head)[0]), cpu


def mail_authors(corpus: Path, texts: list[str]) -> list[str]:
    """Each text's author key as a platform would send it: ``spamassassin:<sender address>`` (the first mail with
    that text, as the corpus keeps the first of exact re-sends)."""
    from classifiers.corpora import read_spamassassin

    sender_of: dict[str, str] = {}
    for mail in read_spamassassin(corpus):
        sender_of.setdefault(mail.text, mail.sender)
    return [f"spamassassin:{sender_of.get(text, 'unknown')}" for text in texts]


def tuned_vectors(rows: np.ndarray, test: np.ndarray) -> types.SimpleNamespace:
    """The product's tuned path for one cell: tune on ``rows``, embed ``rows`` and ``test`` with the tuned encoder."""
    from classifiers import text_tuning

    texts, y = _DATA["texts"], _DATA["y"]
    with tempfile.TemporaryDirectory() as folder:
        tuned = text_tuning.tune_text_encoder(
            [texts[i] for i in rows],
            y[rows, None],
            Path(folder),
            config=_DATA["tuning"],
            inputs=_DATA["inputs"].subset(rows),
        )
        text_model.register_tuned_encoder(tuned.backbone, tuned.path)
        embedded = text_model.embed_texts([texts[i] for i in np.concatenate([rows, test])], backbone=tuned.backbone)
    cosine = float(np.median((embedded[len(rows) :] * _DATA["vectors"][test]).sum(1)))
    losses = ", ".join(f"{value:.4f}" for value in tuned.losses)
    print(
        f"  tuned on {len(rows)} labels: {tuned.epochs:g} epochs, losses {losses}, "
        f"{tuned.cpu_seconds:.0f} CPU s; held-out embeddings at median cosine {cosine:.4f} to the packaged encoder's",
        flush=True,
    )
    return types.SimpleNamespace(backbone=tuned.backbone, train=embedded[: len(rows)], test=embedded[len(rows) :])


def unshifted(head, blend_raw: np.ndarray) -> np.ndarray:
    """The head's calibrated blend probabilities without the move of its decision point to 0.5."""
    slope, bias = text_model.checked_blend_calibration(head)[0]
    threshold = float(np.asarray(head.extras.get(text_model.DECISION_THRESHOLD, [0.5]))[0])
    z = np.log(np.clip(blend_raw, 1e-7, 1 - 1e-7) / np.clip(1 - blend_raw, 1e-7, 1))
    return 1.0 / (1.0 + np.exp(-(slope * z + bias + np.log(threshold / (1 - threshold)))))


def _values(results: dict, size: int, name: str) -> np.ndarray:
    """(splits, 2) of PR-AUC and F1, in split order, for the splits that finished."""
    by_split = results[(size, name)]
    return np.array([by_split[split] for split in sorted(by_split)])


F1_GOAL_ALL_LABELS = 0.985  # issue 20, point 5


def side_by_side(results: dict, sizes: list[int], weights: dict[int, list[float]]) -> None:
    """The issue's comparison, one line per size: model and baseline, mean ± sd over splits, and the goals."""
    print("\nside by side (mean ± sd over splits; the head's blend weight as chosen by each trained head's CV)")
    print("labels  head PR-AUC        tfidf+lr PR-AUC    head F1@0.5        tfidf+lr F1@0.5    blend weights")
    goals = []
    for size in sizes:
        head, base = _values(results, size, "head"), _values(results, size, "tfidf+lr")
        label = "all" if size == 0 else str(size)
        chosen = ", ".join(f"{w:g}" for w in weights.get(size, []))
        print(
            f"{label:<7} {head[:, 0].mean():.4f} ± {head[:, 0].std():.4f}  {base[:, 0].mean():.4f} ± "
            f"{base[:, 0].std():.4f}  {head[:, 1].mean():.4f} ± {head[:, 1].std():.4f}  {base[:, 1].mean():.4f} ± "
            f"{base[:, 1].std():.4f}  {chosen}"
        )
        goals.append((label, head[:, 0].mean() >= base[:, 0].mean()))
    met = ", ".join(f"{label} {'met' if ok else 'NOT met'}" for label, ok in goals)
    print(f"goal: head PR-AUC >= tfidf+lr on the mean over splits: {met}")
    if 0 in sizes:
        f1 = _values(results, 0, "head")[:, 1].mean()
        verdict = "met" if f1 >= F1_GOAL_ALL_LABELS else "NOT met"
        print(f"goal: head F1@0.5 with all labels >= {F1_GOAL_ALL_LABELS}: {f1:.4f}, {verdict}")


def table(results: dict, sizes: list[int], *, title: str) -> None:
    print(f"\n{title}")
    print("labels    model      PR-AUC (mean ± sd)   F1@0.5 (mean ± sd)   head - tfidf+lr PR-AUC per split")
    for size in sizes:
        head, base = _values(results, size, "head"), _values(results, size, "tfidf+lr")
        label = "all" if size == 0 else str(size)
        named = [("head", head), *((name, _values(results, size, name)) for name in VARIANTS), ("tfidf+lr", base)]
        for name, values in named:
            extra = ""
            if name == "head":
                diff = head[:, 0] - base[:, 0]
                ahead = int((diff >= 0).sum())
                extra = (
                    f"mean {diff.mean():+.4f} (95 % CI {interval(diff)}), worst {diff.min():+.4f}, "
                    f"head ahead in {ahead}/{len(diff)}"
                )
            print(
                f"{label:<9} {name:<10} {values[:, 0].mean():.4f} ± {values[:, 0].std():.4f}      "
                f"{values[:, 1].mean():.4f} ± {values[:, 1].std():.4f}      {extra}",
                flush=True,
            )


def interval(values: np.ndarray) -> str:
    """A 95 % t-interval of the mean over splits (the splits overlap, so it is a rough one)."""
    if len(values) < 2:
        return "n/a"
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean() - half:+.4f} to {values.mean() + half:+.4f}"


def draw(train: np.ndarray, y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A stratified draw of ``size`` training rows (all of them for 0), with at least 3 of each class."""
    if size <= 0 or size >= len(train):
        return train
    positives, negatives = train[y[train] == 1], train[y[train] == 0]
    take = min(max(3, round(size * len(positives) / len(train))), size - 3)
    return np.concatenate(
        [rng.choice(positives, take, replace=False), rng.choice(negatives, size - take, replace=False)]
    )


def tfidf_lr(train_texts: list[str], y: np.ndarray, test_texts: list[str]) -> np.ndarray:
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1, max_features=300_000)
    train_texts = [t[: text_model.LEXICAL_MAX_CHARS] for t in train_texts]
    test_texts = [t[: text_model.LEXICAL_MAX_CHARS] for t in test_texts]
    x_train = hstack([word.fit_transform(train_texts), char.fit_transform(train_texts)]).tocsr()
    x_test = hstack([word.transform(test_texts), char.transform(test_texts)]).tocsr()
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    search = GridSearchCV(
        LogisticRegression(max_iter=2000), {"C": list(C_GRID)}, scoring="average_precision", cv=folds, n_jobs=1
    )
    search.fit(x_train, y)
    return search.predict_proba(x_test)[:, 1]


if __name__ == "__main__":
    main()
