"""Training a candidate model version from a labelled dataset, with honest held-out figures.

The heavy lifting (encoders, heads, metrics) is in ``classifiers.inference`` and ``classifiers.heads``;
this module splits the data, trains, evaluates, and registers the result as a candidate.
"""

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.datasets import Example, label_matrix, stratified_split
from classifiers.models import ModelVersion, PolicyCategory
from classifiers.reading import head_record
from classifiers.services import register_model_version


@dataclass(frozen=True)
class TrainingResult:
    version: ModelVersion
    metrics: dict
    train_rows: int
    held_out_rows: int
    evaluation: str = ""  # how the figures were measured, when not by cross-validation


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _categories_in(examples: list[Example]) -> list[str]:
    present = {slug for example in examples for slug in example.labels}
    return [slug for slug in PolicyCategory.objects.values_list("slug", flat=True) if slug in present]


def dataset_fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def embed_in_batches(embed: Callable[[list], np.ndarray], inputs: list, *, progress: Progress | None, batch: int = 64):
    parts = []
    for start in range(0, len(inputs), batch):
        parts.append(embed(inputs[start : start + batch]))
        if progress:
            progress("embedding", min(start + batch, len(inputs)), len(inputs))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def train_text_version(
    *,
    examples: list[Example],
    name: str,
    snapshot: str,
    held_out: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
    embeddings: np.ndarray | None = None,
) -> TrainingResult:
    """Embed the texts, measure a head by cross-validation, then train the registered head on every label.

    The figures come from k-fold cross-validation with ``k = round(1 / held_out)`` (5 for the default
    0.2): every labelled text is scored once by a head that did not see it, the out-of-fold scores are
    pooled, and F1 and PR-AUC get 95 % bootstrap intervals over texts. The head that is registered is
    then trained on all of them: no label is kept out of the model to measure it.
    """
    from classifiers.heads import HeadConfig
    from classifiers.inference.text import BACKBONE, embed_texts, text_head_proba, train_text_head

    categories = _categories_in(examples)
    texts = [example.text for example in examples]
    authors = [example.author for example in examples]
    labels = label_matrix(examples, categories)
    vectors = embeddings if embeddings is not None else embed_in_batches(embed_texts, texts, progress=progress)
    folds = stratified_folds(labels, folds=max(2, round(1 / held_out)), seed=seed)
    out_of_fold = np.full(labels.shape, np.nan)
    for fold in range(int(folds.max()) + 1):
        train, test = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        if progress:
            progress("cross-validation", fold, int(folds.max()) + 1)
        head = train_text_head(
            vectors[train],
            [texts[i] for i in train],
            labels[train],
            categories=categories,
            authors=[authors[i] for i in train],
        )
        probs = text_head_proba(head, vectors[test], [texts[i] for i in test], authors=[authors[i] for i in test])
        for column, slug in enumerate(head.categories):
            out_of_fold[test, categories.index(slug)] = probs[:, column]

    def on_pass(passes: int, loss: float) -> None:
        if progress:
            progress(f"training on every label (loss {loss:.4f})", passes, HeadConfig().epochs)

    head = train_text_head(vectors, texts, labels, categories=categories, progress=on_pass, authors=authors)
    columns = [categories.index(slug) for slug in head.categories]
    scored = labels[:, columns].copy()
    scored[np.isnan(out_of_fold[:, columns])] = -1  # a category no fold head could train leaves its rows unscored
    oof = np.nan_to_num(out_of_fold[:, columns])
    metrics = metrics_with_intervals(oof, scored, categories=head.categories, seed=seed)
    rows = int(len(texts))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.npz"
        head.save(path)
        version = register_model_version(
            name=name,
            kind=ModelVersion.Kind.TEXT,
            architecture=BACKBONE.removeprefix("sentence:"),
            artifact_path=path,
            categories=list(head.categories),
            metrics={
                "held_out": metrics,
                "train_rows": rows,
                "held_out_rows": rows,
                "evaluation": f"{int(folds.max()) + 1}-fold cross-validation, out-of-fold scores of all {rows} texts",
                **head_record(head),
            },
            training_snapshot=snapshot,
            notes=(
                f"Trained on all {rows} labelled texts; metrics by {int(folds.max()) + 1}-fold cross-validation "
                "with 95% bootstrap intervals."
            ),
        )
    return TrainingResult(version, metrics, rows, rows)


