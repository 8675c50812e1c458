"""Retraining the image model from a training snapshot: new heads, optionally a fine-tuned backbone.

The image counterpart of ``classifiers.retraining`` (text), built from the same pieces: the snapshot
records (only those with an image take part), ``label_matrix``, ``classifiers.heads.train_head``
(full-batch L-BFGS, Platt calibration per category on out-of-fold logits of the training rows,
see that module for why Platt and why cross-fitted) and ``classifiers.heads.evaluate``.

Features are the pooled, L2-normalised embeddings of the active image version's backbone. They come
from the ``Embedding`` rows scoring stored under that backbone's name; only images without one are
decoded from the snapshot's ``images/`` and embedded here, and stored for next time. As for text,
stored vectors are float16 and are used at that precision everywhere. Images are decoded when
needed and never all held at once (a batch at a time; the fine-tuning loop keeps only its resized
uint8 copies). An image that no longer decodes is left out and counted (``unreadable_images``).

Fine-tuning (off by default; ``RETRAIN_IMAGE_FINE_TUNE_EPOCHS`` > 0 turns it on for a run): before the
head is trained, the active backbone is trained end to end for that many epochs on the snapshot's
training images with ``classifiers.image_training.train_backbone`` (started from the backbone's
weights, kept at its input normalisation, BatchNorm statistics frozen: re-estimating them on a few
hundred labelled images cost a random-init backbone 0.23 ROC-AUC on the test's generated images,
where frozen statistics lost nothing). Labels are multi-label, the backbone loop wants one class
per image, so an image's class is "no known violation" (0) or the rarest category it was labelled
positive for. The fine-tuned backbone is saved with ``save_backbone`` and registered as the
candidate's ``backbone_file``, the same registry field an operator-supplied timm checkpoint
(``register_image_backbone``) fills; the candidate's embeddings then live in a new space (a new
checkpoint hash in ``ImageModel.backbone``), computed here for every snapshot image and stored.
Fine-tuning on a few hundred labels can overfit the backbone: the held-out comparison says
whether it paid off. ``RETRAIN_IMAGE_FINE_TUNE_SECONDS`` > 0 replaces this by the staged schedule of
``classifiers.fine_tuning`` (frozen head, last blocks, all; a validation split of the training rows
picks the stage, the snapshot's held-out rows stay untouched for the comparison): when the frozen head
wins, the candidate keeps the active backbone and its embedding space. The schedule's regularisation
(``RETRAIN_IMAGE_FINE_TUNE_ALL_LR``, ``_ERASE``, ``_MIXUP``, ``_REFIT_ON_ALL``; erasing and mixup on by
default) comes from the settings and is recorded in the candidate's metrics.

Self-training (``RETRAIN_IMAGE_SELF_TRAIN_POOL`` > 0, the default; staged schedule only): the caller passes the storage
names of stored images nobody labelled (``unlabelled_images``; ``learning.retraining`` picks the most recent
ones). Items that are in the snapshot are dropped from that pool; the rest are decoded from storage one at a
time while the schedule pseudo-labels them (``classifiers.fine_tuning``), an image that no longer decodes is
skipped. The schedule's validation split (labelled rows only) decides whether the self-trained student is kept: it
is unless it is worse than its teacher beyond chance (``fine_tuning.student_is_kept``).

Evaluation is on the snapshot's ``held_out`` rows with an image, for the candidate and for the
active image version on the same rows (its own head where it has one, the cold-start prior of
``classifiers.image_priors`` elsewhere, exactly as it scores live items). The candidate is
registered with status ``candidate``: nothing here changes which version is active.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.core.files.storage import default_storage

from classifiers.models import Embedding, ModelVersion, PolicyCategory
from classifiers.retraining import (
    FittedCandidate,
    RetrainingError,
    candidate_metrics,
    label_matrix,
    loss_recorder,
    register_candidate,
    split_records,
    stored_or_computed_embeddings,
)
from classifiers.snapshots import Snapshot, Split, TrainingRecord

logger = logging.getLogger(__name__)

EMBED_BATCH = 32
FINE_TUNE_LR = 1e-3  # a tenth of what training from scratch peaks at: the weights start somewhere useful


@dataclass(frozen=True)
class FittedImageCandidate(FittedCandidate):
    """A trained image head, its metrics, and the backbone it runs on (a fine-tuned checkpoint, if any)."""

    architecture: str = ""
    backbone_path: Path | None = None  # the checkpoint to register with the candidate; None: random init
    fine_tuned: bool = False


class _Images:
    """Decodes a snapshot's images when asked, keeping none: a snapshot's images need not fit in memory.

    ``decode`` is the base model's, so training reads the pixels scoring reads (``ImageScoring.decode``).
    """

    def __init__(self, directory: Path, decode: Callable[[bytes], Any]) -> None:
        self.directory = directory
        self.decode = decode
        self.failed: dict[str, str] = {}

    def get(self, relative: str) -> Any:
        return self.decode((self.directory / relative).read_bytes())

    def lazy(self, records: Sequence[TrainingRecord]) -> _LazyImages:
        return _LazyImages(self, [record.image for record in records])

    def undecodable(self, records: Sequence[TrainingRecord]) -> set[str]:
        """The images among ``records`` that do not decode (logged, and counted in the metrics)."""
        from classifiers.inference.image import ImageDecodeError

        for record in records:
            assert record.image is not None
            if record.image in self.failed:
                continue
            try:
                self.get(record.image)
            except (ImageDecodeError, OSError) as exc:
                self.failed[record.image] = str(exc)
                logger.warning("image retraining: leaving out item %s: %s", record.item_id, exc)
        return set(self.failed)


class _LazyImages(SequenceABC):
    """A sequence of decoded images that decodes each one when it is read (for the training loop)."""

    def __init__(self, images: _Images, names: list[str]) -> None:
        self.images, self.names = images, names

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - Sequence's int-or-slice protocol
        if isinstance(index, slice):
            return _LazyImages(self.images, self.names[index])
        return self.images.get(self.names[index])


class StoredImages(SequenceABC):
    """Stored images by storage name, decoded by ``decode`` from ``default_storage`` when read (the unlabelled pool)."""

    def __init__(self, names: Sequence[str], decode: Callable[[bytes], Any]) -> None:
        self.names = list(names)
        self.decode = decode

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - Sequence's int-or-slice protocol
        if isinstance(index, slice):
            return StoredImages(self.names[index], self.decode)
        with default_storage.open(self.names[index], "rb") as handle:
            return self.decode(handle.read())


def _unlabelled_pool(
    pairs: Sequence[tuple[int, str]], snapshot: Snapshot, decode: Callable[[bytes], Any]
) -> StoredImages | None:
    """The pool's images whose item is not in the snapshot (a label exported since the pool was chosen)."""
    labelled = {record.item_id for record in snapshot.records}
    names = [name for item_id, name in pairs if item_id not in labelled and name]
    return StoredImages(names, decode) if names else None


