"""Retraining the text model's heads from a training snapshot, and comparing the candidate with the active version.

Input is a snapshot directory (``classifiers.snapshots``): plain records of item id, text, labels per
category and split. The sentence embeddings come from the ``Embedding`` rows that scoring stored;
only items without one are embedded here, with the same encoder, and stored for next time.
The head is ``classifiers.heads``' linear head over the text model's default features (embedding +
hashed character n-grams), trained with full-batch L-BFGS; every L-BFGS pass reports its loss, which
is the "per-epoch loss" a retraining run shows.

Calibration is per category, inside ``train_head``: Platt scaling (a slope and a bias on each
category's logit) fitted as a MAP estimate on out-of-fold logits of every training row (5-fold
cross-fitting; the head itself is trained on every row, see ``classifiers.heads``). Not
isotonic regression: with a few hundred labels its steps tie scores and cost ROC-AUC (0.989 -> 0.940
at 200 labels in bench/RESULTS.md, "Calibration"); not temperature alone: it cannot move the point
of even odds that class weighting shifts. Platt is monotone, so it never reorders a queue.

Evaluation is on the snapshot's ``held_out`` rows only (how they are chosen, and why, is in
``learning.training_data``), for the candidate and for the active text version on the same rows, so
the two sets of metrics can be compared directly. The candidate is registered with status
``candidate``: nothing here changes which version is active.

With ``RETRAIN_TEXT_TUNE_MIN_LABELS`` labelled training items or more, the encoder's last layer is first
trained on them (``classifiers.text_tuning``) and the heads read the tuned encoder's embeddings: a new space,
registered with the candidate as its backbone file. The active version keeps its own space when it is
evaluated on the same held-out rows.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from classifiers.models import Embedding, ModelVersion, PolicyCategory
from classifiers.reading import head_record
from classifiers.services import register_model_version
from classifiers.snapshots import Snapshot, Split, TrainingRecord

logger = logging.getLogger(__name__)

UNKNOWN = -1
EMBED_BATCH = 32


class RetrainingError(ValueError):
    """The snapshot cannot train or evaluate a candidate (no labels, one class only...); the message says why."""


@dataclass(frozen=True)
class FittedCandidate:
    """A trained head and its metrics, not registered yet."""

    head: Any
    metrics: dict[str, Any]
    losses: list[float]
    train_rows: int
    held_out_rows: int
    scratch: Path | None = field(default=None, repr=False)  # holds a trained backbone until registered

    def cleanup(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def label_matrix(records: Sequence[TrainingRecord], categories: Sequence[str]) -> np.ndarray:
    """(n, C) int8 of 1, 0 and -1 (nobody decided that category for that item)."""
    matrix = np.full((len(records), len(categories)), UNKNOWN, dtype=np.int8)
    column = {slug: j for j, slug in enumerate(categories)}
    for row, record in enumerate(records):
        for slug, value in record.labels.items():
            if slug in column:
                matrix[row, column[slug]] = value
    return matrix


def split_records(
    records: Sequence[TrainingRecord], *, what: str
) -> tuple[list[TrainingRecord], list[TrainingRecord], list[str]]:
    """The training rows, the held-out rows and the labelled categories (in policy order) of ``records``.

    Raises RetrainingError naming ``what`` the records are when either split is empty.
    """
    train = [record for record in records if record.split == Split.TRAIN]
    held_out = [record for record in records if record.split == Split.HELD_OUT]
    if not train:
        raise RetrainingError(f"The snapshot has no training labels on {what}.")
    if not held_out:
        raise RetrainingError(f"The snapshot has no held-out labels on {what} to evaluate on.")
    present = {slug for record in records for slug in record.labels}
    categories = [slug for slug in PolicyCategory.objects.values_list("slug", flat=True) if slug in present]
    return train, held_out, categories


def stored_or_computed_embeddings(
    records: Sequence[TrainingRecord],
    *,
    backbone: str,
    dim: int,
    embed: Callable[[list[int]], np.ndarray],
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """float32 (n, ``dim``) embeddings of ``records``: the stored ``backbone`` rows, ``embed(rows)`` for the rest.

    ``embed`` takes positions in ``records`` and returns their vectors; those are stored for next time.
    """
    ids = [record.item_id for record in records]
    stored: dict[int, bytes] = {}
    for start in range(0, len(ids), 5_000):  # stay under SQLite's bound-parameter limit
        stored.update(
            Embedding.objects.filter(item_id__in=ids[start : start + 5_000], backbone=backbone).values_list(
                "item_id", "vector"
            )
        )
    out = np.empty((len(records), dim), dtype=np.float32)
    missing = []
    for row, item_id in enumerate(ids):
        vector = stored.get(item_id)
        if vector is None or len(vector) != dim * 2:
            missing.append(row)
        else:
            out[row] = np.frombuffer(vector, dtype=np.float16)
    if missing:
        logger.info("retraining: embedding %d items without a stored %s embedding", len(missing), backbone)
    for start in range(0, len(missing), EMBED_BATCH):
        rows = missing[start : start + EMBED_BATCH]
        vectors = embed(rows)
        out[rows] = vectors
        Embedding.objects.bulk_create(
            [
                Embedding(
                    item_id=records[row].item_id, backbone=backbone, dim=dim, vector=vector.astype(np.float16).tobytes()
                )
                for row, vector in zip(rows, vectors, strict=True)
            ],
            ignore_conflicts=True,
        )
        if progress:
            progress(min(start + EMBED_BATCH, len(missing)), len(missing))
    # Stored vectors are float16: use them at that precision everywhere, so a retrain on stored rows and
    # a retrain that had to embed give the same features.
    return out.astype(np.float16).astype(np.float32)


def text_embeddings(
    records: Sequence[TrainingRecord],
    *,
    backbone: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """float32 (n, 384) sentence embeddings of ``records`` in ``backbone``'s space (the configured encoder's by
    default): stored rows first, the encoder for the rest."""
    from classifiers.inference.text import BACKBONE, EMBEDDING_DIM, embed_texts

    space = backbone or BACKBONE
    return stored_or_computed_embeddings(
        records,
        backbone=space,
        dim=EMBEDDING_DIM,
        embed=lambda rows: embed_texts([records[row].text for row in rows], backbone=space),
        progress=progress,
    )


@dataclass(frozen=True)
class FittedTextCandidate(FittedCandidate):
    """A trained text head, its metrics, and the tuned encoder it reads (None: the packaged encoder)."""

    encoder_path: Path | None = None


def wants_tuned_encoder(train_labels: np.ndarray) -> bool:
    """Whether a text run tunes the encoder's last layer: ``RETRAIN_TEXT_TUNE_MIN_LABELS`` > 0 and that many
    training items with a known label, some positive and some negative."""
    minimum = settings.RETRAIN_TEXT_TUNE_MIN_LABELS
    known = train_labels != UNKNOWN
    return (
        minimum > 0
        and int(known.any(axis=1).sum()) >= minimum
        and bool((train_labels == 1).any())
        and bool((train_labels == 0).any())
    )


def tune_text_encoder_for(
    texts: list[str], train_labels: np.ndarray, scratch: Path, progress: Callable[[str], None] | None
) -> Any:
    """The tuned encoder (``classifiers.text_tuning``) for a retraining run, within the run's settings.

    At most ``RETRAIN_TEXT_TUNE_MAX_TEXTS`` of the training texts, drawn at random (seeded, so a run can be
    repeated): their layer inputs cost about 0.12 CPU-seconds and 170 KB of disk each, and the CPU budget covers
    two epochs of about that many. The heads still train on every text.
    """
    from classifiers.inference.text import register_tuned_encoder
    from classifiers.text_tuning import TuningConfig, tune_text_encoder

    limit = settings.RETRAIN_TEXT_TUNE_MAX_TEXTS
    if limit and len(texts) > limit:
        rows = np.sort(np.random.default_rng(0).choice(len(texts), limit, replace=False))
        texts, train_labels = [texts[i] for i in rows], train_labels[rows]
    tuned = tune_text_encoder(
        texts,
        train_labels,
        scratch,
        config=TuningConfig(
            epochs=settings.RETRAIN_TEXT_TUNE_EPOCHS,
            layers=settings.RETRAIN_TEXT_TUNE_LAYERS,
            budget_seconds=settings.RETRAIN_TEXT_TUNE_SECONDS,
        ),
        threads=settings.RETRAIN_TEXT_TUNE_THREADS,
        progress=(lambda line: progress(f"tuning the text encoder: {line}")) if progress else None,
    )
    register_tuned_encoder(tuned.backbone, tuned.path)
    return tuned


def fit_text_candidate(
    *,
    snapshot: Snapshot,
    config: Any = None,
    on_loss: Callable[[int, float], None] | None = None,
    on_embedding: Callable[[int, int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> FittedTextCandidate:
    """Train text heads on the snapshot's training rows; evaluate them and the active version on its held-out rows.

    With enough labels (``wants_tuned_encoder``) the encoder's last layer is tuned on the training rows first
    and the heads read its embeddings; ``on_stage`` receives a line per tuning step. Raises RetrainingError
    when there is nothing to train or evaluate on. Writes nothing but the embeddings of items that had none
    stored (in the tuned space too: a candidate that goes live finds its training items embedded).
    """
    from classifiers.heads import evaluate
    from classifiers.inference.text import (
        BACKBONE,
        DEFAULT_FEATURES,
        forget_tuned_encoder,
        text_head_proba,
        train_text_head,
    )

    records = [record for record in snapshot.records if record.text.strip()]
    train, held_out, categories = split_records(records, what="items with text")
    train_labels = label_matrix(train, categories)
    is_train = np.array([record.split == Split.TRAIN for record in records])

    tuned, scratch = None, None
    if wants_tuned_encoder(train_labels):
        scratch = Path(tempfile.mkdtemp(prefix="text-retrain-"))
    try:
        if scratch is not None:
            tuned = tune_text_encoder_for([record.text for record in train], train_labels, scratch, on_stage)
        backbone = tuned.backbone if tuned else BACKBONE
        vectors = text_embeddings(records, backbone=backbone, progress=on_embedding)
        losses, on_pass = loss_recorder(on_loss)
        try:
            head = train_text_head(
                vectors[is_train],
                [record.text for record in train],
                train_labels,
                categories=categories,
                features=replace(DEFAULT_FEATURES, backbone=backbone),
                config=config,
                progress=on_pass,
                authors=[record.author for record in train],
            )
        except ValueError as exc:  # e.g. no category with both a positive and a negative label
            raise RetrainingError(f"Cannot train: {exc}.") from exc

        trained = list(head.categories)
        held_vectors = vectors[~is_train]
        held_texts = [record.text for record in held_out]
        held_authors = [record.author for record in held_out]
        held_labels = label_matrix(held_out, trained)
        candidate_probs = text_head_proba(head, held_vectors, held_texts, authors=held_authors)
        metrics = candidate_metrics(
            head, candidate_probs, held_labels, snapshot=snapshot, losses=losses, train_rows=len(train)
        )
        metrics["text_tuning"] = tuned.record() if tuned else None
        active = ModelVersion.objects.filter(kind=ModelVersion.Kind.TEXT, status=ModelVersion.Status.ACTIVE).first()
        if active is not None:
            # The active version reads the packaged space (unless it was tuned itself): the stored vectors of the
            # held-out items there, rather than embedding them again.
            active_vectors = held_vectors if tuned is None else text_embeddings(held_out)
            active_probs = version_probabilities(active, active_vectors, held_texts, trained, authors=held_authors)
            metrics["active"] = {
                "version": active.name,
                "held_out": evaluate(active_probs, held_labels, categories=trained),
            }
    except BaseException:
        if scratch is not None:  # the tuned encoder is kept only for a candidate to register
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        if tuned is not None:  # scoring loads it again, from the registered copy, when the candidate is used
            forget_tuned_encoder(tuned.backbone)
    return FittedTextCandidate(
        head=head,
        metrics=metrics,
        losses=losses,
        train_rows=len(train),
        held_out_rows=len(held_out),
        encoder_path=tuned.path if tuned else None,
        scratch=scratch,
    )


def loss_recorder(on_loss: Callable[[int, float], None] | None) -> tuple[list[float], Callable[[int, float], None]]:
    """A ``train_head`` progress callback that keeps every pass's loss (the run's loss curve) and forwards it."""
    losses: list[float] = []

    def on_pass(passes: int, loss: float) -> None:
        losses.append(float(loss))
        if on_loss:
            on_loss(passes, float(loss))

    return losses, on_pass


def candidate_metrics(
    head: Any, probs: np.ndarray, held_labels: np.ndarray, *, snapshot: Snapshot, losses: list[float], train_rows: int
) -> dict[str, Any]:
    """A candidate head's metrics on the held-out rows (``probs``), as every kind of retraining records them."""
    from classifiers.heads import evaluate

    trained = list(head.categories)
    return {
        "held_out": evaluate(probs, held_labels, categories=trained),
        # The candidate's score distribution on held-out rows: what model monitoring measures drift against.
        "score_histograms": {
            slug: np.histogram(probs[:, j], bins=10, range=(0.0, 1.0))[0].tolist() for j, slug in enumerate(trained)
        },
        "train_rows": train_rows,
        "held_out_rows": len(held_labels),
        "held_out_source": snapshot.manifest.get("split", {}).get("mode", ""),
        "snapshot": snapshot.manifest.get("snapshot"),
        "passes": len(losses),
        "final_loss": losses[-1] if losses else None,
        "skipped_categories": list(head.summary.get("skipped", [])),
        **head_record(head),
    }


