"""Labelling queues: the most uncertain items first, with diversity, re-ranked periodically on a worker.

A queue with ``ordering = uncertain`` gets its entries' keys at routing time from the scores alone
(``priority.uncertainty_sort_key``: ``min |p - 0.5|``, ascending, in [0, 0.5]). Every few minutes
``rerank_labelling_queues`` (a periodic task) takes the ``window`` pending entries with the lowest
keys, recomputes their uncertainty from the active models' current scores, orders them with
``queues.diversity.diverse_order`` over the items' stored embeddings and near-duplicate groups, and
writes the first ``take`` of that order as keys ``-1 + i / take`` (in [-1, 0), ahead of every
plain key); the other candidates get their plain key back. The claim is unchanged: one indexed
statement over precomputed keys. Items that arrive between two runs queue by plain uncertainty
behind the ranked block until the next run.

Gold and second-review entries keep their keys (their place is set by ``queues.gold``).
The scores used are the same as at routing (cold-start prior scores weighted by
``RISK_PRIOR_WEIGHT``), so re-ranked and fresh keys compare on one scale. Deterministic: the same
pending entries, scores and embeddings give the same keys.
"""

from django.db import transaction

from classifiers.spaces import searchable_embeddings
from queues.models import Queue, QueueEntry
from queues.priority import uncertainty_sort_key
from queues.scores import active_scores

TAKE = 50
WINDOW_FACTOR = 4


def rerank_labelling_queues(*, take: int = TAKE, weight: float | None = None) -> int:
    """Periodic: re-rank every queue ordered by uncertainty; returns how many entries got a ranked key."""
    return sum(
        rerank_queue(queue=queue, take=take, weight=weight)
        for queue in Queue.objects.filter(ordering=Queue.Ordering.UNCERTAIN)
    )


def rerank_queue(*, queue: Queue, take: int = TAKE, weight: float | None = None) -> int:
    """Give the ``take`` best pending entries of ``queue`` keys in uncertainty-with-diversity order."""
    import numpy as np  # worker-side only: web processes never import numpy

    from queues import diversity

    candidates = list(
        QueueEntry.objects.filter(queue=queue, status=QueueEntry.Status.PENDING)
        .exclude(selection__in=[QueueEntry.Selection.GOLD, QueueEntry.Selection.SECOND_REVIEW])
        .order_by("sort_key", "pk")
        .values_list("pk", "item_id", "item__duplicate_group")[: take * WINDOW_FACTOR]
    )
    if not candidates:
        return 0
    item_ids = [item_id for _, item_id, _ in candidates]
    scores = active_scores(item_ids, for_risk=True)
    plain = [uncertainty_sort_key(scores.get(item_id, {})) for item_id in item_ids]
    u = np.array([1.0 - 2.0 * key for key in plain])
    vectors, spaces = _vectors(item_ids)
    order = diversity.diverse_order(
        u,
        vectors,
        take=take,
        window=len(candidates),
        weight=diversity.DEFAULT_WEIGHT if weight is None else weight,
        groups=[group for _, _, group in candidates],
        spaces=spaces,
    )
    keys = dict(zip([pk for pk, _, _ in candidates], plain, strict=True))
    for rank, index in enumerate(order):
        keys[candidates[index][0]] = -1.0 + rank / len(order)
    with transaction.atomic():
        entries = [QueueEntry(pk=pk, sort_key=key) for pk, key in keys.items()]
        QueueEntry.objects.bulk_update(entries, ["sort_key"], batch_size=500)
    return len(order)


def _vectors(item_ids: list[int]):  # noqa: ANN202 - (numpy array or None, spaces)
    """One stored embedding per item (the backbone most of them have first), zero-padded; None if none."""
    import numpy as np

    # Image vectors of one complete space only (classifiers.spaces): never a half-filled new backbone's.
    rows = searchable_embeddings(item_ids).values_list("item_id", "backbone", "vector")
    by_item: dict[int, dict[str, bytes]] = {}
    for item_id, backbone, vector in rows:
        by_item.setdefault(item_id, {})[backbone] = bytes(vector)
    if not by_item:
        return None, None
    popularity: dict[str, int] = {}
    for backbones in by_item.values():
        for backbone in backbones:
            popularity[backbone] = popularity.get(backbone, 0) + 1
    preference = sorted(popularity, key=lambda b: (-popularity[b], b))
    chosen: list[tuple[str | None, np.ndarray | None]] = []
    for item_id in item_ids:
        backbones = by_item.get(item_id, {})
        backbone = next((b for b in preference if b in backbones), None)
        vector = np.frombuffer(backbones[backbone], dtype=np.float16).astype(np.float32) if backbone else None
        chosen.append((backbone, vector))
    dim = max(len(v) for _, v in chosen if v is not None)
    matrix = np.zeros((len(item_ids), dim), dtype=np.float32)
    for row, (_, vector) in enumerate(chosen):
        if vector is not None:
            matrix[row, : len(vector)] = vector
    return matrix, [backbone for backbone, _ in chosen]
