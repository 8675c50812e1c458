"""Train a timm image backbone from scratch on labelled images, and save it in the project's checkpoint format.

No pretrained weights exist in this project (nothing is downloaded), so the image backbone the
workers embed with is trained here: a timm model with a classification head over integer classes,
trained end to end on CPU. The head is thrown away by ``save_backbone``; what is kept is the
backbone, whose pooled features ``classifiers.inference.image.ImageModel`` then embeds with and the
policy heads (``classifiers.heads``) are trained on. The same loop fine-tunes an existing backbone
(``initial_state``), which image retraining (``classifiers.image_retraining``) does when asked to.

Preprocessing is the inference transform itself (``image.build_transform``: squash to a square,
timm's interpolation), applied once per training image to a uint8 array; the float conversion,
normalisation and augmentation (horizontal flip, small translations) run per batch in torch.

Runs are deterministic for a given seed and thread count: the random init, the shuffles, the
augmentation and dropout all draw from generators seeded here, inside ``torch.random.fork_rng`` so
the caller's random state is left alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from classifiers.inference.image import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_INPUT_SIZE,
    FORMAT,
    build_transform,
    create_network,
)

ImagesLike = np.ndarray | Sequence[Image.Image]


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    loss: float
    train_accuracy: float
    val_accuracy: float | None
    seconds: float


@dataclass
class TrainMetrics:
    """What a run did: per-epoch results, speed, and the normalisation to save with the backbone."""

    architecture: str
    input_size: int
    num_classes: int
    train_images: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    epochs: list[EpochResult] = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0

    @property
    def val_accuracy(self) -> float | None:
        return self.epochs[-1].val_accuracy if self.epochs else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_backbone(
    images: ImagesLike,
    labels: Sequence[int] | np.ndarray,
    *,
    architecture: str = DEFAULT_ARCHITECTURE,
    input_size: int = DEFAULT_INPUT_SIZE,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.05,
    label_smoothing: float = 0.1,
    augment: bool = True,
    seed: int = 0,
    threads: int | None = None,
    val_images: ImagesLike | None = None,
    val_labels: Sequence[int] | np.ndarray | None = None,
    progress: Callable[[EpochResult], None] | None = None,
    initial_state: Mapping[str, torch.Tensor] | None = None,
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
    freeze_batchnorm: bool = False,
) -> tuple[torch.nn.Module, TrainMetrics]:
    """Train ``architecture`` to classify ``images`` into ``labels`` (ints 0..C-1), from random init or not.

    ``images`` is a uint8 array ``(n, h, w)`` (greyscale) or ``(n, h, w, 3)``, or a list of PIL images,
    each resized to ``input_size`` (the size the backbone will then embed at; the default is the
    workers' default, and a training step costs ~6x more at 160 px than at 64 px).
    AdamW with a one-cycle schedule, label smoothing, on CPU with ``threads`` torch threads (the
    process setting is restored afterwards). When ``val_images``/``val_labels`` are given, accuracy
    on them is measured after every epoch. ``progress`` is called with each epoch's result.
    Returns the model (with its classification head, in eval mode) and the run's metrics; pass
    ``metrics.mean``/``metrics.std`` to ``save_backbone``.

    Fine-tuning: ``initial_state`` is a backbone's state_dict without its classifier (what
    ``ImageModel.network`` holds); training starts from it, with a fresh classifier over ``labels``.
    ``normalization`` is ``(mean, std)`` to keep, e.g. the checkpoint's own, instead of measuring them
    on ``images``: the features the weights learned were computed with those. ``freeze_batchnorm``
    keeps the BatchNorm running statistics as they are (the layers run in eval mode while the
    weights train, and are not recomputed at the end): with a few hundred images, statistics
    re-estimated on them describe those images, not the data the backbone will embed.
    """
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1 or len(y) != _count(images) or len(y) < 2:
        raise ValueError(f"need one integer label per image (at least 2); got {len(y)} labels, {_count(images)} images")
    if y.min() < 0:
        raise ValueError("labels must be integers 0..C-1")
    num_classes = int(y.max()) + 1
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = create_network(architecture, num_classes=num_classes, seed=seed)
            if initial_state is not None:
                _load_backbone_state(model, initial_state, architecture)
            _reset_classifier(model)
            pixels = prepare_images(images, model, input_size)
            if normalization is not None:
                mean, std = (tuple(float(v) for v in normalization[0]), tuple(float(v) for v in normalization[1]))
            else:
                mean, std = _channel_stats(pixels)
            val = None
            if val_images is not None and val_labels is not None:
                val = (prepare_images(val_images, model, input_size), np.asarray(val_labels, dtype=np.int64))
            metrics = TrainMetrics(architecture, input_size, num_classes, len(y), mean, std)
            _fit(
                model,
                pixels,
                y,
                val,
                metrics,
                epochs,
                batch_size,
                lr,
                weight_decay,
                label_smoothing,
                augment,
                seed,
                progress,
                freeze_batchnorm=freeze_batchnorm,
            )
    finally:
        torch.set_num_threads(previous_threads)
    return model.eval(), metrics


def _fit(
    model: torch.nn.Module,
    pixels: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    metrics: TrainMetrics,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    label_smoothing: float,
    augment: bool,
    seed: int,
    progress: Callable[[EpochResult], None] | None,
    *,
    freeze_batchnorm: bool = False,
) -> None:
    n = len(y)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    batch_size = min(batch_size, n)
    # Dropping the ragged last batch keeps BatchNorm away from a batch of one.
    steps_per_epoch = n // batch_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch), pct_start=0.15
    )
    mean = torch.tensor(metrics.mean).view(1, 3, 1, 1)
    std = torch.tensor(metrics.std).view(1, 3, 1, 1)
    order_rng = np.random.default_rng(seed)
    augment_rng = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        if freeze_batchnorm:
            for norm in norms:
                norm.eval()
        order = order_rng.permutation(n)
        total_loss, correct = 0.0, 0
        for step in range(steps_per_epoch):
            index = np.sort(order[step * batch_size : (step + 1) * batch_size])
            x = _to_tensor(pixels[index], mean, std)
            if augment:
                x = _augment(x, augment_rng)
            target = torch.from_numpy(y[index])
            logits = model(x)
            loss = F.cross_entropy(logits, target, label_smoothing=label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == target).sum())
        seen = steps_per_epoch * batch_size
        val_accuracy = None
        if not freeze_batchnorm and (val is not None or epoch == epochs):
            recalibrate_batchnorm(model, pixels, metrics.mean, metrics.std, seed=seed + epoch)
        if val is not None:
            val_accuracy = float((classify(model, val[0], metrics.mean, metrics.std) == val[1]).mean())
        result = EpochResult(
            epoch=epoch,
            loss=total_loss / seen,
            train_accuracy=correct / seen,
            val_accuracy=val_accuracy,
            seconds=time.perf_counter() - epoch_started,
        )
        metrics.epochs.append(result)
        if progress is not None:
            progress(result)
    metrics.seconds = time.perf_counter() - started
    metrics.images_per_second = epochs * steps_per_epoch * batch_size / max(metrics.seconds, 1e-9)
    model.eval()


def recalibrate_batchnorm(
    model: torch.nn.Module,
    pixels: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    max_images: int = 1024,
    batch_size: int = 128,
    seed: int = 0,
) -> None:
    """Replace BatchNorm running statistics by exact averages over (up to ``max_images``) training images.

    The running averages lag behind weights that are still moving fast, which a short training run
    from scratch always has: after a few hundred steps the eval-mode network can be at chance while
    the train-mode one is right. Recomputing the statistics with the final weights fixes that.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    index = np.sort(np.random.default_rng(seed).permutation(len(pixels))[:max_images])
    mean_t = torch.tensor(tuple(mean)).view(1, 3, 1, 1)
    std_t = torch.tensor(tuple(std)).view(1, 3, 1, 1)
    model.train()
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            if len(chunk) > 1:
                model(_to_tensor(pixels[chunk], mean_t, std_t))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()


