"""The image backbone on ONNX Runtime: the same network and weights as the timm one, without torch or timm.

A scoring worker that imports timm pays about 2.8 CPU-seconds for it before it scores anything (with torch,
4.8 of a restart's 9.2; bench/RESULTS.md). So the backbone is exported once to ONNX (float32, the
same arithmetic: its embeddings are the torch model's to within float rounding, far below the float16 the
embeddings are stored in, so it keeps the embedding space and its name, and every head and stored vector
stays valid) and the worker runs that file. Exporting needs torch and timm (``classifiers.inference.image``);
``manage.py prepare_inference_models`` and the commands that install a backbone do it ahead of time, and a
worker that finds no file exports it itself, once, under a lock shared with other processes.

The preprocessing is timm's eval transform, rewritten on PIL and numpy: the whole image squashed to the
input size with the architecture's interpolation (what torchvision's ``Resize`` does to a PIL image), scaled
to [0, 1], normalised per channel. ``tests/classifiers/test_onnx_image.py`` holds it to the torch path.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from classifiers.inference import CategoryInfo
from classifiers.inference.image_scores import ImageScoring
from classifiers.inference.onnx_text import exclusive_lock
from classifiers.inference.threads import inference_threads

OPSET = 17
# Images per session run. ONNX Runtime's memory arena keeps room for the largest batch, and on two threads small
# runs cost no more CPU (Lite0, 64 photos, CPU ms per image / RSS kept: batch 8 18 / +195 MB, 4 16 / +103,
# 2 15 / +36, 1 15 / +18). bench/RESULTS.md.
BATCH_SIZE = 2
_RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
_backbones: dict[tuple[str, int], OnnxBackbone] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ExportedFiles:
    model: Path
    meta: Path

    def exist(self) -> bool:
        return self.model.exists() and self.meta.exists()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def exported_files(
    cache_dir: Path, architecture: str, checkpoint_sha256: str | None, input_size: int | None
) -> ExportedFiles:
    """Where the export of (architecture, checkpoint, input size) lives; the tool versions are part of its name."""
    tools = "|".join(importlib.metadata.version(package) for package in ("torch", "timm", "onnxruntime"))
    key = f"{architecture}|{checkpoint_sha256 or 'init'}|{input_size or 'default'}|{OPSET}|{tools}"
    stem = f"image-{architecture}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return ExportedFiles(model=cache_dir / f"{stem}.onnx", meta=cache_dir / f"{stem}.json")


def export_backbone(
    checkpoint_path: Path | None, architecture: str, cache_dir: Path, input_size: int | None = None
) -> ExportedFiles:
    """Export the timm backbone to ONNX unless already done; returns its files. Imports torch and timm."""
    sha = file_sha256(checkpoint_path) if checkpoint_path is not None else None
    files = exported_files(cache_dir, architecture, sha, input_size)
    if files.exist():
        return files
    cache_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(files.model.with_suffix(".lock")):
        if not files.exist():  # another process may have exported while this one waited
            _export(checkpoint_path, architecture, input_size, files)
    return files


def _export(checkpoint_path: Path | None, architecture: str, input_size: int | None, files: ExportedFiles) -> None:
    import torch

    from classifiers.inference.image import ImageModel, build_transform

    model = ImageModel.load(checkpoint_path, architecture, [], input_size)
    mean, std = model.normalization
    config, _ = build_transform(model.network, model.input_size, mean, std)
    size = model.input_size
    meta = {
        "backbone": model.backbone,
        "architecture": architecture,
        "input_size": size,
        "interpolation": config["interpolation"],
        "mean": list(mean),
        "std": list(std),
        "dim": model.dim,
    }
    with tempfile.TemporaryDirectory(dir=files.model.parent) as folder:
        staged = Path(folder) / "backbone.onnx"
        torch.onnx.export(
            model.network,
            (torch.zeros(1, 3, size, size),),
            str(staged),
            input_names=["image"],
            output_names=["features"],
            dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
        staged_meta = Path(folder) / "backbone.json"
        staged_meta.write_text(json.dumps(meta))
        # The model first: a reader checks for both files, so it never pairs a new sidecar with no model.
        os.replace(staged, files.model)
        os.replace(staged_meta, files.meta)


class OnnxBackbone:
    """An ONNX Runtime session over an exported backbone, with the preprocessing its network was trained with."""

    def __init__(self, files: ExportedFiles, *, threads: int = 1) -> None:
        import onnxruntime

        meta = json.loads(files.meta.read_text())
        self.backbone: str = meta["backbone"]
        self.architecture: str = meta["architecture"]
        self.input_size = int(meta["input_size"])
        self.dim = int(meta["dim"])
        self.resample = _RESAMPLING[meta["interpolation"]]
        self.mean = np.asarray(meta["mean"], dtype=np.float32)
        self.std = np.asarray(meta["std"], dtype=np.float32)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads would otherwise spin, burning the CPU other worker processes need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(files.model), options, providers=["CPUExecutionProvider"])
        (self._input,) = (i.name for i in self.session.get_inputs())
        shape = self.session.get_outputs()[0].shape
        if len(shape) != 2 or shape[1] != self.dim:
            raise ValueError(f"{files.model}: output shape {shape}, expected (batch, {self.dim})")

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """A normalised float32 batch ``(n, 3, size, size)``: timm's eval transform with crop_mode squash."""
        size = (self.input_size, self.input_size)
        batch = np.stack(
            [
                np.asarray((image if image.mode == "RGB" else image.convert("RGB")).resize(size, self.resample))
                for image in images
            ]
        ).astype(np.float32)
        batch /= 255.0
        batch -= self.mean
        batch /= self.std
        return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))

    def embed(self, images: Sequence[Image.Image], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = []
        for start in range(0, len(images), batch_size):
            (features,) = self.session.run(None, {self._input: self.preprocess(images[start : start + batch_size])})
            norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)  # as F.normalize
            rows.append(features / norms)
        return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)


class OnnxImageModel(ImageScoring):
    """The image model of ``classifiers.inference.image.ImageModel`` (same space, scores, head), on ONNX Runtime."""

    @classmethod
    def load(
        cls,
        checkpoint_path: Path | str | None,
        architecture: str,
        categories: Sequence[CategoryInfo],
        input_size: int | None = None,
        *,
        head: Any = None,
        cache_dir: Path,
    ) -> OnnxImageModel:
        """The model over the export of ``checkpoint_path`` (exported now if it is missing); see ``ImageModel.load``."""
        path = Path(checkpoint_path) if checkpoint_path else None
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"{path}: no such backbone checkpoint")
        sha = file_sha256(path) if path is not None else None
        files = exported_files(cache_dir, architecture, sha, input_size)
        if not files.exist():
            files = export_backbone(path, architecture, cache_dir, input_size)
        threads = inference_threads()
        with _lock:
            backbone = _backbones.get((str(files.model), threads))
            if backbone is None:
                backbone = _backbones[(str(files.model), threads)] = OnnxBackbone(files, threads=threads)
        return cls(backbone, categories, head)

    @property
    def backbone(self) -> str:
        """The embedding space, named as the torch model names it (the arithmetic is the same)."""
        return self._backbone.backbone

    def embed(self, images: Sequence[Image.Image], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """L2-normalised float32 embeddings, shape ``(len(images), dim)``, in input order."""
        return self._backbone.embed(images, batch_size=batch_size)


def clear_cache() -> None:
    """Forget every loaded session (tests)."""
    with _lock:
        _backbones.clear()
