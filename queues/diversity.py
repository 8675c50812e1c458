"""Uncertainty with diversity: the order in which a labelling queue serves its most uncertain items.

Pure numpy, no Django: the re-ranking task (``queues.active_learning``) and the benchmark
(``bench/active_learning.py``) run the same code. Imported by workers and benchmarks only; web
processes never import numpy.

The method (a greedy "ranked batch" in the spirit of Cardoso et al. 2017, with the uncertainty
pre-filter of Zhdanov 2019):

1. candidates: the ``window`` most uncertain items (uncertainty ``u = 1 - 2 * min |p - 0.5|`` over
   categories, so 1 is a coin flip and 0 a sure score);
2. greedy order: the first pick is the most uncertain candidate; every next pick maximises
   ``(1 - weight) * u + weight * d``, where ``d`` is the cosine distance from the candidate to the
   nearest item already picked (1 when nothing is picked yet; 0 for a member of the same
   near-duplicate group, whatever the vectors say; 1 between items whose vectors live in different
   spaces, e.g. a text and an image).

Why: the most uncertain items of a batch are often near-copies of each other (a spam run, a
template), and labelling ten of them teaches the model what one of them would. Why greedy rather
than k-means or k-center alone: it keeps uncertainty in the score (k-center over the window
ignores it), it yields an *order* (a queue is served one item at a time, so every prefix should
be diverse, not only the whole batch), and it costs ``O(window x picks x dim)``, a few
milliseconds for a window of a few hundred. Ties break on the lowest index, so the result is
deterministic for the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_WEIGHT = 0.5
DEFAULT_WINDOW_FACTOR = 4


def uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """``1 - 2 * min |p - 0.5|`` per row of (n, categories) probabilities: 1 at a coin flip, 0 when sure."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    return 1.0 - 2.0 * np.abs(p - 0.5).min(axis=1)


def diverse_order(
    u: np.ndarray,
    vectors: np.ndarray | None = None,
    *,
    take: int,
    window: int | None = None,
    weight: float = DEFAULT_WEIGHT,
    groups: Sequence[int | None] | None = None,
    spaces: Sequence[object] | None = None,
) -> list[int]:
    """Indices of ``take`` items in serving order: uncertain first, near neighbours of earlier picks pushed back.

    ``u``: uncertainty per item (higher first). ``vectors``: one row per item (any scale; compared by
    cosine), or None to rely on ``groups`` alone. ``window``: how many of the most uncertain items
    compete (default ``4 * take``). ``groups``: near-duplicate group per item (None: none).
    ``spaces``: which embedding space each row belongs to (rows of different spaces are unrelated;
    a row of zeros, "no vector", is unrelated to everything).
    """
    u = np.asarray(u, dtype=np.float64)
    n = len(u)
    if take <= 0 or n == 0:
        return []
    window = min(n, window if window is not None else DEFAULT_WINDOW_FACTOR * take)
    take = min(take, window)
    # Most uncertain first; a stable sort on -u breaks ties by the lowest index.
    candidates = np.argsort(-u, kind="stable")[:window]
    cu = u[candidates]
    unit = None
    if vectors is not None:
        v = np.asarray(vectors, dtype=np.float64)[candidates]
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    group = [groups[i] for i in candidates] if groups is not None else None
    space = [spaces[i] for i in candidates] if spaces is not None else None
    nearest = np.ones(window)  # cosine distance to the nearest pick so far
    free = np.ones(window, dtype=bool)
    order: list[int] = []
    for _ in range(take):
        score = np.where(free, (1.0 - weight) * cu + weight * nearest, -np.inf)
        pick = int(np.argmax(score))  # first maximum: the lowest index among ties
        free[pick] = False
        order.append(int(candidates[pick]))
        if unit is not None:
            distance = np.clip(1.0 - unit @ unit[pick], 0.0, 1.0)
            if space is not None:
                distance = np.where([s == space[pick] for s in space], distance, 1.0)
            if not unit[pick].any():
                distance = np.ones(window)
            nearest = np.minimum(nearest, distance)
        if group is not None and group[pick] is not None:
            nearest[[g == group[pick] for g in group]] = 0.0
    return order