def register_text_candidate(
    fitted: FittedCandidate, *, name: str, snapshot_label: str, notes: str = ""
) -> ModelVersion:
    """Store the head (and a tuned encoder) and register them as a ``candidate`` (the active version is untouched)."""
    from classifiers.inference.text import TextFeatures

    encoder = getattr(fitted, "encoder_path", None)
    return register_candidate(
        fitted,
        name=name,
        kind=ModelVersion.Kind.TEXT,
        architecture=TextFeatures.from_spec(fitted.head.features).backbone.removeprefix("sentence:"),
        backbone_path=encoder,
        snapshot_label=snapshot_label,
        notes=notes
        or f"Retrained {'tuned encoder and heads' if encoder else 'heads'} on {fitted.train_rows} items; "
        f"metrics on {fitted.held_out_rows} held out.",
    )


def register_candidate(
    fitted: FittedCandidate,
    *,
    name: str,
    kind: str,
    architecture: str,
    backbone_path: Path | None,
    snapshot_label: str,
    notes: str,
) -> ModelVersion:
    """Save the head, register it (and ``backbone_path``) as a ``candidate``, then drop the run's scratch folder."""
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "head.npz"
            fitted.head.save(path)
            return register_model_version(
                name=name,
                kind=kind,
                architecture=architecture,
                artifact_path=path,
                backbone_path=backbone_path,
                categories=list(fitted.head.categories),
                metrics=fitted.metrics,
                training_snapshot=snapshot_label,
                notes=notes,
            )
    finally:
        fitted.cleanup()


