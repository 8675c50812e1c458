"""Reading heads saved by earlier versions with ``torch.save`` (format ``moderation.head/1``).

Heads are ``.npz`` files now (``classifiers.heads``), so that scoring never imports torch; model versions
registered before keep their files (and the SHA-256 they were registered with), so those still load, here,
and are the only heads whose loading imports torch. Retraining writes the new format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def read_legacy_head(path: Path, *, expected_format: str, current_format: str) -> dict[str, Any]:
    """The plain values and numpy arrays of a ``torch.save`` head, in the shape ``Head.load`` reads.

    ``weights_only``: only tensors and plain values are unpickled. ValueError, naming the file, for a torch file
    that is not a head of ``expected_format``.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file that is not its own
        raise ValueError(f"{path} is not a {current_format} or {expected_format} file: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != expected_format:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path} is not a {current_format} or {expected_format} file (format: {found!r})")
    try:
        return {
            **{key: blob[key] for key in ("categories", "dim", "config")},
            "features": blob.get("features"),
            "summary": blob.get("summary"),
            "mean": blob["mean"].numpy(),
            "scale": blob["scale"].numpy(),
            "calibration": blob["calibration"].numpy(),
            "state_dict": {key: value.numpy() for key, value in blob["state_dict"].items()},
            "extras": {key: value.numpy() for key, value in (blob.get("extras") or {}).items()},
        }
    except (KeyError, AttributeError) as exc:
        raise ValueError(f"{path} is inconsistent: {type(exc).__name__}: {exc}") from exc
