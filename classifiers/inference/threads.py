"""The inference thread count, set once per process to that process's share of the cores.

Torch and ONNX Runtime sessions (the text encoder, the image backbone) read the same figure, so a worker
never runs more threads than its share whichever runtime embeds.
"""

import os
import sys

_threads: int | None = None


def set_inference_threads(threads: int) -> None:
    """The thread count of every ONNX Runtime session created from now on, and torch's (``sync_torch_threads``)."""
    global _threads
    _threads = max(1, int(threads))
    sync_torch_threads()


def sync_torch_threads(*, import_torch: bool = False) -> None:
    """Give torch the figure set here if torch is imported (or ``import_torch``, for training, which runs on it).

    A scoring worker that runs ONNX Runtime and numpy only never imports torch (about 2.4 CPU-seconds of its
    start) just to set its threads; the runtime calls this again after loading each model, which may have
    imported torch (a timm backbone, the torch text encoder, a head saved by torch).
    """
    torch = sys.modules.get("torch")
    if torch is None and import_torch:
        import torch
    if torch is not None and _threads is not None:
        torch.set_num_threads(_threads)


def inference_threads() -> int:
    """The figure set by ``set_inference_threads``; before that, ``OMP_NUM_THREADS`` or every core."""
    if _threads is not None:
        return _threads
    return int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
