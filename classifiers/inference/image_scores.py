"""What every image model does once it has embeddings: a trained head where there is one, priors elsewhere.

Shared by the torch backbone (``classifiers.inference.image.ImageModel``) and the ONNX Runtime one
(``classifiers.inference.onnx_image.OnnxImageModel``); neither torch nor timm is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from classifiers import image_priors, image_safety
from classifiers.inference import CategoryInfo, CategoryScore
from classifiers.inference.image_decoding import DECODE_MIN_SIDE, decode_image


class ImageScoring:
    """Scores from embeddings; a subclass provides ``backbone`` (the embedding space's name) and ``embed``.

    The runtime's network object (torch or ONNX) carries ``architecture``, ``input_size`` and ``dim``.
    """

    categories: list[CategoryInfo]
    head: Any
    backbone: str

    def __init__(self, backbone: Any, categories: Sequence[CategoryInfo], head: Any = None) -> None:
        """``backbone`` is the runtime's network (torch or ONNX); a head must read this model's space."""
        self._backbone = backbone
        self.categories = list(categories)
        self.head = head
        if head is not None:
            check_head(head, self)

    @property
    def architecture(self) -> str:
        return self._backbone.architecture

    @property
    def input_size(self) -> int:
        return self._backbone.input_size

    @property
    def dim(self) -> int:
        return self._backbone.dim

    @property
    def decode_side(self) -> int:
        """The shorter side images are reduced to for this model: at least twice what its network reads."""
        return max(DECODE_MIN_SIDE, 2 * self.input_size)

    def decode(self, data: bytes) -> Image.Image:
        """Decode untrusted bytes to an RGB image no larger than this model needs; see ``decode_image``."""
        return decode_image(data, min_side=self.decode_side)

    def predict(
        self, embeddings: np.ndarray, images: Sequence[Image.Image], *, head: Any = None
    ) -> list[dict[str, CategoryScore]]:
        """One dict per image with a score for every requested category.

        ``head`` (default: the one given to ``load``) scores the categories it was trained on
        (``from_prior=False``); the prior scores the rest (``from_prior=True``).
        """
        head = head if head is not None else self.head
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != len(images) or x.shape[1] != self.dim:
            raise ValueError(f"expected embeddings of shape ({len(images)}, {self.dim}); got {x.shape}")
        slugs = [category.slug for category in self.categories]
        learned: dict[str, np.ndarray] = {}
        if head is not None and len(images):
            check_head(head, self)
            head_slugs = [getattr(c, "slug", c) for c in head.categories]
            wanted = [i for i, slug in enumerate(head_slugs) if slug in slugs]
            if wanted:
                proba = np.asarray(head.predict_proba(x), dtype=np.float64)
                if proba.shape != (len(images), len(head_slugs)):
                    raise ValueError(f"head returned shape {proba.shape}; expected ({len(images)}, {len(head_slugs)})")
                learned = {head_slugs[i]: np.clip(proba[:, i], 0.0, 1.0) for i in wanted}
        prior_slugs = [slug for slug in slugs if slug not in learned]
        # Sexual and violence priors come from the packaged image-safety classifier, not colour statistics.
        safety_slugs = [slug for slug in prior_slugs if slug in image_safety.CATEGORY_CLASSES]
        other_slugs = [slug for slug in prior_slugs if slug not in safety_slugs]
        priors = image_priors.image_prior(images, other_slugs) if other_slugs else [{} for _ in images]
        safety: dict[str, np.ndarray] = {}
        if safety_slugs and len(images):
            probabilities = image_safety.load().probabilities(images)
            for slug in safety_slugs:
                base = image_priors.BASE_RATES.get(slug, image_priors.DEFAULT_BASE_RATE)
                safety[slug] = image_safety.category_prior(probabilities, slug, base)
        # A safety prior counts as raised by the model once it is at least twice its base rate.
        raised_above = {slug: 2 * image_priors.BASE_RATES.get(slug, image_priors.DEFAULT_BASE_RATE) for slug in safety}
        results = []
        for row, prior in enumerate(priors):
            scores = {}
            for slug in slugs:
                if slug in learned:
                    scores[slug] = CategoryScore(probability=float(learned[slug][row]), from_prior=False)
                elif slug in safety:
                    value = float(safety[slug][row])
                    source = "image-safety model" if value > raised_above[slug] else "base rate"
                    scores[slug] = CategoryScore(probability=value, from_prior=True, source=source)
                else:
                    scores[slug] = CategoryScore(probability=float(prior[slug]), from_prior=True, source="base rate")
            results.append(scores)
        return results


def check_head(head: Any, model: Any) -> None:
    """Refuse a head trained in another embedding space, when the head says which one it was."""
    dim = getattr(head, "dim", None)
    if dim is not None and int(dim) != model.dim:
        raise ValueError(f"the head expects {dim}-dimensional features; {model.backbone} gives {model.dim}")
    features = getattr(head, "features", None)
    space = features.get("backbone") if isinstance(features, Mapping) else getattr(head, "backbone", None)
    if isinstance(space, str) and space != model.backbone:
        raise ValueError(f"the head was trained on {space} embeddings; this model gives {model.backbone}")
