"""Fine-tuning the sentence encoder's last layer on reviewer labels (torch; training only; issue 20, point 5).

A head on frozen MiniLM embeddings plus the lexical regression stopped near F1 0.98 on SpamAssassin with
every label, and neither the whole mail embedded, nor a kNN vote, nor richer n-grams moved it; training the
encoder's last transformer layer on the labels did, on every split (bench/RESULTS.md, sessions 14-15). So a
text retraining run with enough labels (``RETRAIN_TEXT_TUNE_MIN_LABELS``) can train that layer, then the
usual head and lexical blend on the new embeddings.

How, and why this way:

* Only the last of the six layers trains. The first five run once per mail, in inference mode, and their
  output (word pieces x 384, float16) is kept (``layer_inputs``); each epoch then costs one layer's forward and
  backward, about a sixth of the network's. A linear layer on the pooled, normalised output (one logit per
  category, unknown labels masked as in ``classifiers.head_training``) gives the loss; it is thrown away
  afterwards, the head is trained on the new embeddings as on any others.
* The tuned network is exported to ONNX with int8 weights exactly as the packaged encoder is
  (``classifiers.inference.onnx_text``), so scoring costs what it did and needs neither torch nor
  transformers. Its file is the model version's backbone file (sha256-checked when loaded), and its embedding
  space is named by that hash (``TUNED_PREFIX``): stored vectors and heads of one space never meet another's.
* Small steps (AdamW, 3e-5 on the layer, 1e-2 on the linear layer, two epochs): the layer must stay close to
  what the pretrained encoder does, since the lexical regression and the hashed n-grams carry much of the
  decision and the embedding half adds to them.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from classifiers.heads import UNKNOWN
from classifiers.inference import onnx_text
from classifiers.inference.text import TUNED_PREFIX

logger = logging.getLogger(__name__)

HIDDEN = 384
# The pooled vector is L2-normalised (as the encoder's embeddings are); a linear layer on unit vectors needs
# large weights to reach confident logits, which a 1e-2 learning rate takes epochs to grow. Scaling by 10
# gives it that range from the first step.
LOGIT_SCALE = 10.0


@dataclass(frozen=True)
class TuningConfig:
    epochs: int = 2
    layers: int = 1  # how many of the last layers train (the rest run once, in inference mode)
    layer_lr: float = 3e-5
    head_lr: float = 1e-2
    weight_decay: float = 0.01
    batch_size: int = 16
    budget_seconds: float = 0.0  # process CPU seconds for the whole tuning (0 = no limit); checked per batch
    seed: int = 0


@dataclass(frozen=True)
class LayerInputs:
    """The input of the trained layers for each text: word pieces x 384, float16, concatenated (``offsets`` bound
    row i)."""

    flat: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def batch(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded float32 states ``(b, tokens, 384)`` and the attention mask ``(b, tokens)`` of ``rows``."""
        width = max(int(self.lengths[i]) for i in rows)
        states = np.zeros((len(rows), width, HIDDEN), np.float32)
        mask = np.zeros((len(rows), width), np.float32)
        for k, i in enumerate(rows):
            part = self.flat[self.offsets[i] : self.offsets[i + 1]]
            states[k, : len(part)] = part
            mask[k, : len(part)] = 1.0
        return torch.from_numpy(states), torch.from_numpy(mask)

    def subset(self, rows: Sequence[int]) -> LayerInputs:
        parts = [self.flat[self.offsets[i] : self.offsets[i + 1]] for i in rows]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        flat = np.concatenate(parts) if parts else np.zeros((0, HIDDEN), np.float16)
        return LayerInputs(flat=flat, offsets=offsets)


@dataclass(frozen=True)
class TunedEncoder:
    """An exported tuned encoder: its int8 ONNX file, embedding space name and how it was trained."""

    path: Path
    backbone: str
    sha256: str
    layers: int  # how many of the last layers were trained
    texts: int  # how many texts it was tuned on
    epochs: float  # epochs completed (fractional when the budget stopped one)
    cpu_seconds: float
    losses: list[float]

    def record(self) -> dict:
        """What a version's metrics keep of it (``text_tuning``: the run page and the model page read it)."""
        return {
            "backbone": self.backbone,
            "layers": self.layers,
            "texts": self.texts,
            "epochs": round(self.epochs, 3),
            "cpu_seconds": round(self.cpu_seconds, 1),
            "losses": [round(loss, 6) for loss in self.losses],
        }


