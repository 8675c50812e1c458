"""Image model: a timm backbone (trained by the project, or supplied by an operator), an optional head, a prior.

Nothing here downloads: the backbone is always ``timm.create_model(arch, pretrained=False, num_classes=0)``
and its weights, if any, come from a local checkpoint file. Two checkpoint layouts are read:

* the project's own (``save_backbone`` in ``classifiers.image_training`` writes it): a dict with
  ``format = "moderation.image_backbone/1"``, ``architecture``, ``input_size``, ``mean``, ``std`` and a
  ``state_dict`` without classifier weights;
* an operator's plain timm checkpoint: a bare ``state_dict``, or a dict holding one under ``state_dict``,
  ``model`` or ``state_dict_ema`` (what timm's ``train.py`` and ``timm.models.load_checkpoint`` use),
  with ``.pth``/``.pt`` pickles read by ``torch.load(weights_only=True)`` or ``.safetensors`` files.
  Classifier-head weights are dropped (the backbone is built with ``num_classes=0``); any other
  missing, unexpected or wrongly shaped key is refused with a ``ValueError`` that lists them.

Embeddings are the backbone's pooled features, L2-normalised. Their space is named by ``backbone``
(architecture, checkpoint hash and input size), the key under which workers store them: a new
checkpoint is a new space, and old vectors are never mixed with new ones.

Scores: categories covered by a trained head (``classifiers.heads.Head`` or anything with the same
``categories`` / ``predict_proba`` interface) come from it; every other requested category comes
from the cold-start prior in ``classifiers.image_priors`` and is flagged ``from_prior=True``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config
from torch.nn import functional as F

from classifiers.inference import CategoryInfo
from classifiers.inference.image_decoding import ALLOWED_FORMATS as ALLOWED_FORMATS
from classifiers.inference.image_decoding import MAX_BYTES as MAX_BYTES
from classifiers.inference.image_decoding import MAX_PIXELS as MAX_PIXELS
from classifiers.inference.image_decoding import ImageDecodeError as ImageDecodeError
from classifiers.inference.image_decoding import decode_image as decode_image
from classifiers.inference.image_decoding import describe_error
from classifiers.inference.image_scores import ImageScoring

logger = logging.getLogger(__name__)

FORMAT = "moderation.image_backbone/1"
# Chosen from bench/image_backbones.py on the 2-core target (see bench/RESULTS.md): the fastest
# candidate per image at inference and in training, with the smallest memory footprint.
DEFAULT_ARCHITECTURE = "mobilenetv3_small_100"
DEFAULT_INPUT_SIZE = 160
# Images per forward pass. 8, not 32: with the pretrained Lite0 at 224 px a batch of 32 held ~400 MB of
# activations and took a worker past 1.5 GB (bench/worker_memory.py); on CPU a smaller batch costs little speed.
BATCH_SIZE = 8

_cache: dict[tuple[str, str, int | None], _Backbone] = {}
_cache_lock = threading.Lock()


@dataclass
class _Backbone:
    """What is shared by every ImageModel over the same weights: the network and its preprocessing."""

    architecture: str
    checkpoint_sha256: str | None
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    network: torch.nn.Module
    transform: Any
    dim: int
    meta: dict[str, Any] = field(default_factory=dict)


class ImageModel(ImageScoring):
    """A loaded image backbone plus the categories to score, an optional trained head and the prior."""

    @classmethod
    def load(
        cls,
        checkpoint_path: Path | str | None,
        architecture: str,
        categories: Sequence[CategoryInfo],
        input_size: int | None = None,
        *,
        head: Any = None,
    ) -> ImageModel:
        """The model for ``architecture`` with the weights in ``checkpoint_path`` (random init when None).

        ``input_size`` (square side in pixels) defaults to the checkpoint's own for the project's format,
        to timm's default for the architecture for an operator's timm checkpoint (224 for most), and to
        ``DEFAULT_INPUT_SIZE`` for the untrained network. The network is loaded once per process for a given
        (architecture, checkpoint sha256, input size). Without a checkpoint the weights are timm's
        initialisation under a fixed seed, so the "init" embedding space is the same in every process.
        Raises ``ValueError`` when the checkpoint does not fit the architecture, ``FileNotFoundError``
        when it does not exist.
        """
        path = Path(checkpoint_path) if checkpoint_path else None
        sha = _sha256(path) if path is not None else None
        key = (architecture, sha or "init", input_size)
        with _cache_lock:
            backbone = _cache.get(key)
            if backbone is None:
                backbone = _load_backbone(path, sha, architecture, input_size)
                _cache[key] = backbone
                _cache.setdefault((architecture, sha or "init", backbone.input_size), backbone)
        return cls(backbone, categories, head)

    @property
    def network(self) -> torch.nn.Module:
        return self._backbone.network

    @property
    def normalization(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """The per-channel (mean, std) the backbone's inputs are normalised with."""
        return self._backbone.mean, self._backbone.std

    @property
    def backbone(self) -> str:
        """The embedding space: ``timm:<arch>@<12 hex of the checkpoint's sha256, or 'init'>/<input size>``."""
        sha = self._backbone.checkpoint_sha256
        return f"timm:{self.architecture}@{sha[:12] if sha else 'init'}/{self.input_size}"

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """A normalised float batch ``(n, 3, input_size, input_size)`` from RGB images."""
        # convert() would copy an image that is already RGB (108 MB at 36 MP) only to resize it.
        return torch.stack(
            [self._backbone.transform(image if image.mode == "RGB" else image.convert("RGB")) for image in images]
        )

    def embed(self, images: Sequence[Image.Image], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """L2-normalised float32 embeddings, shape ``(len(images), dim)``, in input order."""
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                features = self.network(self.preprocess(images[start : start + batch_size]))
                rows.append(F.normalize(features.float(), dim=1).numpy())
        return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def create_network(architecture: str, *, num_classes: int = 0, seed: int = 0) -> torch.nn.Module:
    """``timm.create_model(architecture, pretrained=False)`` with a fixed seed for its random init."""
    if architecture not in timm.list_models():
        raise ValueError(f"unknown timm architecture {architecture!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(architecture, pretrained=False, num_classes=num_classes)


def build_transform(
    network: torch.nn.Module, input_size: int, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> tuple[dict[str, Any], Any]:
    """timm's data config and eval transform (PIL image -> normalised tensor) for ``network``.

    The whole image is squashed to a square rather than centre-cropped: a moderation model must not
    crop away the edges, where the violating part of a picture may well be. Interpolation, and the
    normalisation when ``mean``/``std`` are not given, come from the architecture's timm config.
    Training (``classifiers.image_training``) resizes with the same transform.
    """
    overrides: dict[str, Any] = {"input_size": (3, input_size, input_size), "crop_pct": 1.0, "crop_mode": "squash"}
    if mean is not None and std is not None:
        overrides.update(mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))
    config = resolve_data_config(overrides, model=network)
    return config, create_transform(**config, is_training=False)


def _load_backbone(path: Path | None, sha: str | None, architecture: str, input_size: int | None) -> _Backbone:
    network = create_network(architecture)
    mean = std = None
    size = input_size
    meta: dict[str, Any] = {}
    if path is not None:
        blob = _read_checkpoint(path)
        if isinstance(blob, Mapping) and isinstance(blob.get("format"), str):
            state, size, mean, std, meta = _unpack_project_checkpoint(blob, architecture, path, input_size)
        else:
            state = _unpack_timm_checkpoint(blob, path)
            # Weights trained elsewhere are run at the resolution timm's config gives the architecture.
            size = size or network.pretrained_cfg.get("input_size", (3, DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE))[-1]
        _load_weights(network, state, architecture, path)
    network.eval()
    size = int(size or DEFAULT_INPUT_SIZE)
    config, transform = build_transform(network, size, mean, std)
    with torch.inference_mode():
        dim = int(network(torch.zeros(1, 3, size, size)).shape[1])
    logger.info("loaded image backbone %s from %s (dim %d, %d px)", architecture, path or "init", dim, size)
    return _Backbone(
        architecture=architecture,
        checkpoint_sha256=sha,
        input_size=size,
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        network=network,
        transform=transform,
        dim=dim,
        meta=meta,
    )


def _read_checkpoint(path: Path) -> Any:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        # timm's train.py stores its argparse Namespace next to the weights; it holds plain values only.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(
            f"{path.name} is not a checkpoint this service can read safely (torch.load with weights_only=True "
            f"failed: {describe_error(exc)}). Save a plain dict of tensors, e.g. torch.save(model.state_dict(), path)."
        ) from None


def _unpack_project_checkpoint(
    blob: Mapping[str, Any], architecture: str, path: Path, input_size: int | None
) -> tuple[Mapping[str, torch.Tensor], int, Sequence[float], Sequence[float], dict[str, Any]]:
    if blob["format"] != FORMAT:
        raise ValueError(f"{path.name} has checkpoint format {blob['format']!r}; this code reads {FORMAT!r}")
    if blob.get("architecture") != architecture:
        raise ValueError(
            f"{path.name} holds weights for {blob.get('architecture')!r}, not for the requested {architecture!r}"
        )
    size = int(blob["input_size"])
    if input_size is not None and input_size != size:
        logger.warning("%s was trained at %d px; running it at %d px as asked", path.name, size, input_size)
        size = input_size
    return blob["state_dict"], size, blob["mean"], blob["std"], dict(blob.get("meta") or {})


def _unpack_timm_checkpoint(blob: Any, path: Path) -> Mapping[str, torch.Tensor]:
    if not isinstance(blob, Mapping):
        raise ValueError(f"{path.name} does not hold a state_dict (found {type(blob).__name__})")
    # The order of timm.models.load_state_dict without use_ema; an EMA-only file is still usable.
    for key in ("state_dict", "model", "state_dict_ema", "model_ema"):
        if isinstance(blob.get(key), Mapping):
            blob = blob[key]
            break
    if not blob or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise ValueError(f"{path.name} does not hold a state_dict of tensors")
    # Strips the "module." prefix that DataParallel/DistributedDataParallel training leaves.
    return timm.models.clean_state_dict(dict(blob))


def _load_weights(network: torch.nn.Module, state: Mapping[str, torch.Tensor], architecture: str, path: Path) -> None:
    """Load ``state`` strictly, except for the classifier head that ``num_classes=0`` removed."""
    expected = network.state_dict()
    classifier = network.pretrained_cfg.get("classifier") or ()
    prefixes = tuple(f"{name}." for name in ([classifier] if isinstance(classifier, str) else classifier))
    state = {k: v for k, v in state.items() if not (k not in expected and k.startswith(prefixes))}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
            if keys:
                shown = ", ".join(keys[:5]) + (f", ... ({len(keys)} in all)" if len(keys) > 5 else "")
                problems.append(f"{len(keys)} {label} keys: {shown}")
        raise ValueError(
            f"{path.name} does not fit the {architecture} architecture ({len(state)} tensors in the file, "
            f"{len(expected)} expected): " + "; ".join(problems)
        )
    network.load_state_dict(state, strict=True)


def clear_cache() -> None:
    """Forget every loaded backbone (tests; after replacing a checkpoint file in place)."""
    with _cache_lock:
        _cache.clear()
