"""Cold-start scores: what the text model says about a category before any reviewer has labelled it.

The prior compares an item's sentence embedding with the embedding of the category's policy
description (PolicyCategory.description): the more the content reads like the policy, the higher the
score. Cosine similarity becomes a probability through one logistic curve for every category,

    p = sigmoid(SLOPE * (cosine - CENTER)),

monotone in the similarity, so the prior ranks items the way the similarity does. For harassment and
hate the offensive-language probability of ``alt-profanity-check`` is folded in with a noisy-OR.

Pure functions of arrays and strings; no Django, no model loading except profanity-check's own small
linear model (loaded on first use).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

# Measured by `bench/text_quality.py` on the SpamAssassin corpus (5,922 distinct mails, 30.6% spam):
# a one-feature logistic regression of "is spam" on the cosine between each mail and the seeded `spam`
# policy description (sklearn LogisticRegression, C=1e4, no class weights). SLOPE is its coefficient,
# CENTER the cosine where it gives 0.5 (minus intercept over slope). Unweighted, so probabilities are
# calibrated at that corpus's spam rate; where a category is rarer, read them as scores. The cosine
# alone is weak evidence there (ROC-AUC 0.69 for spam vs ham), hence the shallow curve: cosine 0 gives
# 0.15, 0.5 gives 0.80. The same curve serves every category: SpamAssassin is the only labelled corpus
# the project has, so for the others it is an assumption, not a measurement.
SLOPE = 6.37
CENTER = 0.278

# Share of offensive language that is harassment or hate, from the published label counts of the
# Jigsaw Toxic Comment training set (159,571 Wikipedia comments; with Davidson et al.'s tweets, what
# alt-profanity-check was trained on; the data set itself is not in this repo): of 15,294 toxic
# comments, 7,877 are insults and 478 threats (about 0.55), 1,405 identity hate (about 0.09).
# Offensive words are strong evidence of harassment and weak evidence of hate. Not measured here:
# the project has no labelled harassment or hate data yet.
PROFANITY_WEIGHTS: Mapping[str, float] = {"harassment": 0.55, "hate": 0.09}


def similarity_probability(cosine: np.ndarray) -> np.ndarray:
    """Map cosine similarity to a probability with the measured logistic curve (monotone increasing)."""
    z = SLOPE * (np.asarray(cosine, dtype=np.float64) - CENTER)
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def text_prior(
    item_embeddings: np.ndarray,
    category_embeddings: np.ndarray,
    slugs: Sequence[str],
    *,
    profanity: np.ndarray | None = None,
) -> np.ndarray:
    """Prior probabilities, shape ``(n_items, n_categories)``, float32.

    ``item_embeddings`` (n, d) and ``category_embeddings`` (C, d) come from the same encoder (rows
    need not be normalised); ``slugs`` name the categories in order. ``profanity`` (n,) is the
    offensive-language probability of each item, required when a slug has a profanity weight.
    """
    items = _normalise(np.asarray(item_embeddings, dtype=np.float64))
    policies = _normalise(np.asarray(category_embeddings, dtype=np.float64))
    if items.ndim != 2 or policies.shape != (len(slugs), items.shape[1]):
        raise ValueError(
            f"need item (n, d) and category ({len(slugs)}, d) embeddings; got {items.shape}, {policies.shape}"
        )
    probability = similarity_probability(items @ policies.T)
    for j, slug in enumerate(slugs):
        weight = PROFANITY_WEIGHTS.get(slug)
        if weight is None:
            continue
        if profanity is None:
            raise ValueError(f"the {slug} prior needs the offensive-language probability of each item")
        offensive = np.asarray(profanity, dtype=np.float64).reshape(len(items))
        # noisy-OR: either signal alone can raise the score; monotone in both.
        probability[:, j] = 1.0 - (1.0 - probability[:, j]) * (1.0 - weight * offensive)
    return probability.astype(np.float32)


def needs_profanity(slugs: Sequence[str]) -> bool:
    return any(slug in PROFANITY_WEIGHTS for slug in slugs)


def profanity_probability(texts: Sequence[str]) -> np.ndarray:
    """Offensive-language probability of each text from alt-profanity-check, float32 (n,)."""
    if not texts:
        return np.zeros(0, dtype=np.float32)
    from profanity_check import predict_prob

    return np.asarray(predict_prob(list(texts)), dtype=np.float32)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