def image_embeddings(
    records: Sequence[TrainingRecord],
    model: Any,
    images: _Images,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """float32 (n, dim) embeddings of ``records`` in ``model``'s space: stored rows first, the backbone for the rest."""
    return stored_or_computed_embeddings(
        records,
        backbone=model.backbone,
        dim=model.dim,
        embed=lambda rows: model.embed([images.get(records[row].image) for row in rows]),
        progress=progress,
    )


def fine_tune_classes(labels: np.ndarray) -> np.ndarray:
    """One class per row of a (n, C) 1/0/-1 label matrix: 0 without a positive, else 1 + its rarest positive column."""
    positives = (labels == 1).sum(axis=0)
    classes = np.zeros(len(labels), dtype=np.int64)
    for column in np.argsort(-positives, kind="stable"):  # rarest last, so it wins
        classes[labels[:, column] == 1] = column + 1
    return classes


def fit_image_candidate(
    *,
    snapshot: Snapshot,
    config: Any = None,
    fine_tune_epochs: int = 0,
    fine_tune_batch_size: int = 32,
    on_loss: Callable[[int, float], None] | None = None,
    on_embedding: Callable[[int, int], None] | None = None,
    on_fine_tune_epoch: Callable[[int, float], None] | None = None,
    fine_tune_seconds: float = 0,
    on_fine_tune_progress: Callable[[str], None] | None = None,
    unlabelled_images: Sequence[tuple[int, str]] = (),
) -> FittedImageCandidate:
    """Train image heads (after fine-tuning the backbone if ``fine_tune_epochs``); evaluate them and the active
    image version on the snapshot's held-out rows with an image.

    ``fine_tune_seconds`` > 0 runs the staged schedule instead (``classifiers.fine_tuning``: frozen head, last
    blocks, all, chosen on a validation split of the training rows) within that CPU budget, ``fine_tune_epochs``
    (10 when 0) being the most epochs a stage runs; ``on_fine_tune_progress`` gets its progress lines. When the
    frozen head wins, the backbone and its embedding space stay the active version's. ``unlabelled_images``
    ((item id, storage name) pairs) is the pool the schedule self-trains on (see the module docstring).

    Raises RetrainingError when there is nothing to train or evaluate on. Writes nothing but
    embeddings of images that had none stored (and, when fine-tuning, the new space's embeddings).
    """
    from classifiers.inference.image import DEFAULT_ARCHITECTURE, ImageModel

    with_image = [record for record in snapshot.records if record.image]
    if not with_image:
        raise RetrainingError("The snapshot has no labelled items with an image.")
    active = ModelVersion.objects.filter(kind=ModelVersion.Kind.IMAGE, status=ModelVersion.Status.ACTIVE).first()
    architecture = active.architecture if active is not None else DEFAULT_ARCHITECTURE
    base_checkpoint = _backbone_path(active)
    base = ImageModel.load(base_checkpoint, architecture, [])
    images = _Images(snapshot.directory, base.decode)
    # Pixels are needed for held-out rows (the active version's prior reads them), for rows without a stored
    # embedding, and for every row when fine-tuning; a training row with a stored embedding decoded when scored.
    fine_tuning = fine_tune_epochs > 0 or fine_tune_seconds > 0
    stored = _stored_ids([record.item_id for record in with_image], base)
    needs_pixels = [
        record for record in with_image if fine_tuning or record.split == Split.HELD_OUT or record.item_id not in stored
    ]
    failed = images.undecodable(needs_pixels)
    records = [record for record in with_image if record.image not in failed]
    train, held_out, categories = split_records(records, what="items with a readable image")

    base_vectors = image_embeddings(records, base, images, progress=on_embedding)
    is_train = np.array([record.split == Split.TRAIN for record in records])
    train_labels = label_matrix(train, categories)

    model, vectors, backbone_path, scratch = base, base_vectors, base_checkpoint, None
    fine_tune: dict[str, Any] | None = None
    if fine_tuning:
        scratch = Path(tempfile.mkdtemp(prefix="image-retrain-"))
    try:
        if scratch is not None and fine_tune_seconds > 0:
            tuned_path, fine_tune = _fine_tune_in_stages(
                base, images.lazy(train), train_labels, scratch / "backbone.pt",
                budget_seconds=fine_tune_seconds, epochs=fine_tune_epochs or 10, progress=on_fine_tune_progress,
                unlabelled=_unlabelled_pool(unlabelled_images, snapshot, base.decode),
            )  # fmt: skip
            if tuned_path is not None:
                backbone_path = tuned_path
                model = ImageModel.load(backbone_path, architecture, [])
                vectors = image_embeddings(records, model, images, progress=on_embedding)
        elif scratch is not None:
            backbone_path, fine_tune = _fine_tune(
                base, images.lazy(train), train_labels, scratch / "backbone.pt",
                epochs=fine_tune_epochs, batch_size=fine_tune_batch_size, progress=on_fine_tune_epoch,
            )  # fmt: skip
            model = ImageModel.load(backbone_path, architecture, [])
            vectors = image_embeddings(records, model, images, progress=on_embedding)
        head, metrics, losses = _train_and_evaluate(
            model, vectors, is_train, train_labels, held_out, categories, config, on_loss, snapshot, images
        )
        if active is not None:
            metrics["active"] = _active_metrics(
                active, base, base_checkpoint, base_vectors[~is_train], held_out, list(head.categories), images
            )
    except BaseException:
        if scratch is not None:  # the fine-tuned checkpoint is kept only for a candidate to register
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    metrics["fine_tune"] = fine_tune
    return FittedImageCandidate(
        head=head,
        metrics=metrics,
        losses=losses,
        train_rows=len(train),
        held_out_rows=len(held_out),
        architecture=architecture,
        backbone_path=backbone_path,
        fine_tuned=backbone_path != base_checkpoint,
        scratch=scratch,
    )


def _train_and_evaluate(
    model: Any,
    vectors: np.ndarray,
    is_train: np.ndarray,
    train_labels: np.ndarray,
    held_out: list[TrainingRecord],
    categories: list[str],
    config: Any,
    on_loss: Callable[[int, float], None] | None,
    snapshot: Snapshot,
    images: _Images,
) -> tuple[Any, dict[str, Any], list[float]]:
    """The calibrated head on the training rows, and its metrics on the held-out rows."""
    from classifiers.head_training import train_head

    losses, on_pass = loss_recorder(on_loss)
    try:
        head = train_head(
            vectors[is_train],
            train_labels,
            categories=categories,
            config=config,
            feature_spec={"backbone": model.backbone},
            progress=on_pass,
        )
    except ValueError as exc:  # e.g. no category with both a positive and a negative label
        raise RetrainingError(f"Cannot train: {exc}.") from exc

    trained = list(head.categories)
    held_labels = label_matrix(held_out, trained)
    candidate_probs = head.predict_proba(vectors[~is_train])
    metrics = candidate_metrics(
        head, candidate_probs, held_labels, snapshot=snapshot, losses=losses, train_rows=int(is_train.sum())
    ) | {
        "backbone": model.backbone,
        "unreadable_images": len(images.failed),
    }
    return head, metrics, losses


def _active_metrics(
    active: ModelVersion,
    base: Any,
    base_checkpoint: Path | None,
    held_base: np.ndarray,
    held_out: list[TrainingRecord],
    trained: list[str],
    images: _Images,
) -> dict[str, Any]:
    """The active image version on the held-out rows, scored as a worker scores (its head, the prior elsewhere)."""
    from classifiers.heads import Head, evaluate
    from classifiers.inference import CategoryInfo
    from classifiers.inference.image import ImageModel

    held_labels = label_matrix(held_out, trained)
    descriptions = dict(PolicyCategory.objects.filter(slug__in=trained).values_list("slug", "description"))
    infos = [CategoryInfo(slug=slug, description=descriptions.get(slug, "")) for slug in trained]
    artifact = default_storage.path(active.artifact.name) if active.artifact else None
    active_model = ImageModel.load(
        base_checkpoint, active.architecture, infos, head=Head.load(artifact) if artifact else None
    )
    rows = []
    for start in range(0, len(held_out), EMBED_BATCH):  # a batch of decoded images at a time
        batch = held_out[start : start + EMBED_BATCH]
        rows += active_model.predict(held_base[start : start + EMBED_BATCH], [images.get(r.image) for r in batch])
    active_probs = np.array([[row[slug].probability for slug in trained] for row in rows], dtype=np.float64)
    return {
        "version": active.name,
        "backbone": base.backbone,
        "held_out": evaluate(active_probs.reshape(len(held_out), len(trained)), held_labels, categories=trained),
    }


def _stored_ids(ids: list[int], model: Any) -> set[int]:
    """Items among ``ids`` with a stored embedding of the right size in ``model``'s space."""
    found: set[int] = set()
    for start in range(0, len(ids), 5_000):
        found.update(
            Embedding.objects.filter(
                item_id__in=ids[start : start + 5_000], backbone=model.backbone, dim=model.dim
            ).values_list("item_id", flat=True)
        )
    return found


def _backbone_path(version: ModelVersion | None) -> Path | None:
    if version is None or not version.backbone_file:
        return None
    return Path(default_storage.path(version.backbone_file.name))


def _fine_tune(
    base: Any,
    train_images: list[Any],
    labels: np.ndarray,
    path: Path,
    *,
    epochs: int,
    batch_size: int,
    progress: Callable[[int, float], None] | None,
) -> tuple[Path, dict[str, Any]]:
    """Fine-tune ``base``'s backbone on the training images, save it to ``path``; return it and a summary."""
    from classifiers.image_training import save_backbone, train_backbone

    present, classes = np.unique(fine_tune_classes(labels), return_inverse=True)  # only classes that occur
    if len(present) < 2:
        raise RetrainingError("Cannot fine-tune the backbone: the training images all fall in one class.")
    network, result = train_backbone(
        train_images,
        classes,
        architecture=base.architecture,
        input_size=base.input_size,
        epochs=epochs,
        batch_size=batch_size,
        lr=FINE_TUNE_LR,
        initial_state=base.network.state_dict(),
        normalization=base.normalization,
        freeze_batchnorm=True,
        progress=(lambda epoch: progress(epoch.epoch, epoch.loss)) if progress else None,
    )
    summary = {
        "from_backbone": base.backbone,
        "epochs": [
            {"epoch": e.epoch, "loss": round(e.loss, 6), "train_accuracy": e.train_accuracy} for e in result.epochs
        ],
        "images": len(train_images),
        "classes": len(present),
        "seconds": round(result.seconds, 2),
    }
    save_backbone(
        network, path, architecture=base.architecture, input_size=base.input_size, mean=result.mean, std=result.std,
        meta={"fine_tuned_from": base.backbone, "fine_tune": summary},
    )  # fmt: skip
    return path, summary


def _fine_tune_in_stages(
    base: Any,
    train_images: Sequence[Any],
    labels: np.ndarray,
    path: Path,
    *,
    budget_seconds: float,
    epochs: int,
    progress: Callable[[str], None] | None,
    unlabelled: StoredImages | None = None,
) -> tuple[Path | None, dict[str, Any]]:
    """The staged schedule on ``base``; the chosen backbone saved to ``path`` (None when the frozen head won)."""
    from django.conf import settings

    from classifiers.fine_tuning import FROZEN, fine_tune_in_stages
    from classifiers.image_training import save_backbone

    present, classes = np.unique(fine_tune_classes(labels), return_inverse=True)
    if len(present) < 2:
        raise RetrainingError("Cannot fine-tune the backbone: the training images all fall in one class.")
    result = fine_tune_in_stages(
        train_images,
        classes,
        architecture=base.architecture,
        input_size=base.input_size,
        initial_state=base.network.state_dict(),
        normalization=base.normalization,
        epochs=epochs,
        budget_seconds=budget_seconds,
        threads=settings.RETRAIN_IMAGE_FINE_TUNE_THREADS,
        all_lr=settings.RETRAIN_IMAGE_FINE_TUNE_ALL_LR or None,
        erase=settings.RETRAIN_IMAGE_FINE_TUNE_ERASE,
        mixup=settings.RETRAIN_IMAGE_FINE_TUNE_MIXUP,
        refit_on_all=settings.RETRAIN_IMAGE_FINE_TUNE_REFIT_ON_ALL,
        unlabelled=unlabelled if unlabelled else None,
        self_train_share=settings.RETRAIN_IMAGE_SELF_TRAIN_SHARE,
        self_train_confidence=settings.RETRAIN_IMAGE_SELF_TRAIN_CONFIDENCE,
        progress=(lambda step: progress(step.describe())) if progress else None,
    )
    summary = {"from_backbone": base.backbone, "images": len(train_images), "classes": len(present)}
    summary["schedule"] = result.as_dict()
    if result.chosen == FROZEN:
        return None, summary
    save_backbone(
        result.network(), path, architecture=base.architecture, input_size=base.input_size, mean=result.mean,
        std=result.std, meta={"fine_tuned_from": base.backbone, "fine_tune": summary},
    )  # fmt: skip
    return path, summary


def register_image_candidate(
    fitted: FittedImageCandidate, *, name: str, snapshot_label: str, notes: str = ""
) -> ModelVersion:
    """Store the head (and a fine-tuned backbone) and register them as a ``candidate``; the active one is untouched."""
    what = "fine-tuned backbone and heads" if fitted.fine_tuned else "heads"
    return register_candidate(
        fitted,
        name=name,
        kind=ModelVersion.Kind.IMAGE,
        architecture=fitted.architecture,
        backbone_path=fitted.backbone_path,
        snapshot_label=snapshot_label,
        notes=notes
        or f"Retrained image {what} on {fitted.train_rows} items; metrics on {fitted.held_out_rows} held out.",
    )
