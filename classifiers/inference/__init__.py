"""Model code: the only package that imports torch, timm and sentence-transformers.

A web process never imports this package (DESIGN.md invariant 6); workers and management
commands do. Everything here works on plain values (texts, PIL images, numpy arrays) and knows
nothing of Django models, so the runtime (``classifiers.runtime``) decides what to load and where
results are stored.

Contract shared by the text and image model modules:

* ``embed(inputs) -> np.ndarray``: float32 array of shape ``(len(inputs), dim)``, one row per input,
  in order. Inputs are already validated by the caller (non-empty text; decoded RGB PIL images).
* ``predict(embeddings, inputs) -> list[dict[str, CategoryScore]]``: one dict per input, keyed by
  policy category slug, for every category the caller asked for. ``from_prior`` is True where the
  score comes from the cold-start prior rather than a head trained on labels.
"""

import os
from dataclasses import dataclass
from pathlib import Path


def onnx_cache_dir() -> Path:
    """Where exported ONNX files are cached: ``$VAR_DIR/cache/onnx`` (the repository's ``var/`` by default).

    Exports are named by a hash of their source weights and tool versions, so the folder can be shared.
    """
    return Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parents[2] / "var")) / "cache" / "onnx"


@dataclass(frozen=True)
class CategoryScore:
    probability: float
    from_prior: bool
    # For a prior: the signal that raised it ("similarity", "structure", "profanity") or "base rate"
    # when none did, so a reviewer can see why a category with no labels scores what it does.
    source: str = ""
    # For a trained score of a head that reads the author: the same head's probability for the same text with no
    # author, so a reviewer can see how far the author's earlier decisions moved the score. None otherwise.
    without_author: float | None = None


@dataclass(frozen=True)
class CategoryInfo:
    """What the models know of a policy category: its slug, its policy text and seed examples (for the prior).

    ``seed_examples`` are the admin's examples of violating content; when empty, the text prior uses
    the project's defaults for the seeded categories (``classifiers.seed_examples``).
    """

    slug: str
    description: str
    seed_examples: tuple[str, ...] = ()
