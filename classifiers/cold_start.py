"""The text prior before a category has labels: low by default, raised only by evidence, and saying which.

The old prior turned the cosine between an item and the policy description straight into a
probability, with one curve fitted at SpamAssassin's 30 % spam rate; on ordinary mail that put
unrelated categories above 0.5 (bench/RESULTS.md). Here every category starts from a low base rate
and each signal adds log-odds only when it is evidence:

* **similarity**: how much closer the item is to the category (its description and its seed
  examples, ``classifiers.seed_examples``, which admins edit) than to ordinary content (``NEUTRAL``).
  Comparing with ordinary content matters: long mails are moderately similar to everything, and an
  absolute cosine mostly measures that. Only the margin above ``MARGIN_FLOOR`` counts;
* **structure** (spam and scams): marketing and money phrases and shouting, counted with regular
  expressions (``structure_score``);
* **profanity** (harassment and hate): ``alt-profanity-check``'s probability, as before.

The result is capped at ``CAP``: a prior may order a cold queue, it must not auto-act. ``source``
names the signal that added the most log-odds, or "base rate" when none did, so a reviewer sees why.

Pure numpy and regular expressions; no Django, no model loading.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Share of reported content assumed to violate a category before any label says otherwise.
BASE_RATES: dict[str, float] = {
    "spam": 0.05,
    "scam_fraud": 0.03,
    "harassment": 0.03,
    "hate": 0.02,
    "sexual": 0.03,
    "violence": 0.02,
    "self_harm": 0.01,
}
DEFAULT_BASE_RATE = 0.02
CAP = 0.9
# Log-odds per unit of similarity margin above the floor: a margin of 0.3 adds 3, which takes a 5 % base
# rate to about 0.5. Chosen with PHRASE_LOGIT on half of SpamAssassin (spam-1, easy-ham-1) and checked
# on the other half (bench/text_cold_start.py prints both).
SIMILARITY_SLOPE = 10.0
MARGIN_FLOOR = 0.0
SEED_TOP_K = 2
# For harassment and hate: log-odds added at profanity probability 1 (scaled linearly below it).
PROFANITY_LOGIT: dict[str, float] = {"harassment": 4.0, "hate": 1.5}
STRUCTURE_SLUGS: dict[str, float] = {"spam": 1.0, "scam_fraud": 0.6}

SOURCES = ("base rate", "similarity", "structure", "profanity")

# Marketing and money phrases, each counted once per text. Links are not among the signals: in mail
# they are weaker than nothing (85 % of SpamAssassin's ham carries one, mailing-list footers, against
# 57 % of its spam, whose HTML links the reader strips with the tags).
PHRASES: tuple[str, ...] = (
    r"click (?:here|below|the link)", r"act now", r"limited (?:time|offer)", r"order (?:now|today)", r"\bfree\b",
    r"guarantee[ds]?", r"opt[- ]?(?:in|out)", r"remove(?:d)? from (?:our|this|the) (?:mailing )?list",
    r"special (?:offer|promotion)", r"no obligation", r"risk[- ]free", r"congratulations", r"100%",
    r"[$€£]\s?\d[\d,.]*", r"(?:million|billion)\s+(?:dollars|usd)", r"bank account", r"credit card", r"\bcash\b",
    r"per (?:week|month|day)", r"earn \$?\d", r"\bviagra\b", r"mortgage", r"\bloans?\b", r"\bincome\b",
    r"dear (?:friend|sir|madam)", r"work(?:ing)? from home", r"weight loss|lose weight", r"\bdebt\b",
    r"\binsurance\b", r"lowest (?:price|rate)", r"!!+", r"\bdiscount\b",
)  # fmt: skip
# Matched against the lower-cased text, so the patterns are lower case: 32 case-insensitive searches of a
# 4,000-character mail took 0.5 ms, a third more than lower-casing it once and searching it case-sensitively.
_PHRASES = tuple(re.compile(pattern) for pattern in PHRASES)
PHRASE_LOGIT, PHRASE_CAP, SHOUTING_LOGIT = 0.8, 4, 1.0
_LETTERS = re.compile(r"[A-Za-z]")
_UPPER = re.compile(r"[A-Z]")


@dataclass(frozen=True)
class CategoryEvidence:
    """What the prior compares items with for one category: its description's and seed examples' embeddings."""

    slug: str
    description: np.ndarray  # (d,)
    seeds: np.ndarray  # (k, d); k may be 0


@dataclass(frozen=True)
class Prior:
    probabilities: np.ndarray  # (n, C) float32
    sources: list[list[str]]  # per item, per category: one of SOURCES


def structure_score(texts: Sequence[str]) -> np.ndarray:
    """Log-odds of "this is promotion or a money scheme" from surface features, float64 (n,), 0 for plain text.

    Each distinct phrase of ``PHRASES`` found adds ``PHRASE_LOGIT``, up to ``PHRASE_CAP`` phrases, so a long
    newsletter cannot pile up evidence by repetition; a text whose letters are more than 30 % capitals
    adds ``SHOUTING_LOGIT``.
    """
    scores = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        lowered = text.lower()
        phrases = sum(1 for pattern in _PHRASES if pattern.search(lowered))
        letters = len(_LETTERS.findall(text[:5000]))
        shouting = letters >= 40 and len(_UPPER.findall(text[:5000])) / letters > 0.3
        scores[i] = PHRASE_LOGIT * min(phrases, PHRASE_CAP) + (SHOUTING_LOGIT if shouting else 0.0)
    return scores


def cold_start_prior(
    item_embeddings: np.ndarray,
    categories: Sequence[CategoryEvidence],
    neutral: np.ndarray,
    *,
    texts: Sequence[str],
    profanity: np.ndarray | None = None,
    base_rates: dict[str, float] | None = None,
) -> Prior:
    """Prior probabilities ``(n, len(categories))`` and, per score, the signal it came from.

    ``item_embeddings`` (n, d), the categories' embeddings and ``neutral`` (m, d) come from the same
    encoder. ``profanity`` (n,) is needed when a category has a profanity weight.
    """
    items = _normalise(np.asarray(item_embeddings, dtype=np.float64))
    if items.ndim != 2 or len(items) != len(texts):
        raise ValueError(f"need one (n, d) embedding per text; got {items.shape} for {len(texts)} texts")
    rates = {**BASE_RATES, **(base_rates or {})}
    ordinary = _top_k_mean(items @ _normalise(np.asarray(neutral, dtype=np.float64)).T, SEED_TOP_K)
    structure = structure_score(texts) if any(c.slug in STRUCTURE_SLUGS for c in categories) else None
    if any(c.slug in PROFANITY_LOGIT for c in categories) and profanity is None:
        raise ValueError("the harassment and hate priors need the offensive-language probability of each item")
    n = len(items)
    probabilities = np.zeros((n, len(categories)), dtype=np.float32)
    sources = [["base rate"] * len(categories) for _ in range(n)]
    for j, category in enumerate(categories):
        base = rates.get(category.slug, DEFAULT_BASE_RATE)
        references = [_normalise(np.asarray(category.description, dtype=np.float64))[None, :]]
        if len(category.seeds):
            references.append(_normalise(np.asarray(category.seeds, dtype=np.float64)))
        similarity = _top_k_mean(items @ np.concatenate(references).T, SEED_TOP_K)
        contributions = np.zeros((n, len(SOURCES)), dtype=np.float64)
        contributions[:, 1] = SIMILARITY_SLOPE * np.maximum(similarity - ordinary - MARGIN_FLOOR, 0.0)
        if structure is not None and category.slug in STRUCTURE_SLUGS:
            contributions[:, 2] = STRUCTURE_SLUGS[category.slug] * structure
        if category.slug in PROFANITY_LOGIT:
            contributions[:, 3] = PROFANITY_LOGIT[category.slug] * np.asarray(profanity, dtype=np.float64).reshape(n)
        logit = math.log(base / (1.0 - base)) + contributions.sum(axis=1)
        probabilities[:, j] = np.minimum(CAP, 0.5 * (1.0 + np.tanh(0.5 * logit)))
        strongest = contributions.argmax(axis=1)
        for row in np.flatnonzero(contributions.max(axis=1) > 0.5):  # under half a log-odd is no evidence
            sources[row][j] = SOURCES[strongest[row]]
    return Prior(probabilities, sources)


def _top_k_mean(similarities: np.ndarray, k: int) -> np.ndarray:
    k = min(k, similarities.shape[1])
    return np.sort(similarities, axis=1)[:, -k:].mean(axis=1)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
