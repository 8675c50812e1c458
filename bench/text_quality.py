#!/usr/bin/env python
"""Text model quality on the SpamAssassin corpus: the head, its features, the cold-start prior, speed.

    .venv/bin/python bench/text_quality.py [var/datasets/spam-assassin] [--seed 0]

What it does, in order:

1. reads the corpus (``classifiers.corpora``; spam-1/spam-2 are spam, the ham groups are not), drops
   exact duplicate texts so no message sits on both sides of the split, and embeds every message with
   the text model's encoder. Embeddings, labels, texts and profanity scores are cached in
   ``$VAR_DIR/cache/spamassassin-<hash>.npz``, keyed by a hash of every corpus file and of the encoder
   settings, so re-runs skip the slow part;
2. splits stratified 80/20 with ``--seed``; labels are ``spam`` 1/0 and -1 for every other category;
3. prints, on the held-out 20%: the head with the default feature pipeline (F1, ROC-AUC, ...), a
   learning curve at 50/200/1,000/all labels (5 random label draws for the small sizes), the feature
   ablation over 5 split seeds, a comparison of calibration methods, and the cold-start prior's
   ROC-AUC with zero labels (with a re-fit of the constants in ``classifiers.priors``);
4. measures encoder throughput (long mails and short comments) and head training time on synthetic
   10,000 x 384 features with 7 categories, with the torch thread count.

No Django, no database, nothing downloaded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.isotonic import IsotonicRegression  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from classifiers import priors  # noqa: E402
from classifiers.corpora import READER_VERSION, read_mail, spamassassin_files  # noqa: E402
from classifiers.head_training import fit_platt, train_head  # noqa: E402
from classifiers.heads import Head, HeadConfig, evaluate, expected_calibration_error  # noqa: E402
from classifiers.inference import text as text_model  # noqa: E402

MAX_BODY_CHARS = 19_000
SEEDED = "classifiers/migrations/0002_seed_policy_categories.py"
SLUGS = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]
ABLATION_SEEDS = (0, 1, 2, 3, 4)
LEARNING_CURVE = (50, 200, 1000)
DRAWS = 5
SHORT_TEXTS = [
    "Click the link in my bio for free followers, limited spots left today only.",
    "Great tutorial, the part about color grading finally made sense to me.",
    "You are the worst streamer on this platform and everyone in chat knows it.",
    "Does anyone know when the next episode drops? The cliffhanger was brutal.",
    "Selling verified accounts with 10k followers, cheap, message me on telegram.",
    "Thanks for sharing, I tried the recipe and my kids loved it.",
    "Work from home and earn $500 a day, no experience needed, ask me how.",
    "I think the referee made the right call, the replay was pretty clear.",
]


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    is_spam: np.ndarray  # bool (n,)
    embeddings: np.ndarray  # float32 (n, 384)
    profanity: np.ndarray  # float32 (n,)
    duplicates_dropped: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "var" / "datasets" / "spam-assassin")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split and label draws")
    # Smaller settings make the tiny configuration CI runs on a few dozen mails (tests/bench/).
    parser.add_argument(
        "--curve", default=",".join(map(str, LEARNING_CURVE)), help="label counts of the learning curve (comma list)"
    )
    parser.add_argument("--draws", type=int, default=DRAWS, help="label draws per learning-curve size")
    parser.add_argument("--splits", type=int, default=len(ABLATION_SEEDS), help="split seeds of the feature ablation")
    parser.add_argument(
        "--synthetic-rows", type=int, default=10_000, help="rows of the synthetic head-training timing (0: skip it)"
    )
    parser.add_argument("--encoder-sample", type=int, default=256, help="mails and comments of the encoder timing")
    args = parser.parse_args()
    curve = [int(size) for size in args.curve.split(",") if size.strip()]
    ablation_seeds = tuple(range(args.splits))
    cache_dir = cache_folder()

    print_machine()
    started, cpu = time.perf_counter(), time.process_time()
    text_model.load_encoder()
    encoder_load = (time.perf_counter() - started, time.process_time() - cpu)
    corpus = load_corpus(args.corpus, cache_dir)
    y = corpus.is_spam
    print(
        f"corpus: {len(y)} distinct messages, {y.sum()} spam ({y.mean():.1%}), "
        f"{corpus.duplicates_dropped} exact duplicates dropped"
    )
    train, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=args.seed)
    print(f"split: {len(train)} train / {len(test)} held out, stratified, seed {args.seed}")

    started = time.perf_counter()
    pipelines = {
        "embedding only": text_model.TextFeatures(),
        "+ hashed word 1-2-grams": text_model.TextFeatures(ngram_buckets=2048, ngram_analyzer="word"),
        "+ hashed char 3-5-grams": text_model.TextFeatures(
            ngram_buckets=2048, ngram_analyzer="char_wb", ngram_range=(3, 5)
        ),
        "+ profanity score": text_model.TextFeatures(profanity=True),
    }
    default = text_model.DEFAULT_FEATURES
    if default not in pipelines.values():
        pipelines[f"default: {describe(default)}"] = default
    if not default.profanity and default.ngram_buckets:
        pipelines["default + profanity score"] = replace(default, profanity=True)
    features = {
        name: text_model.build_features(corpus.embeddings, corpus.texts, spec, profanity=corpus.profanity)
        for name, spec in pipelines.items()
    }
    print(f"features: built {len(features)} pipelines in {time.perf_counter() - started:.1f} s")
    default_x = features[next(name for name, spec in pipelines.items() if spec == default)]

    section("Head, default pipeline, all training labels, held-out split")
    config = HeadConfig()
    print(f"features: {describe(default)} ({default.dim} dims); head: {config}")
    started = time.perf_counter()
    head = train_head(default_x[train], labels(y[train]), categories=SLUGS, config=config)
    elapsed = time.perf_counter() - started
    report = spam_report(head, default_x[test], y[test])
    print(
        f"trained on {len(train)} labels in {elapsed:.1f} s ({torch.get_num_threads()} torch threads); "
        f"head categories: {head.categories} (the other 6 have no labels: left to the prior)"
    )
    print(format_report(report))

    section("Learning curve (default pipeline, same held-out split)")
    rng = np.random.default_rng(args.seed)
    for size in (*[size for size in curve if size < len(train)], len(train)):
        draws = 1 if size == len(train) else args.draws
        scores = []
        for _ in range(draws):
            rows = train if size == len(train) else stratified_sample(train, y, size, rng)
            fitted = train_head(default_x[rows], labels(y[rows]), categories=SLUGS, config=config)
            result = spam_report(fitted, default_x[test], y[test])
            scores.append((result["f1"] or 0.0, result["roc_auc"], result["ece"]))
        print(f"{size:>6} labels ({draws} draw{'s' if draws > 1 else ''}): {mean_std(scores)}")

    section(f"Feature ablation (linear head, {len(ablation_seeds)} stratified 80/20 splits, mean ± std)")
    for name, x in features.items():
        scores, seconds = [], []
        for seed in ablation_seeds:
            fit_rows, held_out = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
            started = time.perf_counter()
            fitted = train_head(x[fit_rows], labels(y[fit_rows]), categories=SLUGS, config=config)
            seconds.append(time.perf_counter() - started)
            result = spam_report(fitted, x[held_out], y[held_out])
            scores.append((result["f1"], result["roc_auc"], result["ece"]))
        print(f"{name:<48} {x.shape[1]:>5} dims  {mean_std(scores)}  train {np.mean(seconds):.1f} s")
    started = time.perf_counter()
    hidden = HeadConfig(hidden=64, epochs=100)
    fit_rows, held_out = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=ablation_seeds[0])
    fitted = train_head(features["embedding only"][fit_rows], labels(y[fit_rows]), categories=SLUGS, config=hidden)
    seconds = time.perf_counter() - started
    result = spam_report(fitted, features["embedding only"][held_out], y[held_out])
    print(
        f"{'embedding only, MLP head (hidden=64), split 0':<48} {384:>5} dims  {format_short(result)}  "
        f"train {seconds:.1f} s"
    )

    section("Calibration (default pipeline): ECE on the held-out split, 10 bins")
    compare_calibration(default_x, y, train, test, sizes=sorted({min(200, len(train)), len(train)}), seed=args.seed)

    section("Cold-start prior, zero labels (spam policy description vs every message)")
    measure_prior(corpus)

    section("Speed")
    print(f"encoder load: {encoder_load[0]:.1f} s wall, {encoder_load[1]:.1f} s CPU (once per process)")
    measure_encoder(corpus, seed=args.seed, sample=args.encoder_sample)
    if args.synthetic_rows:
        measure_head_training(args.synthetic_rows)


# ------------------------------------------------------------------------------------------------
# Corpus and cache


def cache_folder() -> Path:
    """Where the embeddings are cached: ``$VAR_DIR/cache`` (``var/cache`` by default), shared by the benchmarks."""
    return Path(os.environ.get("VAR_DIR", ROOT / "var")) / "cache"


def corpus_key(root: Path, files: list[Path]) -> str:
    # The reader's version only from version 2 on, so that caches of version 1 keep their names.
    reader = f"|reader {READER_VERSION}" if READER_VERSION > 1 else ""
    digest = hashlib.sha256(f"{text_model.BACKBONE}|{text_model.MAX_CHARS}|{MAX_BODY_CHARS}{reader}".encode())
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:24]


def load_corpus(root: Path, cache_dir: Path) -> Corpus:
    files = spamassassin_files(root)
    if not files:
        raise SystemExit(f"no SpamAssassin messages under {root} (run scripts/fetch-datasets.sh)")
    cache = cache_dir / f"spamassassin-{corpus_key(root, files)}.npz"
    if cache.exists():
        data = np.load(cache)
        texts = json.loads(data["texts_json"].tobytes().decode("utf-8"))
        print(f"corpus: {len(files)} files, embeddings from cache {cache}")
        return Corpus(texts, data["is_spam"], data["embeddings"], data["profanity"], int(data["duplicates_dropped"]))
    started = time.perf_counter()
    texts, is_spam, seen = [], [], set()
    for path in files:
        mail = read_mail(path, max_body_chars=MAX_BODY_CHARS)
        if mail.text in seen:  # exact re-sends would sit on both sides of the split
            continue
        seen.add(mail.text)
        texts.append(mail.text)
        is_spam.append(mail.is_spam)
    dropped = len(files) - len(texts)
    print(f"corpus: read {len(files)} files in {time.perf_counter() - started:.0f} s; embedding (cache miss: {cache})")
    started = time.perf_counter()
    chunks: list[np.ndarray] = []
    for start in range(0, len(texts), 512):
        chunks.append(text_model.embed_texts(texts[start : start + 512]))
        done = start + len(chunks[-1])
        print(f"  embedded {done}/{len(texts)} ({done / (time.perf_counter() - started):.1f} texts/s)", flush=True)
    embeddings = np.concatenate(chunks)
    profanity = priors.profanity_probability(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial.npz")
    np.savez_compressed(
        partial,
        texts_json=np.frombuffer(json.dumps(texts).encode("utf-8"), dtype=np.uint8),
        is_spam=np.array(is_spam, dtype=bool),
        embeddings=embeddings,
        profanity=profanity,
        duplicates_dropped=np.array(dropped),
    )
    partial.replace(cache)
    return Corpus(texts, np.array(is_spam, dtype=bool), embeddings, profanity, dropped)


# ------------------------------------------------------------------------------------------------
# Measurements


def compare_calibration(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, *, sizes, seed: int) -> None:
    """Fit the head on 80% of the training labels uncalibrated, then each calibrator on the other 20%."""
    rng = np.random.default_rng(seed + 1)
    truth = y[test]
    for size in sizes:
        rows = train if size >= len(train) else stratified_sample(train, y, size, rng)
        fit_rows, calibration_rows = train_test_split(rows, test_size=0.2, stratify=y[rows], random_state=seed)
        positives = y[fit_rows].sum()
        pos_weight = (len(fit_rows) - positives) / positives
        head = train_head(x[fit_rows], labels(y[fit_rows]), categories=SLUGS, config=HeadConfig(calibration_folds=0))
        z_cal = head.logits(x[calibration_rows])[:, 0]
        z_test = head.logits(x[test])[:, 0]
        cal_truth = y[calibration_rows].astype(int)
        temperature = fit_temperature(z_cal, cal_truth)
        slope, bias = fit_platt(z_cal, cal_truth)
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(z_cal, cal_truth)
        methods = {
            "none (sigmoid of the pos_weight-trained logit)": sigmoid(z_test),
            "bias -log(pos_weight) only": sigmoid(z_test - np.log(pos_weight)),
            f"temperature only (T={temperature:.2f})": sigmoid(z_test / temperature),
            f"Platt MAP, the default (slope {slope:.2f}, bias {bias:.2f})": sigmoid(slope * z_test + bias),
            "isotonic regression": isotonic.predict(z_test),
        }
        print(f"{len(rows)} labels ({len(fit_rows)} fit, {len(calibration_rows)} calibrate):")
        for name, probs in methods.items():
            f1 = evaluate(probs[:, None], truth[:, None].astype(int), categories=["spam"])["spam"]["f1"]
            print(
                f"  {name:<52} ECE {expected_calibration_error(probs, truth):.4f}  "
                f"ROC-AUC {roc_auc_score(truth, probs):.4f}  F1@0.5 {f1:.4f}"
            )


def measure_prior(corpus: Corpus) -> None:
    categories = load_seeded_categories()
    slugs = list(categories)
    policies = text_model.embed_texts(list(categories.values()))
    y = corpus.is_spam
    prior = priors.text_prior(corpus.embeddings, policies, slugs, profanity=corpus.profanity)
    cosine = corpus.embeddings @ (policies / np.linalg.norm(policies, axis=1, keepdims=True)).T
    spam = prior[:, slugs.index("spam")]
    report = evaluate(spam[:, None], y[:, None].astype(int), categories=["spam"])["spam"]
    print(
        f"spam prior:       ROC-AUC {report['roc_auc']:.4f}  PR-AUC {report['pr_auc']:.4f}  "
        f"F1@0.5 {report['f1']:.4f}  ECE {report['ece']:.4f}"
    )
    scam = prior[:, slugs.index("scam_fraud")]
    print(f"scam_fraud prior: ROC-AUC {roc_auc_score(y, scam):.4f} for spam (SpamAssassin spam includes scams)")
    print(f"max(spam, scam_fraud) prior: ROC-AUC {roc_auc_score(y, np.maximum(spam, scam)):.4f}")
    print(f"profanity-check alone: ROC-AUC {roc_auc_score(y, corpus.profanity):.4f} for spam")
    fit = LogisticRegression(C=1e4).fit(cosine[:, [slugs.index("spam")]], y)
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    print(
        f"logistic re-fit on cosine (unweighted): slope {slope:.2f}, center {-intercept / slope:.3f}  "
        f"(priors.py uses SLOPE {priors.SLOPE}, CENTER {priors.CENTER})"
    )
    print(
        f"cosine to the spam policy: median {np.median(cosine[y, 0]):.3f} for spam, "
        f"{np.median(cosine[~y, 0]):.3f} for ham"
    )
    print(f"PR-AUC baseline (spam share) {y.mean():.4f}; AP of the prior {average_precision_score(y, spam):.4f}")


def measure_encoder(corpus: Corpus, *, seed: int, sample: int) -> None:
    threads = torch.get_num_threads()
    rng = np.random.default_rng(seed)
    mails = [corpus.texts[i] for i in rng.choice(len(corpus.texts), min(sample, len(corpus.texts)), replace=False)]
    comments = (SHORT_TEXTS * (sample // len(SHORT_TEXTS) + 1))[:sample]
    text_model.embed_texts(comments[:32])  # warm-up
    for name, texts in (
        (f"mails ({len(mails)} random corpus messages, most cut at 256 word pieces)", mails),
        (f"short comments ({len(comments)} of ~15 words)", comments),
    ):
        with Stopwatch() as watch:
            text_model.embed_texts(texts)
        print(f"encoder, {name}: {watch.rate(len(texts))} ({threads} torch threads, batch 32)")
    with Stopwatch() as watch:
        priors.profanity_probability(mails)
    print(f"profanity-check on the same mails: {watch.rate(len(mails))}")
    with Stopwatch() as watch:
        text_model.build_features(np.zeros((len(mails), 384), np.float32), mails, text_model.DEFAULT_FEATURES)
    print(f"default lexical features on the same mails: {watch.rate(len(mails))}")


def measure_head_training(n: int) -> None:
    rng = np.random.default_rng(0)
    dim, categories = 384, 7
    x = rng.standard_normal((n, dim)).astype(np.float32)
    teacher = rng.standard_normal((dim, categories)) / np.sqrt(dim) * 3
    logits = x @ teacher - np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    y = (rng.random((n, categories)) < 1 / (1 + np.exp(-logits))).astype(np.int8)
    y[rng.random((n, categories)) < 0.3] = -1  # a realistic share of unknown labels
    slugs = [f"c{j}" for j in range(categories)]
    threads = torch.get_num_threads()
    for config in (HeadConfig(), HeadConfig(hidden=64, epochs=100), HeadConfig(hidden=256)):
        passes: list[int] = []
        with Stopwatch() as watch:
            train_head(x, y, categories=slugs, config=config, progress=lambda done, loss, log=passes: log.append(done))
        kind = "linear" if config.hidden == 0 else f"MLP hidden={config.hidden}, epochs={config.epochs}"
        print(
            f"head training, {n:,} x 384 x 7 synthetic, {kind}: {watch} for {len(passes)} passes "
            f"({threads} torch threads, calibration included)"
        )
    cold = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time, torch; t = time.perf_counter(); import torch._dynamo; print(time.perf_counter() - t)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    print(
        f"plus, once per process: torch's optimizer imports torch._dynamo on first use, {float(cold.stdout):.1f} s wall"
    )


class Stopwatch:
    """Wall and CPU time of a block; on a shared machine the CPU time is the steadier figure."""

    def __enter__(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rate(self, count: int) -> str:
        return f"{count / self.wall:.1f} texts/s wall ({self.wall:.1f} s wall, {self.cpu:.1f} s CPU for {count})"

    def __str__(self) -> str:
        return f"{self.wall:.1f} s wall ({self.cpu:.1f} s CPU)"


# ------------------------------------------------------------------------------------------------
# Helpers


def labels(is_spam: np.ndarray) -> np.ndarray:
    """``spam`` known for every row, every other category unknown (-1)."""
    matrix = np.full((len(is_spam), len(SLUGS)), -1, dtype=np.int8)
    matrix[:, 0] = is_spam.astype(np.int8)
    return matrix


def spam_report(head: Head, x: np.ndarray, is_spam: np.ndarray) -> dict:
    """Held-out metrics of the head's ``spam`` column (the head holds only the categories it was trained on)."""
    probs = head.predict_proba(x)[:, [head.categories.index("spam")]]
    return evaluate(probs, is_spam.astype(np.int8)[:, None], categories=["spam"])["spam"]


