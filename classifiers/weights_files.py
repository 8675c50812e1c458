"""Checking a model file that ships inside a pinned package: present, of the pinned size and SHA-256.

Torch-free, so the ONNX models (``classifiers.image_safety``) and the torch ones (``classifiers.pretrained``)
share one check and one error.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


class WeightsFileError(ValueError):
    """A weights file that is missing, truncated, altered or does not fit; the message names the file."""


def packaged_file(module: str, relative: str, *, package: str, version: str) -> Path:
    """The path of ``relative`` inside the installed ``module`` (found without importing it)."""
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise WeightsFileError(
            f"the package {package}=={version} is not installed, so {relative} is missing (run make setup)"
        )
    return Path(next(iter(found.submodule_search_locations))) / relative


def verify_file(path: Path, *, size: int, sha256: str) -> None:
    """Refuse a file that is missing, of another size, or of another SHA-256, naming the file and the mismatch."""
    if not path.is_file():
        raise WeightsFileError(f"{path}: the weights file is missing")
    actual_size = path.stat().st_size
    if actual_size != size:
        kind = "truncated" if actual_size < size else "longer than the pinned file"
        raise WeightsFileError(f"{path}: {actual_size} bytes, expected {size} ({kind})")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise WeightsFileError(f"{path}: sha256 {digest.hexdigest()}, expected {sha256} (the file was altered)")