def load_bert() -> torch.nn.Module:
    """The packaged MiniLM network (transformers ``BertModel``), float32, eval mode, from the package's files."""
    from transformers import AutoModel

    # Eager attention: the layer is called directly with an additive mask, which every attention kernel of
    # transformers reads the same way; eager is the one whose backward needs no fused kernel.
    return AutoModel.from_pretrained(
        str(onnx_text.model_dir()), local_files_only=True, attn_implementation="eager"
    ).eval()


def layer_inputs(
    texts: Sequence[str],
    *,
    layers: int = 1,
    bert: torch.nn.Module | None = None,
    progress: Callable[[int, int], None] | None = None,
    folder: Path | None = None,
) -> LayerInputs:
    """The output of all but the last ``layers`` layers for each text, tokenised as the encoder does (256 word
    pieces).

    About 170 KB per mail of SpamAssassin (float16): with ``folder``, they are written to a memory-mapped file
    there instead of held in memory, so a run over many labels keeps them in the page cache, not in its heap.
    """
    from tokenizers import Tokenizer

    bert = bert or load_bert()
    tokenizer = Tokenizer.from_file(str(onnx_text.model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(onnx_text.MAX_TOKENS)
    tokenizer.no_padding()  # the package's tokenizer.json pads to 128; each batch is padded to its longest below
    # Every text tokenised once, first: its length places its states in ``flat`` before the network runs.
    encodings = tokenizer.encode_batch([text[: onnx_text.MAX_CHARS] for text in texts])
    lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    shape = (int(offsets[-1]), HIDDEN)
    if folder is None:
        flat = np.empty(shape, np.float16)
    else:
        handle, name = tempfile.mkstemp(dir=folder, prefix="layer-inputs-", suffix=".npy")  # the caller's to remove
        os.close(handle)
        flat = np.lib.format.open_memmap(name, mode="w+", dtype=np.float16, shape=shape)
    order = np.argsort(lengths, kind="stable")  # similar lengths, little padding
    with torch.inference_mode():
        for start in range(0, len(texts), 16):
            rows = order[start : start + 16]
            ids = torch.zeros((len(rows), int(lengths[rows].max())), dtype=torch.long)  # 0: [PAD]
            mask = torch.zeros_like(ids)
            for k, i in enumerate(rows):
                ids[k, : lengths[i]] = torch.tensor(encodings[i].ids)
                mask[k, : lengths[i]] = 1
            hidden = bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1 - layers]
            for k, i in enumerate(rows):
                flat[offsets[i] : offsets[i + 1]] = hidden[k, : lengths[i]].numpy()
            if progress:
                progress(min(start + 16, len(texts)), len(texts))
    return LayerInputs(flat=flat, offsets=offsets)


def pooled(layers: torch.nn.ModuleList, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The encoder's embedding from the trained layers' input: the layers, masked mean pooling, L2 normalisation."""
    additive = (1.0 - mask)[:, None, None, :] * torch.finfo(states.dtype).min
    out = states
    for layer in layers:
        out = layer(out, attention_mask=additive)
        out = out[0] if isinstance(out, tuple) else out
    mean = (out * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1e-9)
    return F.normalize(mean, dim=1)


def tune_last_layers(
    inputs: LayerInputs,
    labels: np.ndarray,
    *,
    bert: torch.nn.Module,
    config: TuningConfig = TuningConfig(),
    progress: Callable[[float, float], None] | None = None,
) -> tuple[torch.nn.Module, float, list[float]]:
    """Train a copy of ``bert``'s last ``config.layers`` layers on ``labels`` (n, C of 1/0/-1), from ``inputs`` made
    with as many (``layer_inputs``); returns them, the epochs done and the loss of each."""
    labels = np.asarray(labels)
    if not 1 <= config.layers <= len(bert.encoder.layer):
        raise ValueError(f"can tune 1 to {len(bert.encoder.layer)} layers, not {config.layers}")
    if labels.ndim != 2 or len(labels) != len(inputs):
        raise ValueError(f"need one row of labels per text: {labels.shape} for {len(inputs)} texts")
    known = labels != UNKNOWN
    if not known.any():
        raise ValueError("no known label to tune on")
    torch.manual_seed(config.seed)
    layers = copy.deepcopy(bert.encoder.layer[-config.layers :]).train()
    head = torch.nn.Linear(HIDDEN, labels.shape[1])
    optimiser = torch.optim.AdamW(
        [{"params": layers.parameters(), "lr": config.layer_lr}, {"params": head.parameters(), "lr": config.head_lr}],
        weight_decay=config.weight_decay,
    )
    target = torch.from_numpy((labels == 1).astype(np.float32))
    weight = torch.from_numpy(known.astype(np.float32))
    rows = np.flatnonzero(known.any(axis=1))
    rng = np.random.default_rng(config.seed)
    started, done, losses = time.process_time(), 0.0, []
    for _epoch in range(config.epochs):
        # Batches of similar length (little padding), in random order; the jitter varies them between epochs.
        by_length = rows[np.argsort(inputs.lengths[rows] + rng.random(len(rows)))]
        batches = [by_length[s : s + config.batch_size] for s in range(0, len(by_length), config.batch_size)]
        rng.shuffle(batches)
        total = 0.0
        for count, batch in enumerate(batches, start=1):
            states, mask = inputs.batch(batch)
            logits = head(pooled(layers, states, mask) * LOGIT_SCALE)
            loss = (
                F.binary_cross_entropy_with_logits(logits, target[batch], weight=weight[batch], reduction="sum")
                / weight[batch].sum()
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
            if config.budget_seconds and time.process_time() - started > config.budget_seconds:
                done += count / len(batches)
                losses.append(total / max(sum(len(b) for b in batches[:count]), 1))
                logger.info("text tuning: CPU budget spent after %.2f epochs", done)
                if progress:  # the partial epoch too: the run's page shows where the budget stopped it
                    progress(done, losses[-1])
                return layers.eval(), done, losses
        done += 1.0
        losses.append(total / len(rows))
        if progress:
            progress(done, losses[-1])
    return layers.eval(), done, losses


def tune_text_encoder(
    texts: Sequence[str],
    labels: np.ndarray,
    folder: Path,
    *,
    config: TuningConfig = TuningConfig(),
    inputs: LayerInputs | None = None,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> TunedEncoder:
    """Tune the last layers on ``texts`` and ``labels`` and export the network as int8 ONNX into ``folder``.

    ``inputs`` (``layer_inputs(texts, layers=config.layers)``) may be passed when already computed (the bench
    computes them once for every split). ``threads``: torch's thread count while tuning (restored after; None
    leaves it). ``progress`` receives a line for the admin after each step.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        return _tune_and_export(texts, labels, folder, config=config, inputs=inputs, progress=progress)
    finally:
        torch.set_num_threads(previous)


def _tune_and_export(
    texts: Sequence[str],
    labels: np.ndarray,
    folder: Path,
    *,
    config: TuningConfig,
    inputs: LayerInputs | None,
    progress: Callable[[str], None] | None,
) -> TunedEncoder:
    started = time.process_time()
    bert = load_bert()
    folder.mkdir(parents=True, exist_ok=True)
    # The layer inputs of a run go to a file under ``folder`` (memory-mapped; removed with the folder below).
    with tempfile.TemporaryDirectory(dir=folder, prefix="states-") as states:
        if inputs is None:
            inputs = layer_inputs(
                texts,
                layers=config.layers,
                bert=bert,
                progress=(lambda done, total: progress(f"encoding {done}/{total}")) if progress else None,
                folder=Path(states),
            )
        layers, epochs, losses = tune_last_layers(
            inputs,
            labels,
            bert=bert,
            config=config,
            progress=(lambda epoch, loss: progress(f"epoch {epoch:.3g}: loss {loss:.4f}")) if progress else None,
        )
        del inputs  # unmaps the file before its folder goes
    first = len(bert.encoder.layer) - len(layers)
    for offset, layer in enumerate(layers):
        bert.encoder.layer[first + offset] = layer
    with tempfile.TemporaryDirectory(dir=folder) as staging:
        fp32 = Path(staging) / "encoder.onnx"
        int8 = Path(staging) / "encoder.int8.onnx"
        onnx_text.export(bert, fp32, int8)
        with int8.open("rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        path = folder / f"all-MiniLM-L6-v2-tuned-{sha256[:16]}.int8.onnx"
        int8.replace(path)
    return TunedEncoder(
        path=path,
        backbone=tuned_backbone(sha256),
        sha256=sha256,
        layers=len(layers),
        texts=len(texts),
        epochs=epochs,
        cpu_seconds=time.process_time() - started,
        losses=losses,
    )


def tuned_backbone(sha256: str) -> str:
    """The embedding space of a tuned encoder file with this sha256."""
    return f"{TUNED_PREFIX}{sha256[:16]}"
