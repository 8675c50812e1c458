"""Training a candidate model version from a labelled dataset, evaluated on a held-out split.

The heavy lifting (encoders, heads, metrics) is in ``classifiers.inference`` and ``classifiers.heads``;
this module splits the data, trains, evaluates, and registers the result as a candidate.
"""

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.datasets import Example, label_matrix, stratified_split
from classifiers.models import ModelVersion, PolicyCategory
from classifiers.services import register_model_version


@dataclass(frozen=True)
class TrainingResult:
    version: ModelVersion
    metrics: dict
    train_rows: int
    held_out_rows: int


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
    """Embed the texts, train a head on the training split, evaluate on the held-out split, register."""
    from classifiers.heads import HeadConfig, evaluate
    from classifiers.inference.text import BACKBONE, DEFAULT_FEATURES, build_features, embed_texts, train_text_head

    categories = _categories_in(examples)
    texts = [example.text for example in examples]
    labels = label_matrix(examples, categories)
    train, test = stratified_split(labels, held_out=held_out, seed=seed)
    vectors = embeddings if embeddings is not None else embed_in_batches(embed_texts, texts, progress=progress)

    def on_pass(passes: int, loss: float) -> None:
        if progress:
            progress(f"training (loss {loss:.4f})", passes, HeadConfig().epochs)

    head = train_text_head(
        vectors[train], [texts[i] for i in train], labels[train], categories=categories, progress=on_pass
    )
    probs = head.predict_proba(build_features(vectors[test], [texts[i] for i in test], DEFAULT_FEATURES))
    columns = [categories.index(slug) for slug in head.categories]
    metrics = evaluate(probs, labels[test][:, columns], categories=head.categories)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.pt"
        head.save(path)
        version = register_model_version(
            name=name,
            kind=ModelVersion.Kind.TEXT,
            architecture=BACKBONE.removeprefix("sentence:"),
            artifact_path=path,
            categories=list(head.categories),
            metrics={"held_out": metrics, "train_rows": int(len(train)), "held_out_rows": int(len(test))},
            training_snapshot=snapshot,
            notes=f"Trained on {len(train)} labelled texts; metrics on {len(test)} held out.",
        )
    return TrainingResult(version, metrics, len(train), len(test))


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

    from classifiers.heads import evaluate, train_head
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
        path = Path(folder) / "head.pt"
        head.save(path)
        version = register_model_version(
            name=name,
            kind=ModelVersion.Kind.IMAGE,
            architecture=backbone.architecture,
            artifact_path=path,
            backbone_path=Path(checkpoint) if checkpoint else None,
            categories=list(head.categories),
            metrics={"held_out": metrics, "train_rows": int(len(train)), "held_out_rows": int(len(test))},
            training_snapshot=snapshot,
            notes=f"Policy head on {backbone.name}'s backbone; {len(train)} images, metrics on {len(test)} held out.",
        )
    return TrainingResult(version, metrics, len(train), len(test))
