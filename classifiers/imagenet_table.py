"""The admin-edited table from ImageNet classes to policy categories, and the prior it gives (torch-free).

Rows live in ``ImageNetClassPrior``; a worker reads them through ``prior_rows``, cached in Django's cache
(Redis in production, shared by every process) until an admin saves or deletes a row (``forget_prior_rows``,
called by the admin), so an edit changes the next score without a restart. The probabilities come
from the backbone's ImageNet classifier (``classifiers.imagenet_prior``); what they mean for a category is
``category_priors``, plain arithmetic tested without a model.

Class names come from the ImageNet-1k synset files that ship inside timm's package (read as text, without
importing timm: a web process validating an admin's row must not load torch).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.core.cache import cache
from django.db import transaction

from classifiers.models import ImageNetClassPrior

NUM_CLASSES = ImageNetClassPrior.NUM_CLASSES
CACHE_KEY = "classifiers:imagenet-prior-rows:v1"
CACHE_SECONDS = 3600  # an upper bound only: every save and delete through the services clears it at once


@dataclass(frozen=True)
class PriorRow:
    """One active row, as the worker uses it."""

    imagenet_index: int
    slug: str
    weight: float
    cap: float


@functools.cache
def class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in class-index order (the first lemma of each synset)."""
    found = importlib.util.find_spec("timm")
    if found is None or not found.submodule_search_locations:
        raise RuntimeError("timm is not installed, so the ImageNet class names are missing (run make setup)")
    info = Path(next(iter(found.submodule_search_locations))) / "data" / "_info"
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines())
    if len(synsets) != NUM_CLASSES:
        raise RuntimeError(f"{info}/imagenet_synsets.txt lists {len(synsets)} classes, not {NUM_CLASSES}")
    return tuple(lemmas[synset].split(",")[0].strip() for synset in synsets)


def class_name(index: int) -> str:
    return class_names()[index] if 0 <= index < NUM_CLASSES else f"no such class ({index})"


def prior_rows() -> tuple[PriorRow, ...]:
    """The active rows of active categories, from the cache or the database."""
    rows = cache.get(CACHE_KEY)
    if rows is None:
        rows = [
            (row.imagenet_index, row.category.slug, row.weight, row.cap)
            for row in ImageNetClassPrior.objects.filter(is_active=True, category__is_active=True).select_related(
                "category"
            )
        ]
        cache.set(CACHE_KEY, rows, CACHE_SECONDS)
    return tuple(PriorRow(*row) for row in rows)


def forget_prior_rows() -> None:
    """Drop the cached table after the transaction commits, so the next score reads the saved rows."""
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))


def category_priors(
    class_probs: np.ndarray, rows: Sequence[PriorRow], slugs: Sequence[str]
) -> list[dict[str, tuple[float, str]]]:
    """Per image, for each of ``slugs`` some row maps to: (prior, the class that contributed most).

    ``class_probs`` is ``(n, 1000)``, softmax over ImageNet classes. A row contributes
    ``min(cap, weight * p(class))``; a category's prior is the sum of its rows' contributions, at most the
    largest cap among its rows (why a sum: a photo of a gun spreads its probability over "assault rifle",
    "rifle" and "revolver"). The caller keeps the larger of this and the category's other prior.
    """
    probs = np.asarray(class_probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
        raise ValueError(f"need class probabilities of shape (n, {NUM_CLASSES}); got {probs.shape}")
    wanted = set(slugs)
    by_slug: dict[str, list[PriorRow]] = {}
    for row in rows:
        if row.slug in wanted:
            by_slug.setdefault(row.slug, []).append(row)
    results: list[dict[str, tuple[float, str]]] = [{} for _ in range(len(probs))]
    for slug, mapped in by_slug.items():
        indices = np.array([row.imagenet_index for row in mapped])
        weights = np.array([row.weight for row in mapped])
        caps = np.array([row.cap for row in mapped])
        contributions = np.minimum(caps, weights * probs[:, indices])  # (n, rows)
        totals = np.minimum(contributions.sum(axis=1), caps.max())
        strongest = contributions.argmax(axis=1)
        for image, total in enumerate(totals):
            results[image][slug] = (float(total), class_name(int(indices[strongest[image]])))
    return results
