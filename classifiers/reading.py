"""What a model version reads, in words, for its page: the encoder, the lexical parts, whether the author counts.

A head's feature spec (``TextFeatures.to_spec``, or ``{"backbone": ...}`` for an image head) travels in its file;
registration copies it into the version's metrics (``"features"``) with the chosen blend weights, so the page
shows it without opening the head file in a web process. Versions registered before that show nothing here.
"""

from __future__ import annotations

from typing import Any

from classifiers.models import ModelVersion


def version_reads(version: ModelVersion) -> list[str]:
    """One line per input the version's head reads, for admins and leads; [] when the version did not record it."""
    metrics = version.metrics if isinstance(version.metrics, dict) else {}
    features = metrics.get("features")
    if not isinstance(features, dict):
        return []
    if version.kind == ModelVersion.Kind.IMAGE:
        return [f"Image backbone {features.get('backbone', version.architecture)}: a head on its pooled features"]
    return _text_reads(features, metrics.get("text_tuning"), metrics.get("blend_weights"))


def _text_reads(features: dict[str, Any], tuning: Any, weights: Any) -> list[str]:
    space = str(features.get("backbone", ""))  # e.g. sentence:all-MiniLM-L6-v2@onnx-int8, or its @tuned-<hash>
    encoder = space.removeprefix("sentence:").split("@")[0] or "the sentence encoder"
    if isinstance(tuning, dict):
        texts = f"{tuning['texts']:,} of " if isinstance(tuning.get("texts"), int) else ""
        lines = [
            f"Sentence embedding of {encoder} with its last {tuning.get('layers', 1)} layer(s) trained on {texts}"
            f"these labels ({tuning.get('epochs', '?')} epochs, {tuning.get('cpu_seconds', '?')} CPU-seconds; "
            f"space {space})"
        ]
    else:
        lines = [f"Sentence embedding of {encoder}, packaged weights (space {space})"]
    buckets = int(features.get("ngram_buckets", 0) or 0)
    if buckets:
        low, high = features.get("ngram_range", (1, 2))
        unit = "character" if str(features.get("ngram_analyzer", "")).startswith("char") else "word"
        lines.append(
            f"{unit.capitalize()} {low}-{high}-grams of the first {int(features.get('ngram_max_chars', 0)):,} "
            f"characters, hashed into {buckets:,} features"
        )
    if features.get("lexical"):
        share = ""
        if isinstance(weights, dict) and weights:
            share = " (the regression's share: " + ", ".join(f"{slug} {w:g}" for slug, w in weights.items()) + ")"
        lines.append(f"A TF-IDF logistic regression over word and character n-grams, blended with the head{share}")
    if features.get("profanity"):
        lines.append("The alt-profanity-check score")
    if features.get("author"):
        lines.append(
            "The item's author: the n-grams and the regression read a token naming the author (and a mail domain), "
            "so reviewers' decisions on an author's earlier items move the scores of their next ones"
        )
    else:
        lines.append("Not the author: trained without author keys, it scores every author's text alike")
    return lines


def head_record(head: Any) -> dict[str, Any]:
    """What registration copies from a trained head into the version's metrics for ``version_reads``."""
    from classifiers.inference.text import BLEND_WEIGHT  # training side only: the page never imports the model

    weights = head.extras.get(BLEND_WEIGHT)
    return {
        "features": dict(head.features),
        "blend_weights": {slug: float(w) for slug, w in zip(head.categories, weights, strict=True)}
        if weights is not None
        else {},
    }
