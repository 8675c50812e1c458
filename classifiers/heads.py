"""A multi-label classification head over fixed feature vectors, shared by the text and image models.

The backbones (sentence encoder, timm image model) stay frozen; what is trained on reviewer labels is
this small head: a linear layer (``hidden=0``, one logistic regression per category) or a
one-hidden-layer MLP, over standardised features, with Platt-scaled probabilities per category.
Training (torch, ``classifiers.head_training``) says how and why.

This module only runs and stores trained heads, in numpy: a scoring worker that loads heads never
imports torch (about 2.4 CPU-seconds of a restarted worker's start, bench/RESULTS.md). A head
is a NumPy ``.npz`` file read without pickle; heads written by earlier versions with ``torch.save``
(format ``moderation.head/1``) still load, through ``classifiers.legacy_head_files`` (torch, imported
only for such a file).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "moderation.head/2"
LEGACY_FORMAT = "moderation.head/1"  # torch.save files, read by classifiers.legacy_head_files
UNKNOWN = -1
_META = "meta"  # the .npz member holding the JSON of the plain values


@dataclass(frozen=True)
class HeadConfig:
    # Units in the hidden layer (ReLU); 0 trains a linear head, the measured best with the text
    # model's features. An MLP costs far more per epoch: on 10,000 x 384 features hidden=64 with
    # epochs=100 is the cheap setting (bench/RESULTS.md has the timings).
    hidden: int = 0
    # Training is full-batch L-BFGS: an epoch is one L-BFGS iteration (a pass or two over every row;
    # the features of a label set fit in memory many times over), and it stops early once converged.
    # Full batch makes training deterministic without shuffling, needs no learning-rate schedule, and
    # runs as a few large matrix products instead of thousands of tiny ones, which keeps it fast on
    # two busy cores.
    epochs: int = 200
    lr: float = 1.0  # L-BFGS step scale; the strong-Wolfe line search adapts it
    weight_decay: float = 1e-2  # L2 penalty on the weights (not the biases), added to the mean loss
    # Folds of the out-of-fold logits that Platt scaling is fitted on (module docstring); 0 leaves the
    # head uncalibrated (slope 1, bias 0), for callers that calibrate themselves.
    calibration_folds: int = 5
    seed: int = 0  # weight initialisation and the calibration folds


class Head:
    """A trained head: ``predict_proba(features)`` gives calibrated probabilities, one column per category.

    ``categories`` are the slugs the head was trained on, in column order. ``features`` describes the
    feature pipeline the head expects (opaque here; the text or image model builds the features).
    ``state_dict`` holds the layers' arrays under the names torch's ``nn.Sequential`` gives them
    (``0.weight``, ``0.bias``, and ``2.weight``, ``2.bias`` after the ReLU of a hidden layer).
    """

    def __init__(
        self,
        *,
        categories: Sequence[str],
        dim: int,
        config: HeadConfig,
        state_dict: Mapping[str, np.ndarray],
        mean: np.ndarray,
        scale: np.ndarray,
        calibration: np.ndarray,
        features: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.categories = tuple(categories)
        self.extras = {key: np.asarray(value) for key, value in (extras or {}).items()}
        self.dim = int(dim)
        self.config = config
        self.features = dict(features or {})
        self.summary = dict(summary or {})
        self._mean = np.asarray(mean, dtype=np.float32)
        self._scale = np.asarray(scale, dtype=np.float32)
        self._calibration = np.asarray(calibration, dtype=np.float64).reshape(len(self.categories), 2)
        self._layers = _checked_layers(state_dict, self.dim, len(self.categories), config)
        # Set by train_head only, never saved: each training row's calibrated probability from the fold head that
        # did not see it (NaN for rows without a known label), and the row's fold (-1 for those rows). A model
        # that stacks something on the head (the text blend) calibrates its own output on these.
        self.out_of_fold_proba: np.ndarray | None = None
        self.out_of_fold_folds: np.ndarray | None = None

    @property
    def state_dict(self) -> dict[str, np.ndarray]:
        """The layers' arrays, named as in ``__init__`` (copies)."""
        names = ("0", "2")
        return {
            f"{name}.{part}": array.copy()
            for name, layer in zip(names, self._layers, strict=False)
            for part, array in zip(("weight", "bias"), layer, strict=True)
        }

    def logits(self, features: np.ndarray) -> np.ndarray:
        """Uncalibrated logits, shape ``(n, len(categories))``: the float32 arithmetic of torch's ``nn.Linear``."""
        out = (_as_features(features, self.dim) - self._mean) / self._scale
        for index, (weight, bias) in enumerate(self._layers):
            if index:
                out = np.maximum(out, 0)  # the ReLU between the two layers of a hidden-layer head
            out = out @ weight.T + bias
        return out.astype(np.float64)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, float32, shape ``(n, len(categories))``."""
        z = self.logits(features)
        slope, bias = self._calibration[:, 0], self._calibration[:, 1]
        return sigmoid(z * slope + bias).astype(np.float32)

    def save(self, path: Path | str) -> None:
        """Write the head as an uncompressed ``.npz``: arrays, plus the plain values as one JSON string."""
        meta = {
            "format": FORMAT,
            "categories": list(self.categories),
            "dim": self.dim,
            "config": asdict(self.config),
            "features": self.features,
            "summary": self.summary,
            "extras": sorted(self.extras),
        }
        arrays = {f"net.{key}": value for key, value in self.state_dict.items()}
        arrays.update({f"extras.{key}": np.ascontiguousarray(value) for key, value in self.extras.items()})
        with Path(path).open("wb") as handle:  # a file object: savez would append .npz to a path without it
            np.savez(
                handle,
                **{_META: np.array(json.dumps(meta))},
                mean=self._mean,
                scale=self._scale,
                calibration=self._calibration,
                **arrays,
            )

    @classmethod
    def load(cls, path: Path | str, *, expected_dim: int | None = None) -> Head:
        """Read a head written by ``save`` (or by the torch-based ``save`` of ``moderation.head/1``).

        Raises ValueError naming the file for another format, a file that is not a head, arrays that do not fit
        together, or a feature-size mismatch; FileNotFoundError when it is missing.
        """
        path = Path(path)
        if _is_torch_file(path):  # FileNotFoundError passes through
            from classifiers.legacy_head_files import read_legacy_head

            blob = read_legacy_head(path, expected_format=LEGACY_FORMAT, current_format=FORMAT)
        else:
            blob = _read_npz(path)
        dim, categories = int(blob["dim"]), list(blob["categories"])
        if expected_dim is not None and dim != expected_dim:
            raise ValueError(f"{path} expects {dim}-dimensional features, this model gives {expected_dim}")
        known = {field.name for field in fields(HeadConfig)}
        config = HeadConfig(**{key: value for key, value in blob["config"].items() if key in known})
        mean, scale, calibration = blob["mean"], blob["scale"], blob["calibration"]
        if mean.shape != (dim,) or scale.shape != (dim,) or calibration.shape != (len(categories), 2):
            raise ValueError(f"{path} is inconsistent: its arrays do not match dim={dim}, {len(categories)} categories")
        try:
            return cls(
                categories=categories,
                dim=dim,
                config=config,
                state_dict=blob["state_dict"],
                mean=mean,
                scale=scale,
                calibration=calibration,
                features=blob.get("features"),
                summary=blob.get("summary"),
                extras=blob.get("extras"),
            )
        except ValueError as exc:  # layers of another shape than dim and categories say
            raise ValueError(f"{path} is inconsistent: {exc}") from exc


def _is_torch_file(path: Path) -> bool:
    """True for a ``torch.save`` archive (a zip holding ``data.pkl``); an ``.npz`` is a zip of ``.npy`` files."""
    with path.open("rb"):  # FileNotFoundError for a missing file, before anything else
        pass
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name == "data.pkl" or name.endswith("/data.pkl") for name in archive.namelist())


def _read_npz(path: Path) -> dict[str, Any]:
    """The plain values and arrays of a ``moderation.head/2`` file; never unpickles anything."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop(_META)[()]))
    except Exception as exc:  # noqa: BLE001 - numpy, zipfile and json raise several types for a file not ours
        raise ValueError(f"{path} is not a {FORMAT} file: {type(exc).__name__}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path} is not a {FORMAT} file (format: {found!r})")
    try:
        return {
            **meta,
            "mean": arrays["mean"],
            "scale": arrays["scale"],
            "calibration": arrays["calibration"],
            "state_dict": {name[4:]: value for name, value in arrays.items() if name.startswith("net.")},
            "extras": {key: arrays[f"extras.{key}"] for key in meta.get("extras", [])},
        }
    except KeyError as exc:
        raise ValueError(f"{path} is inconsistent: the array {exc} is missing") from exc


