#!/usr/bin/env python
"""MiniLM on ONNX Runtime (float32 and dynamic int8) against sentence-transformers on torch: speed and quality.

    .venv/bin/python bench/onnx_encoder.py [var/datasets/spam-assassin] [--threads 2] [--speed-mails 256]
        [--splits 5] [--limit N] [--speed-only]

1. Speed: the same mails (a stratified sample of the corpus, cut at the encoder's 4,096 characters)
   embedded by each encoder with ``--threads`` threads; mails per wall second and per CPU second
   (process time, all threads), and the ratio to torch in the same run.
2. Agreement: cosine between each encoder's embedding and torch's, per mail.
3. Quality: the project's text head (``train_text_head``, default features) trained and evaluated on
   ``--splits`` stratified 80/20 splits with each encoder's embeddings; F1 at 0.5 and PR-AUC for spam,
   mean over splits, and the int8 - torch difference per split. Also a head trained on torch
   embeddings and scored on int8 ones (what a switch without retraining would do).

``--speed-only`` stops after part 1 (the quality parts embed the whole corpus with each encoder, which
takes many minutes; their figures do not change when only session options change).
Torch embeddings come from ``bench/text_quality.py``'s cache; the ONNX embeddings of the whole
corpus are cached beside it. ``--limit`` uses a stratified sample of N mails, no cache (CI's tiny run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.model_selection import StratifiedShuffleSplit  # noqa: E402
from text_cold_start import corpus_arrays  # noqa: E402
from text_quality import MAX_BODY_CHARS  # noqa: E402

from classifiers.corpora import read_mail, spamassassin_files  # noqa: E402
from classifiers.heads import evaluate  # noqa: E402
from classifiers.inference import onnx_text  # noqa: E402
from classifiers.inference import text as text_model  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "var" / "datasets" / "spam-assassin")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speed-mails", type=int, default=256)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--speed-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cache_dir = Path(os.environ.get("VAR_DIR", ROOT / "var")) / "cache"
    if args.speed_only and not args.limit:
        texts = corpus_texts(args.corpus)  # the same deduplicated mails as the cache, without embedding them
    else:
        texts, is_spam, _, _ = corpus_arrays(args.corpus, args.limit, 0)
        # The reference is sentence-transformers in float32, named explicitly: the default encoder is now int8.
        torch_vectors = cached_embeddings(_TorchEncoder(), texts, cache_dir, "torch fp32", args.limit)
    print(f"mails: {len(texts)}; threads {args.threads}")
    encoders = {
        "onnx fp32": onnx_text.load_encoder("fp32", cache_dir / "onnx", threads=args.threads),
        "onnx int8": onnx_text.load_encoder("int8", cache_dir / "onnx", threads=args.threads),
    }

    print(f"\n== Speed: {min(args.speed_mails, len(texts))} mails, batch 32, {args.threads} threads")
    sample = np.random.default_rng(1).permutation(len(texts))[: args.speed_mails]
    speed_texts = [texts[i] for i in sample]
    runs = {"torch fp32": _TorchEncoder().embed, **{name: e.embed for name, e in encoders.items()}}
    for embed in runs.values():
        embed(speed_texts[:8])  # warm-up
    # Batches alternate between the encoders, so load from other processes falls on all of them alike.
    wall = dict.fromkeys(runs, 0.0)
    cpu = dict.fromkeys(runs, 0.0)
    for start in range(0, len(speed_texts), 32):
        for name, embed in runs.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            embed(speed_texts[start : start + 32])
            wall[name] += time.perf_counter() - started
            cpu[name] += time.process_time() - cpu_started
    rates = {}
    for name in runs:
        rates[name] = len(speed_texts) / cpu[name]
        print(
            f"    {name:<11} {len(speed_texts) / wall[name]:7.1f} mails/s wall  "
            f"{rates[name]:7.1f} mails per CPU-second  "
            f"({cpu[name] / len(speed_texts) * 1000:.0f} ms CPU per mail)"
        )
    for name in encoders:
        print(f"    {name} / torch fp32, mails per CPU-second: {rates[name] / rates['torch fp32']:.2f}x")
    if args.speed_only:
        return

    vectors = {"torch fp32": torch_vectors}
    for name, encoder in encoders.items():
        vectors[name] = cached_embeddings(encoder, texts, cache_dir, name, args.limit)
    print("\n== Agreement with torch fp32 (cosine per mail)")
    for name in encoders:
        cosine = (vectors[name] * torch_vectors).sum(axis=1)
        print(f"    {name:<11} min {cosine.min():.4f}  p1 {np.percentile(cosine, 1):.4f}  mean {cosine.mean():.4f}")

    print(f"\n== Spam head (default features) on {args.splits} stratified 80/20 splits")
    splitter = StratifiedShuffleSplit(n_splits=args.splits, test_size=0.2, random_state=0)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in [*vectors, "torch head on int8"]}
    for train, test in splitter.split(np.zeros(len(texts)), is_spam):
        y = is_spam.astype(int)[:, None]
        for name, x in vectors.items():
            head = text_model.train_text_head(x[train], [texts[i] for i in train], y[train], categories=["spam"])
            results[name].append(score(head, x[test], [texts[i] for i in test], y[test]))
            if name == "torch fp32":
                int8 = vectors["onnx int8"]
                results["torch head on int8"].append(score(head, int8[test], [texts[i] for i in test], y[test]))
    base = np.array(results["torch fp32"])
    for name, rows in results.items():
        values = np.array(rows)
        diff = values - base
        print(
            f"    {name:<19} F1 {values[:, 0].mean():.4f}  PR-AUC {values[:, 1].mean():.4f}   "
            f"vs torch: F1 {diff[:, 0].mean() * 100:+.2f} points (worst {diff[:, 0].min() * 100:+.2f}), "
            f"PR-AUC {diff[:, 1].mean():+.4f} (worst {diff[:, 1].min():+.4f})"
        )


def corpus_texts(root: Path) -> list[str]:
    texts: list[str] = []
    seen: set[str] = set()
    for path in spamassassin_files(root):
        text = read_mail(path, max_body_chars=MAX_BODY_CHARS).text
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def score(head, x: np.ndarray, texts: list[str], y: np.ndarray) -> tuple[float, float]:
    report = evaluate(text_model.text_head_proba(head, x, texts), y, categories=["spam"])["spam"]
    return float(report["f1"]), float(report["pr_auc"])


def cached_embeddings(encoder, texts: list[str], cache_dir: Path, name: str, limit: int) -> np.ndarray:
    if limit:
        return encoder.embed(texts)
    import hashlib

    key = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"spamassassin-{name.replace(' ', '-')}-{key}.npy"
    if path.exists():
        return np.load(path)
    started = time.perf_counter()
    vectors = encoder.embed(texts)
    print(f"    embedded {len(texts)} mails with {name} in {time.perf_counter() - started:.0f} s (cached: {path})")
    np.save(path, vectors)
    return vectors


if __name__ == "__main__":
    main()


class _TorchEncoder:
    """sentence-transformers in float32, whatever TEXT_ENCODER says."""

    def embed(self, texts: list[str]) -> np.ndarray:
        return text_model.embed_texts(texts, backbone=text_model.ENCODER_BACKBONES["torch"])