def stratified_sample(rows: np.ndarray, y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    picked, _ = train_test_split(rows, train_size=size, stratify=y[rows], random_state=int(rng.integers(1 << 31)))
    return picked


def fit_temperature(z: np.ndarray, truth: np.ndarray) -> float:
    candidates = np.exp(np.linspace(np.log(0.05), np.log(20), 400))
    losses = [log_loss(sigmoid(z / t), truth) for t in candidates]
    return float(candidates[int(np.argmin(losses))])


def log_loss(p: np.ndarray, truth: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(truth * np.log(p) + (1 - truth) * np.log(1 - p)))


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def load_seeded_categories() -> dict[str, str]:
    """The seeded policy descriptions, read from the migration without importing Django."""
    source = (ROOT / SEEDED).read_text()
    start = source.index("CATEGORIES = [")
    namespace: dict = {}
    exec(source[start : source.index("\n]\n", start) + 3], namespace)  # a literal list of tuples
    return {slug: description for slug, _, _, description in namespace["CATEGORIES"]}


def describe(spec: text_model.TextFeatures) -> str:
    parts = ["embedding"]
    if spec.ngram_buckets:
        parts.append(
            f"{spec.ngram_buckets} hashed {spec.ngram_analyzer} {spec.ngram_range[0]}-{spec.ngram_range[1]}-grams"
        )
    if spec.profanity:
        parts.append("profanity score")
    return " + ".join(parts)


def format_report(report: dict) -> str:
    support = report["support"]
    return (
        f"spam, held out: F1 {report['f1']:.4f}  precision {report['precision']:.4f}  recall {report['recall']:.4f}  "
        f"ROC-AUC {report['roc_auc']:.4f}  PR-AUC {report['pr_auc']:.4f}  ECE {report['ece']:.4f}  "
        f"Brier {report['brier']:.4f}  ({support['positives']} spam / {support['negatives']} ham)"
    )


def format_short(report: dict) -> str:
    return f"F1 {report['f1']:.4f}  ROC-AUC {report['roc_auc']:.4f}  ECE {report['ece']:.4f}"


def mean_std(scores: list[tuple[float, float, float]]) -> str:
    values = np.array(scores, dtype=np.float64)
    mean, std = values.mean(axis=0), values.std(axis=0)
    return f"F1 {mean[0]:.4f} ± {std[0]:.4f}  ROC-AUC {mean[1]:.4f} ± {std[1]:.4f}  ECE {mean[2]:.4f} ± {std[2]:.4f}"


def section(title: str) -> None:
    print(f"\n== {title}")


def print_machine() -> None:
    memory = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"date: {date}")
    print(
        f"machine: nproc {len(os.sched_getaffinity(0))}, CPU {model}, RAM {int(memory.split()[1]) / 1024**2:.1f} GiB, "
        f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; encoder {text_model.BACKBONE}")


if __name__ == "__main__":
    main()
