#!/usr/bin/env python
"""The text prior with zero labels on SpamAssassin: does it stay low on ordinary mail, does it rank spam?

    .venv/bin/python bench/text_cold_start.py [var/datasets/spam-assassin] [--limit N]

Reads the corpus and its MiniLM embeddings through ``bench/text_quality.py``'s cache (the same
distinct mails), embeds the seeded policy descriptions, the default seed examples and the neutral
examples, and prints for the old prior (``classifiers.priors``) and the new one
(``classifiers.cold_start``) side by side:

* per category, the share of ham mails whose prior exceeds 0.5 (the target: at most 5 % each);
* for spam with zero labels: PR-AUC (average precision), ROC-AUC and F1 at 0.5 of the spam prior,
  and of max(spam, scam_fraud), since SpamAssassin's spam includes scams;
* which signal the new prior's scores came from.

``--limit`` takes a stratified sample (the tiny CI configuration embeds a few mails instead of the
cache). No Django, no database, nothing downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score  # noqa: E402
from text_quality import load_corpus, load_seeded_categories  # noqa: E402

from classifiers import cold_start, priors, seed_examples  # noqa: E402
from classifiers.inference import text as text_model  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", type=Path, default=ROOT / "var" / "datasets" / "spam-assassin")
    parser.add_argument("--limit", type=int, default=0, help="Embed a stratified sample of N mails, no cache.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tuned-labels",
        type=int,
        default=0,
        help="Also tune the encoder's last layer on N spam/ham labels (as retraining does) and measure the prior of "
        "the other categories in that space on the held-out ham.",
    )
    args = parser.parse_args(argv)
    texts, is_spam, embeddings, profanity = corpus_arrays(args.corpus, args.limit, args.seed)
    ham = ~is_spam
    tuned = tuning_half(args.corpus, texts)
    print(f"mails: {len(texts)} ({int(is_spam.sum())} spam, {int(ham.sum())} ham)")
    descriptions = load_seeded_categories()
    slugs = list(descriptions)
    evidence, neutral = category_evidence(descriptions, text_model.BACKBONE)
    old = priors.text_prior(embeddings, np.stack([e.description for e in evidence]), slugs, profanity=profanity)
    new = cold_start.cold_start_prior(embeddings, evidence, neutral, texts=texts, profanity=profanity)
    if args.tuned_labels:
        prior_in_tuned_space(texts, is_spam, profanity, descriptions, new.probabilities, args.tuned_labels, args.seed)

    print("\n== Ham mails with a prior above 0.5, per category (target: at most 5 %)")
    print("    the new prior's constants were chosen on spam-1 + easy-ham-1; 'other half' is the rest")
    print(f"    {'category':<12} {'old prior':>10} {'new prior':>10} {'new, other half':>16}")
    other_ham = ham & ~tuned
    for j, slug in enumerate(slugs):
        print(
            f"    {slug:<12} {share(old[ham, j] > 0.5):>10} {share(new.probabilities[ham, j] > 0.5):>10} "
            f"{share(new.probabilities[other_ham, j] > 0.5) if other_ham.any() else '-':>16}"
        )
    worst = max(float((new.probabilities[ham, j] > 0.5).mean()) for j in range(len(slugs)))
    print(f"    worst category, new prior: {worst:.1%} of ham mails")

    print("\n== Spam with zero labels")
    spam_j, scam_j = slugs.index("spam"), slugs.index("scam_fraud")
    for label, scores in (
        ("old spam prior", old[:, spam_j]),
        ("old max(spam, scam)", np.maximum(old[:, spam_j], old[:, scam_j])),
        ("new spam prior", new.probabilities[:, spam_j]),
        ("new max(spam, scam)", np.maximum(new.probabilities[:, spam_j], new.probabilities[:, scam_j])),
    ):
        other = ~tuned
        halves = (
            f"   other half: PR-AUC {average_precision_score(is_spam[other], scores[other]):.3f}"
            if other.any() and is_spam[other].any() and not is_spam[other].all()
            else ""
        )
        print(
            f"    {label:<22} PR-AUC {average_precision_score(is_spam, scores):.3f}  "
            f"ROC-AUC {roc_auc_score(is_spam, scores):.3f}  F1@0.5 {f1_score(is_spam, scores > 0.5):.3f}{halves}"
        )
    print(f"    (PR-AUC of a random ranking: {is_spam.mean():.3f})")
    structure = cold_start.structure_score(texts)
    print(f"    structure signal alone: PR-AUC {average_precision_score(is_spam, structure):.3f}")

    print("\n== Where the new prior's scores came from (spam column; all categories)")
    spam_sources = Counter(row[spam_j] for row in new.sources)
    all_sources = Counter(source for row in new.sources for source in row)
    print(f"    spam: {dict(spam_sources)}")
    print(f"    all:  {dict(all_sources)}")


def category_evidence(descriptions: dict[str, str], backbone: str) -> tuple[list, np.ndarray]:
    """Each category's embedded description and default seeds, and the neutral examples, in ``backbone``'s space."""
    vectors = text_model.embed_texts(list(descriptions.values()), backbone=backbone)
    evidence = [
        cold_start.CategoryEvidence(
            slug=slug,
            description=vectors[j],
            seeds=text_model.embed_texts(list(seed_examples.DEFAULT_SEEDS.get(slug, ())), backbone=backbone),
        )
        for j, slug in enumerate(descriptions)
    ]
    return evidence, text_model.embed_texts(list(seed_examples.NEUTRAL), backbone=backbone)


def prior_in_tuned_space(texts, is_spam, profanity, descriptions, packaged, labels: int, seed: int) -> None:
    """A tuned text version scores the categories it has no head for with the prior, in its own (tuned) space:
    does the prior still stay low on ordinary mail there? Tuned on ``labels`` spam/ham labels, measured on the
    ham it did not see, beside the packaged space's prior on the same mails."""
    import tempfile
    import time

    from classifiers.text_tuning import tune_text_encoder

    rng = np.random.default_rng(seed)
    train = np.zeros(len(texts), bool)
    train[rng.choice(len(texts), min(labels, len(texts) - 1), replace=False)] = True
    started = time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        tuned = tune_text_encoder(
            [texts[i] for i in np.flatnonzero(train)], is_spam[train, None].astype(int), Path(folder)
        )
        text_model.register_tuned_encoder(tuned.backbone, tuned.path)
        embeddings = text_model.embed_texts(list(texts), backbone=tuned.backbone)
        evidence, neutral = category_evidence(descriptions, tuned.backbone)
        text_model.forget_tuned_encoder(tuned.backbone)
    prior = cold_start.cold_start_prior(embeddings, evidence, neutral, texts=texts, profanity=profanity).probabilities
    held_ham = ~is_spam & ~train
    print(
        f"\n== In a tuned space: the last layer tuned on {int(train.sum())} spam/ham labels "
        f"({tuned.epochs:g} epochs, {time.process_time() - started:.0f} CPU s with embedding); "
        f"{int(held_ham.sum())} held-out ham mails with a prior above 0.5 (target: at most 5 %)"
    )
    print(f"    {'category':<12} {'packaged':>10} {'tuned':>10}")
    for j, slug in enumerate(descriptions):
        print(f"    {slug:<12} {share(packaged[held_ham, j] > 0.5):>10} {share(prior[held_ham, j] > 0.5):>10}")
    others = [j for j, slug in enumerate(descriptions) if slug != "spam"]
    worst = max(float((prior[held_ham, j] > 0.5).mean()) for j in others)
    print(f"    worst category without a head (all but spam), tuned space: {worst:.1%} of held-out ham mails")