def _checked_layers(
    state_dict: Mapping[str, Any], dim: int, n_categories: int, config: HeadConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (weight, bias) float32 pairs of the head's linear layers, refused unless their shapes fit."""
    widths = [dim, config.hidden, n_categories] if config.hidden > 0 else [dim, n_categories]
    names = ["0", "2"][: len(widths) - 1]
    expected = {f"{name}.weight" for name in names} | {f"{name}.bias" for name in names}
    if set(state_dict) != expected:
        raise ValueError(f"layers {sorted(state_dict)}, expected {sorted(expected)}")
    layers = []
    for name, (inputs, outputs) in zip(names, zip(widths, widths[1:], strict=False), strict=True):
        weight = np.ascontiguousarray(state_dict[f"{name}.weight"], dtype=np.float32)
        bias = np.ascontiguousarray(state_dict[f"{name}.bias"], dtype=np.float32)
        if weight.shape != (outputs, inputs) or bias.shape != (outputs,):
            raise ValueError(
                f"layer {name} has weight {weight.shape} and bias {bias.shape}, expected ({outputs}, {inputs}) "
                f"and ({outputs},)"
            )
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise ValueError(f"layer {name} holds NaN or infinite weights")
        layers.append((weight, bias))
    return layers


def evaluate(
    probs: np.ndarray, labels: np.ndarray, threshold: float = 0.5, *, categories: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per-category metrics on rows whose label is known (not -1).

    Each entry: ``precision``, ``recall``, ``f1`` at ``threshold``; ``roc_auc``, ``pr_auc`` (average
    precision); ``ece`` (expected calibration error, 10 equal-width bins); ``brier``; ``support``
    (positives, negatives). A metric that is undefined (an AUC without both classes, a precision
    without predicted positives) is None rather than an arbitrary number.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score  # training only: scoring never needs it

    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.shape != y.shape or p.ndim != 2 or p.shape[1] != len(categories):
        raise ValueError(f"need probs and labels of shape (n, {len(categories)}); got {p.shape} and {y.shape}")
    report: dict[str, dict[str, Any]] = {}
    for j, slug in enumerate(categories):
        known = y[:, j] != UNKNOWN
        truth, score = y[known, j] == 1, p[known, j]
        positives, negatives = int(truth.sum()), int((~truth).sum())
        predicted = score >= threshold
        tp = int((predicted & truth).sum())
        precision = tp / int(predicted.sum()) if predicted.any() else None
        recall = tp / positives if positives else None
        f1 = 2 * tp / (positives + int(predicted.sum())) if positives + predicted.sum() else None
        both = positives > 0 and negatives > 0
        report[slug] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "roc_auc": float(roc_auc_score(truth, score)) if both else None,
            "pr_auc": float(average_precision_score(truth, score)) if both else None,
            "ece": expected_calibration_error(score, truth) if known.any() else None,
            "brier": float(np.mean((score - truth) ** 2)) if known.any() else None,
            "support": {"positives": positives, "negatives": negatives},
        }
    return report


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean probability| over equal-width probability bins, weighted by bin size."""
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    index = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = index == b
        if in_bin.any():
            total += in_bin.sum() * abs(t[in_bin].mean() - p[in_bin].mean())
    return float(total / max(len(p), 1))


def _as_features(features: np.ndarray, dim: int) -> np.ndarray:
    x = np.ascontiguousarray(features, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"this head expects features of shape (n, {dim}); got {x.shape}")
    return x


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|