def train_tuned_text_version(
    *,
    examples: list[Example],
    name: str,
    snapshot: str,
    held_out: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainingResult:
    """``train_text_version`` with the encoder's last layer tuned on the labels too, as a retraining run tunes it
    from ``RETRAIN_TEXT_TUNE_MIN_LABELS`` labels (``classifiers.retraining.tune_text_encoder_for``, its settings).

    Measured on one held-out fold (``held_out`` of the texts, stratified, F1 and PR-AUC with 95 % bootstrap
    intervals) that neither the tuned layer nor the head saw: cross-validation would tune the layer once per fold,
    and a layer tuned on every text would flatter out-of-fold heads. Then tuned and trained again on every label;
    that version is registered, with its encoder file.
    """
    from classifiers.inference.text import (
        DEFAULT_FEATURES,
        embed_texts,
        forget_tuned_encoder,
        text_head_proba,
        train_text_head,
    )
    from classifiers.retraining import tune_text_encoder_for

    categories = _categories_in(examples)
    texts = [example.text for example in examples]
    authors = [example.author for example in examples]
    labels = label_matrix(examples, categories)
    if not ((labels == 1).any() and (labels == 0).any()):
        raise ValueError("tuning the encoder needs positive and negative labels")
    test = stratified_folds(labels, folds=max(2, round(1 / held_out)), seed=seed) == 0
    train = ~test

    def on_line(line: str) -> None:
        if progress:
            progress(f"tuning ({line})", 0, 1)

    def fit(rows: np.ndarray, folder: Path) -> tuple[Any, Any, np.ndarray]:
        """Tune on ``rows``, embed every text in that space, train the head on ``rows``."""
        tuned = tune_text_encoder_for([texts[i] for i in np.flatnonzero(rows)], labels[rows], folder, on_line)
        vectors = embed_in_batches(lambda batch: embed_texts(batch, backbone=tuned.backbone), texts, progress=progress)
        head = train_text_head(
            vectors[rows],
            [texts[i] for i in np.flatnonzero(rows)],
            labels[rows],
            categories=categories,
            features=replace(DEFAULT_FEATURES, backbone=tuned.backbone),
            authors=[authors[i] for i in np.flatnonzero(rows)],
        )
        return tuned, head, vectors

    with tempfile.TemporaryDirectory(prefix="train-tuned-") as scratch:
        tuned, head, vectors = fit(train, Path(scratch) / "evaluation")
        try:
            held = np.flatnonzero(test)
            probs = text_head_proba(head, vectors[held], [texts[i] for i in held], authors=[authors[i] for i in held])
        finally:
            forget_tuned_encoder(tuned.backbone)
        columns = [categories.index(slug) for slug in head.categories]
        truth = labels[held][:, columns]
        metrics = metrics_with_intervals(probs, truth, categories=head.categories, seed=seed)
        evaluation = (
            f"held out: {len(held)} of {len(texts)} texts, which neither the tuned layer nor the head saw "
            f"(both from the other {int(train.sum())}); the registered version is tuned and trained on all {len(texts)}"
        )

        final, head, _ = fit(np.ones(len(texts), dtype=bool), Path(scratch) / "final")
        try:
            path = Path(scratch) / "head.npz"
            head.save(path)
            version = register_model_version(
                name=name,
                kind=ModelVersion.Kind.TEXT,
                architecture=final.backbone.removeprefix("sentence:"),
                artifact_path=path,
                backbone_path=final.path,
                categories=list(head.categories),
                metrics={
                    "held_out": metrics,
                    "train_rows": len(texts),
                    "held_out_rows": len(held),
                    "evaluation": evaluation,
                    "text_tuning": final.record(),
                    **head_record(head),
                },
                training_snapshot=snapshot,
                notes=f"Encoder's last layer tuned and head trained on all {len(texts)} labelled texts; {evaluation}.",
            )
        finally:
            forget_tuned_encoder(final.backbone)  # scoring loads it from the registered copy
    return TrainingResult(version, metrics, len(texts), len(held), evaluation)


def stratified_folds(labels: np.ndarray, *, folds: int, seed: int) -> np.ndarray:
    """A fold number per row, dealt round-robin within each pattern of known positives (so each fold gets some)."""
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(labels), dtype=np.int64)
    strata: dict[bytes, list[int]] = {}
    for index, row in enumerate(labels):
        strata.setdefault((row == 1).tobytes(), []).append(index)
    offset = 0
    for members in strata.values():
        members = np.array(members)
        rng.shuffle(members)
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # the next stratum starts where this one stopped, so folds stay even
    return assignment


