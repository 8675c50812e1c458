"""The pretrained backbone's own ImageNet classifier, read back from its packaged weights, for the cold-start prior.

``classifiers.pretrained.convert`` keeps only the backbone (the 1,000-class classifier is not needed to embed).
For the prior of the admin's ImageNet table (``classifiers.imagenet_table``) the classifier is read again from
the same verified package file: its last two tensors, ``_fc.weight`` (1000, 1280) and ``_fc.bias``.

Why from the stored embedding, not from the image: workers reuse stored embeddings, which are L2-normalised,
so the pooled feature's length is gone. The logits are ``scale * (W @ e) + b`` with ``scale`` the typical
feature length: on the 7 photos of ``bench/photos`` the lengths were 13.9-16.3 (median 14.66), and with the
median the top-1 class agreed with the exact logits on 7 of 7, the class probabilities within 0.067
(bench/RESULTS.md). A version whose backbone is not the converted packaged file (fine-tuned, an
operator's checkpoint) has no ImageNet classifier, and the table does not apply to it.

Reading the packaged ``.pth`` takes torch (and ``classifiers.pretrained``, timm); a scoring worker should import
neither. So the two arrays are kept in the ONNX cache as an ``.npz`` named by the packaged file's SHA-256,
written ahead of time with the backbone's export (``classifiers.inference_exports``) or, failing that, on
first use; a worker reads that (without pickle) after checking the packaged file's size and hash as before.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifiers import packaged_weights
from classifiers.imagenet_table import NUM_CLASSES
from classifiers.inference import onnx_cache_dir
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


def packaged_spec(provenance: Mapping[str, Any], backbone_sha256: str) -> packaged_weights.PackagedWeights | None:
    """The packaged weights a model version's backbone was converted from unchanged, or None.

    None when the version's backbone is another file than the conversion (fine-tuned, an operator's own),
    or comes from no package we know.
    """
    if not provenance or provenance.get("converted_sha256") != backbone_sha256 or not backbone_sha256:
        return None
    for spec in packaged_weights.PACKAGED.values():
        if spec.package == provenance.get("package") and spec.sha256 == provenance.get("sha256"):
            return spec
    return None


def classifier_file(spec: packaged_weights.PackagedWeights, cache_dir: Path | None = None) -> Path:
    """Where the classifier of ``spec``'s packaged file is kept as ``.npz`` (named by that file's SHA-256)."""
    return (cache_dir or onnx_cache_dir()) / f"imagenet-classifier-{spec.sha256[:16]}.npz"


def load_classifier(spec: packaged_weights.PackagedWeights, *, cache_dir: Path | None = None) -> ImageNetClassifier:
    """The ImageNet classifier of ``spec``'s packaged file (verified by size and hash), once per process.

    Read from its ``.npz`` in the cache; when that is missing, from the packaged file itself (torch), and the
    ``.npz`` is written for the next process.
    """
    with _lock:
        found = _loaded.get(spec.sha256)
        if found is not None:
            return found
        path = packaged_weights.packaged_file(spec)
        verify_file(path, size=spec.size, sha256=spec.sha256)
        kept = classifier_file(spec, cache_dir)
        if kept.exists():
            weight, bias = _read_kept(kept)
        else:
            weight, bias = _read_and_keep(path, kept)
        classifier = ImageNetClassifier(weight, bias, FEATURE_SCALE)
        _loaded[spec.sha256] = classifier
        return classifier


def _read_kept(kept: Path) -> tuple[np.ndarray, np.ndarray]:
    """The arrays of a kept classifier; ``WeightsFileError`` naming the file when it is not one."""
    try:
        with np.load(kept, allow_pickle=False) as arrays:
            weight, bias = arrays["weight"], arrays["bias"]
    except Exception as exc:  # noqa: BLE001 - numpy and zipfile raise several types for a damaged file
        raise WeightsFileError(f"{kept}: not a kept ImageNet classifier ({type(exc).__name__}: {exc})") from None
    if weight.ndim != 2 or weight.shape[0] != NUM_CLASSES or bias.shape != (NUM_CLASSES,):
        raise WeightsFileError(f"{kept}: weight {weight.shape} and bias {bias.shape} are not a {NUM_CLASSES}-class "
                               "classifier (delete the file: it is made again from the packaged weights)")  # fmt: skip
    if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
        raise WeightsFileError(f"{kept}: NaN or infinite weights (delete the file: it is made again)")
    return weight.astype(np.float32), bias.astype(np.float64)


def _read_and_keep(path: Path, kept: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the classifier from the packaged file with torch, and write its ``.npz`` for later processes."""
    from classifiers import pretrained  # torch and timm: only when the kept file is missing

    weight, bias = pretrained.imagenet_classifier(path, classes=NUM_CLASSES)
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=kept.parent, suffix=".npz", delete=False) as staged:
        np.savez(staged, weight=weight, bias=bias)
    os.replace(staged.name, kept)  # whole or not at all: another process may read it at the same moment
    return weight, bias
