"""Dawid–Skene aggregation of crowd answers: one confusion matrix per labeler, fitted by EM.

Dawid & Skene (1979), "Maximum likelihood estimation of observer error-rates using the EM algorithm".
Each labeler ``w`` answers class ``l`` for an item of true class ``k`` with probability ``pi[w, k, l]``; classes
have prior ``p``. EM alternates the posterior over each item's true class (E) with the priors and confusion
matrices those posteriors imply (M), starting from majority vote. Unlike a vote, a labeler who is usually wrong
(or answers at random) ends up with a confusion matrix that carries little or negative weight.

Items with a known answer (gold) keep it as their posterior, which anchors the confusion matrices.
Pure numpy; the crowd service maps its rows to indices and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SMOOTHING = 0.01  # a pseudo-count for the class priors, so no class gets a zero (log of zero) prior
# A Dirichlet prior on each confusion row (maximum a posteriori rather than maximum likelihood): a labeler starts
# as "right more often than not", worth a few answers. Without it, a handful of answers gives absurd certainty
# (two items and four labelers: 99.99 % for a 2-2 split); with hundreds of answers it no longer matters.
PRIOR_RIGHT = 2.0
PRIOR_WRONG = 0.5


@dataclass(frozen=True)
class Aggregate:
    posteriors: np.ndarray  # items x classes: the soft label
    confusion: np.ndarray  # labelers x true class x answered class
    priors: np.ndarray  # classes
    iterations: int

    @property
    def labels(self) -> np.ndarray:
        return self.posteriors.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.posteriors.max(axis=1)

    def labeler_accuracy(self) -> np.ndarray:
        """Each labeler's expected accuracy: the chance of a right answer on an item drawn from the priors."""
        diagonal = np.einsum("wkk->wk", self.confusion)
        return diagonal @ self.priors


def majority_vote(answers: np.ndarray, n_items: int, n_classes: int) -> np.ndarray:
    """Vote shares per item (items x classes); ``answers`` rows are (item, labeler, class)."""
    counts = np.zeros((n_items, n_classes))
    np.add.at(counts, (answers[:, 0], answers[:, 2]), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.full_like(counts, 1.0 / n_classes), where=totals > 0)


def dawid_skene(
    answers: np.ndarray,
    *,
    n_items: int,
    n_labelers: int,
    n_classes: int,
    known: dict[int, int] | None = None,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> Aggregate:
    """Fit Dawid–Skene to ``answers``, an int array of rows (item, labeler, class)."""
    answers = np.asarray(answers, dtype=np.int64).reshape(-1, 3)
    items, labelers, classes = answers[:, 0], answers[:, 1], answers[:, 2]
    known = known or {}
    known_items = np.fromiter(known.keys(), dtype=np.int64, count=len(known))
    known_classes = np.fromiter(known.values(), dtype=np.int64, count=len(known))

    def clamp(posteriors: np.ndarray) -> np.ndarray:
        if len(known_items):
            posteriors[known_items] = 0.0
            posteriors[known_items, known_classes] = 1.0
        return posteriors

    posteriors = clamp(majority_vote(answers, n_items, n_classes))
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007  (the count is reported)
        # M step: priors and each labeler's confusion matrix from the current soft labels.
        priors = (posteriors.sum(axis=0) + SMOOTHING) / (n_items + SMOOTHING * n_classes)
        confusion = np.full((n_labelers, n_classes, n_classes), PRIOR_WRONG)
        confusion[:, np.arange(n_classes), np.arange(n_classes)] = PRIOR_RIGHT
        np.add.at(confusion, (labelers, slice(None), classes), posteriors[items])
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E step: each item's posterior over true classes given every answer it got.
        log_post = np.tile(np.log(priors), (n_items, 1))
        np.add.at(log_post, items, np.log(confusion[labelers, :, classes]))
        log_post -= log_post.max(axis=1, keepdims=True)
        updated = np.exp(log_post)
        updated /= updated.sum(axis=1, keepdims=True)
        updated = clamp(updated)
        change = np.abs(updated - posteriors).max()
        posteriors = updated
        if change < tolerance:
            break
    return Aggregate(posteriors=posteriors, confusion=confusion, priors=priors, iterations=iteration)
