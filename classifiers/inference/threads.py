"""Torch's thread count, set once per process to that process's share of the cores."""

import torch


def set_torch_threads(threads: int) -> None:
    torch.set_num_threads(threads)