def metrics_with_intervals(scores: np.ndarray, truth: np.ndarray, *, categories: list[str], seed: int) -> dict:
    """``heads.evaluate``'s figures per category, with 95 % bootstrap intervals of F1 and PR-AUC."""
    from classifiers.heads import evaluate

    metrics = evaluate(scores, truth, categories=categories)
    for j, slug in enumerate(categories):
        metrics[slug].update(bootstrap_intervals(scores[:, j], truth[:, j], seed=seed))
    return metrics


def bootstrap_intervals(scores: np.ndarray, truth: np.ndarray, *, seed: int, draws: int = 500) -> dict:
    """95 % percentile-bootstrap intervals of F1 at 0.5 and PR-AUC over the rows whose label is known."""
    from sklearn.metrics import average_precision_score

    known = truth != -1
    p, y = scores[known], truth[known] == 1
    rng = np.random.default_rng(seed)
    f1s, aps = [], []
    for _ in range(draws):
        sample = rng.integers(0, len(y), len(y))
        ys, ps = y[sample], p[sample]
        predicted = ps >= 0.5
        denominator = ys.sum() + predicted.sum()
        if denominator:
            f1s.append(2 * (predicted & ys).sum() / denominator)
        if ys.any() and not ys.all():
            aps.append(average_precision_score(ys, ps))

    def interval(values: list[float]) -> list[float] | None:
        return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if values else None

    return {"f1_ci95": interval(f1s), "pr_auc_ci95": interval(aps)}


def train_image_version(
    *,
    examples: list[Example],
    name: str,
    snapshot: str,
    backbone: ModelVersion,
    held_out: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
) -> TrainingResult:
    """Train a policy head on the embeddings of ``backbone``'s image network, evaluate, register."""
    from django.core.files.storage import default_storage

    from classifiers.head_training import train_head
    from classifiers.heads import evaluate
    from classifiers.inference import CategoryInfo
    from classifiers.inference.image import ImageModel

    categories = _categories_in(examples)
    infos = [CategoryInfo(slug=s, description="") for s in categories]
    checkpoint = default_storage.path(backbone.backbone_file.name) if backbone.backbone_file else None
    model = ImageModel.load(checkpoint, backbone.architecture, infos)
    images = [model.decode(example.image_path.read_bytes()) for example in examples]
    labels = label_matrix(examples, categories)
    train, test = stratified_split(labels, held_out=held_out, seed=seed)
    vectors = embed_in_batches(model.embed, images, progress=progress, batch=32)
    head = train_head(vectors[train], labels[train], categories=categories, feature_spec={"backbone": model.backbone})
    columns = [categories.index(slug) for slug in head.categories]
    metrics = evaluate(head.predict_proba(vectors[test]), labels[test][:, columns], categories=head.categories)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.npz"
        head.save(path)
        version = register_model_version(
            name=name,
            kind=ModelVersion.Kind.IMAGE,
            architecture=backbone.architecture,
            artifact_path=path,
            backbone_path=Path(checkpoint) if checkpoint else None,
            categories=list(head.categories),
            metrics={
                "held_out": metrics,
                "train_rows": int(len(train)),
                "held_out_rows": int(len(test)),
                **head_record(head),
            },
            training_snapshot=snapshot,
            notes=f"Policy head on {backbone.name}'s backbone; {len(train)} images, metrics on {len(test)} held out.",
        )
    return TrainingResult(version, metrics, len(train), len(test))
