"""The pretrained backbone's own ImageNet classifier, read back from its packaged weights, for the cold-start prior.

``classifiers.pretrained.convert`` keeps only the backbone (the 1,000-class classifier is not needed to embed).
For the prior of the admin's ImageNet table (``classifiers.imagenet_table``) the classifier is read again from
the same verified package file: its last two tensors, ``_fc.weight`` (1000, 1280) and ``_fc.bias``.

Why from the stored embedding, not from the image: workers reuse stored embeddings, which are L2-normalised,
so the pooled feature's length is gone. The logits are ``scale * (W @ e) + b`` with ``scale`` the typical
feature length: on the 7 photos of ``bench/photos`` the lengths were 13.9-16.3 (median 14.66), and with the
median the top-1 class agreed with the exact logits on 7 of 7, the class probabilities within 0.067
(bench/RESULTS-modelsx.md). A version whose backbone is not the converted packaged file (fine-tuned, an
operator's checkpoint) has no ImageNet classifier, and the table does not apply to it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from classifiers import pretrained
from classifiers.imagenet_table import NUM_CLASSES
from classifiers.weights_files import WeightsFileError, verify_file

FEATURE_SCALE = 14.66  # median pooled-feature length of EfficientNet-Lite0 on bench/photos (module docstring)

_loaded: dict[str, ImageNetClassifier] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ImageNetClassifier:
    weight: np.ndarray  # (1000, dim)
    bias: np.ndarray  # (1000,)
    scale: float = FEATURE_SCALE

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Softmax over the 1,000 classes, ``(n, 1000)``, from L2-normalised embeddings ``(n, dim)``."""
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"the ImageNet classifier takes ({self.weight.shape[1]})-wide embeddings; got {x.shape}")
        logits = self.scale * (x @ self.weight.T).astype(np.float64) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def packaged_spec(provenance: Mapping[str, Any], backbone_sha256: str) -> pretrained.PackagedWeights | None:
    """The packaged weights a model version's backbone was converted from unchanged, or None.

    None when the version's backbone is another file than the conversion (fine-tuned, an operator's own),
    or comes from no package we know.
    """
    if not provenance or provenance.get("converted_sha256") != backbone_sha256 or not backbone_sha256:
        return None
    for spec in pretrained.PACKAGED.values():
        if spec.package == provenance.get("package") and spec.sha256 == provenance.get("sha256"):
            return spec
    return None


def load_classifier(spec: pretrained.PackagedWeights) -> ImageNetClassifier:
    """The ImageNet classifier of ``spec``'s packaged file (verified by size and hash), once per process."""
    with _lock:
        found = _loaded.get(spec.sha256)
        if found is not None:
            return found
        path = pretrained.packaged_file(spec)
        verify_file(path, size=spec.size, sha256=spec.sha256)
        state = torch.load(path, map_location="cpu", weights_only=True)
        keys = list(state)
        weight, bias = state[keys[-2]], state[keys[-1]]
        if weight.ndim != 2 or weight.shape[0] != NUM_CLASSES or tuple(bias.shape) != (NUM_CLASSES,):
            raise WeightsFileError(
                f"{path}: the last two tensors ({keys[-2]} {tuple(weight.shape)}, {keys[-1]} {tuple(bias.shape)}) "
                f"are not a {NUM_CLASSES}-class classifier"
            )
        classifier = ImageNetClassifier(weight.float().numpy().copy(), bias.double().numpy().copy(), FEATURE_SCALE)
        _loaded[spec.sha256] = classifier
        return classifier