def corpus_arrays(root: Path, limit: int, seed: int):
    if limit:
        from classifiers.corpora import read_mail, spamassassin_files

        files = spamassassin_files(root)
        rng = np.random.default_rng(seed)
        spam = [f for f in files if f.parent.name.startswith("spam")]
        ham = [f for f in files if not f.parent.name.startswith("spam")]
        chosen = list(rng.choice(spam, limit // 2, replace=False)) + list(
            rng.choice(ham, limit - limit // 2, replace=False)
        )
        mails = [read_mail(Path(f)) for f in chosen]
        texts = [m.text for m in mails]
        return (
            texts,
            np.array([m.is_spam for m in mails]),
            text_model.embed_texts(texts),
            priors.profanity_probability(texts),
        )
    corpus = load_corpus(root, Path(os.environ.get("VAR_DIR", ROOT / "var")) / "cache")
    return corpus.texts, np.asarray(corpus.is_spam, bool), corpus.embeddings, corpus.profanity


def tuning_half(root: Path, texts: list[str]) -> np.ndarray:
    """True for mails of spam-1 and easy-ham-1, the half the prior's constants were chosen on."""
    from classifiers.corpora import read_mail, spamassassin_files

    group_of = {}
    for path in spamassassin_files(root):
        group_of.setdefault(read_mail(path).text, path.parent.name)
    return np.array([group_of.get(text, "") in {"spam-1", "easy-ham-1"} for text in texts])


def share(mask: np.ndarray) -> str:
    return f"{float(np.mean(mask)):.1%}"


if __name__ == "__main__":
    main()