def classify(
    model: torch.nn.Module, pixels: np.ndarray, mean: Sequence[float], std: Sequence[float], *, batch_size: int = 256
) -> np.ndarray:
    """Predicted class per row of ``pixels`` (uint8 ``(n, s, s, 3)`` from ``prepare_images``)."""
    mean_t = torch.tensor(tuple(mean)).view(1, 3, 1, 1)
    std_t = torch.tensor(tuple(std)).view(1, 3, 1, 1)
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(pixels), batch_size):
            out.append(model(_to_tensor(pixels[start : start + batch_size], mean_t, std_t)).argmax(1).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def prepare_images(images: ImagesLike, network: torch.nn.Module, input_size: int) -> np.ndarray:
    """uint8 ``(n, input_size, input_size, 3)``: each image resized exactly as ``ImageModel`` resizes it."""
    _, transform = build_transform(network, input_size)
    resize = _pil_steps(transform)
    out = np.empty((_count(images), input_size, input_size, 3), dtype=np.uint8)
    for i, image in enumerate(_iter_pil(images)):
        for step in resize:
            image = step(image)
        out[i] = np.asarray(image, dtype=np.uint8)
    return out


def save_backbone(
    model: torch.nn.Module,
    path: Path | str,
    *,
    architecture: str,
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    meta: dict[str, Any] | None = None,
) -> str:
    """Write the backbone of ``model`` (classifier dropped) in the format ``ImageModel.load`` reads.

    ``meta`` is free-form JSON-able information (data, metrics) kept in the file. The file is
    written to a temporary name and renamed, so a reader never sees half of it. Returns its sha256.
    """
    reference = create_network(architecture).state_dict()
    state = model.state_dict()
    missing = [k for k in reference if k not in state or state[k].shape != reference[k].shape]
    if missing:
        raise ValueError(
            f"model does not fit {architecture}: {len(missing)} tensors missing or reshaped, e.g. {missing[:3]}"
        )
    payload = {
        "format": FORMAT,
        "architecture": architecture,
        "input_size": int(input_size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "state_dict": {k: state[k].detach().cpu().clone().contiguous() for k in reference},
        # A JSON round trip keeps meta to the plain types torch.load(weights_only=True) accepts.
        "meta": json.loads(json.dumps(meta or {})),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(payload, out)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; workers may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_backbone_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor], architecture: str) -> None:
    """Load a backbone's weights into ``model``; only its classifier may be missing from ``state``."""
    classifier = model.get_classifier()
    own = {f"{name}." for name, module in model.named_modules() if module is classifier and name}
    result = model.load_state_dict(dict(state), strict=False)
    missing = [key for key in result.missing_keys if not key.startswith(tuple(own))]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"the initial weights do not fit {architecture}: "
            f"missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}"
        )