def version_probabilities(
    version: ModelVersion,
    embeddings: np.ndarray,
    texts: list[str],
    categories: Sequence[str],
    *,
    authors: Sequence[str] | None = None,
) -> np.ndarray:
    """(n, C) probabilities that ``version`` (head where trained, prior elsewhere) gives ``texts`` by ``authors``
    (author keys, or None), whose ``embeddings`` are in the configured encoder's space."""
    from django.core.files.storage import default_storage

    from classifiers.heads import Head
    from classifiers.inference import CategoryInfo
    from classifiers.inference.text import BACKBONE, TextModel

    descriptions = dict(PolicyCategory.objects.filter(slug__in=categories).values_list("slug", "description"))
    infos = [CategoryInfo(slug=slug, description=descriptions.get(slug, "")) for slug in categories]
    # Loaded here rather than through the runtime's per-process cache, which is keyed by version only and
    # would keep this subset of categories for later scoring in the same process.
    artifact = default_storage.path(version.artifact.name) if version.artifact else None
    encoder = Path(default_storage.path(version.backbone_file.name)) if version.backbone_file else None
    head = Head.load(artifact) if artifact else None
    if head is not None and set(categories) <= set(head.categories):
        # No category left to the prior: no encoder to load unless the embeddings are in another space.
        model = TextModel(head=head, categories=infos, encoder_file=encoder)
    else:
        model = TextModel.load(artifact, infos, encoder_file=encoder)
    if model.backbone != BACKBONE:
        # A head trained in another encoder's space (before the default encoder changed) reads its own embeddings.
        embeddings = model.embed(list(texts))
    rows = model.predict(np.asarray(embeddings, dtype=np.float32), list(texts), authors=authors)
    return np.array([[row[slug].probability for slug in categories] for row in rows], dtype=np.float64).reshape(
        len(texts), len(categories)
    )
