"""The inference thread count, set once per process to that process's share of the cores.

Torch and ONNX Runtime sessions (the text encoder, the image backbone) read the same figure, so a worker
never runs more threads than its share whichever runtime embeds.
"""

import os

_threads: int | None = None


def set_inference_threads(threads: int) -> None:
    """Torch's thread count now, and that of every ONNX Runtime session created from now on."""
    global _threads
    _threads = max(1, int(threads))
    import torch  # imported on use: a process that never sets threads need not pay for torch here

    torch.set_num_threads(_threads)


def inference_threads() -> int:
    """The figure set by ``set_inference_threads``; before that, ``OMP_NUM_THREADS`` or every core."""
    if _threads is not None:
        return _threads
    return int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