def _reset_classifier(model: torch.nn.Module) -> None:
    """Small initial logits: timm's Google-style init scales the head by 1/sqrt(num_classes), which
    for a handful of classes starts training with logits of several units and a diverging loss."""
    classifier = model.get_classifier()
    if isinstance(classifier, torch.nn.Linear):
        torch.nn.init.normal_(classifier.weight, std=0.01)
        torch.nn.init.zeros_(classifier.bias)


def _count(images: ImagesLike) -> int:
    return int(images.shape[0]) if isinstance(images, np.ndarray) else len(images)


def _iter_pil(images: ImagesLike):
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[3] != 3):
            raise ValueError(f"need uint8 images (n, h, w) or (n, h, w, 3); got {images.dtype} {images.shape}")
        for row in images:
            yield Image.fromarray(row).convert("RGB")
    else:
        for image in images:
            yield image.convert("RGB")


def _pil_steps(transform: Any) -> list[Any]:
    """The PIL-to-PIL steps of timm's eval transform: everything before the tensor conversion."""
    steps = list(transform.transforms)
    names = [type(step).__name__ for step in steps]
    for i, name in enumerate(names):
        if name in ("ToTensor", "MaybeToTensor", "PILToTensor", "MaybePILToTensor"):
            if names[i + 1 :] != ["Normalize"]:
                raise RuntimeError(f"unexpected timm eval transform: {names}")
            return steps[:i]
    raise RuntimeError(f"unexpected timm eval transform: {names}")


def _channel_stats(pixels: np.ndarray) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and std in [0, 1], from up to 2,000 images (enough for four digits)."""
    sample = pixels[:: max(1, len(pixels) // 2000)].reshape(-1, 3).astype(np.float64) / 255.0
    mean = sample.mean(0)
    std = np.maximum(sample.std(0), 1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)  # type: ignore[return-value]


def _to_tensor(pixels: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean) / std


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and translations of up to 1/8 of the side (reflect-padded)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)
    pad = max(1, math.ceil(h / 8))
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)])
