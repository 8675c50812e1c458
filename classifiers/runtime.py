"""Scoring contents with every active and shadow model version, in a worker process.

Importing this module is cheap and torch-free; the model code (``classifiers.inference``) is
imported on first use, so only processes that score ever load torch. Each model version is loaded
once per process and kept while its files are unchanged.
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from classifiers import imagenet_prior, imagenet_table
from classifiers.models import Embedding, ModelVersion, PolicyCategory, Score
from classifiers.services import file_sha256, previous_active_version
from classifiers.weights_files import WeightsFileError

logger = logging.getLogger(__name__)

_models: dict[tuple[int, str, str], Any] = {}
# Per kind, the last active version that loaded in this process: what keeps scoring when a newly
# promoted version's files turn out missing or altered.
_last_good: dict[str, tuple[ModelVersion, Any]] = {}


class ModelFileError(ValueError):
    """A model version's file is missing or no longer matches the hash it was registered with."""


_threads_set = False


@dataclass(frozen=True)
class Content:
    """What the models see of an item: its id, its text, the storage name of its image, and its author's key
    (opaque, ``source:external_id``; the text heads read it, ``classifiers.inference.text.with_author``)."""

    item_id: int
    text: str = ""
    image_name: str = ""
    author: str = ""


@dataclass
class ScoringReport:
    """Per item, why scoring failed (empty when it did not), and how many scores were written.

    ``compute_scores`` fills ``scores`` and ``embeddings`` without writing them; ``store_scores`` writes them.
    """

    failures: dict[int, str] = field(default_factory=dict)
    scores_written: int = 0
    scores: list[Score] = field(default_factory=list, repr=False)
    embeddings: list[Embedding] = field(default_factory=list, repr=False)


def configure_inference_threads() -> None:
    """Give the inference runtimes (ONNX Runtime, and torch if imported) this worker's share of the cores, once."""
    global _threads_set
    if _threads_set:
        return
    from classifiers.inference.threads import set_inference_threads

    threads = settings.INFERENCE_THREADS or max(1, (os.cpu_count() or 1) // max(1, settings.INFERENCE_PROCESSES))
    set_inference_threads(threads)
    _threads_set = True


def configure_torch_threads() -> None:
    """The same share for torch, imported now if it is not yet: for training and benchmarks, which run on it."""
    from classifiers.inference.threads import sync_torch_threads

    configure_inference_threads()
    sync_torch_threads(import_torch=True)


def scoring_versions() -> list[ModelVersion]:
    return list(
        ModelVersion.objects.filter(status__in=[ModelVersion.Status.ACTIVE, ModelVersion.Status.SHADOW]).order_by("id")
    )


def _category_infos(categories: list[PolicyCategory] | None = None) -> list[Any]:
    """What the models see of the active categories, in order; from ``categories`` (every category, in the
    model's order) when the caller has read them already."""
    from classifiers.inference import CategoryInfo

    active = PolicyCategory.objects.filter(is_active=True) if categories is None else categories
    return [
        CategoryInfo(slug=c.slug, description=c.description, seed_examples=c.seed_example_list)
        for c in active
        if c.is_active
    ]


def load_model(version: ModelVersion, categories: list[Any]) -> Any:
    """The in-memory model of ``version``, loaded on first use in this process."""
    key = (version.pk, version.artifact_sha256, version.backbone_sha256)
    model = _models.get(key)
    if model is None:
        configure_inference_threads()
        artifact = _verified_path(version, version.artifact.name, version.artifact_sha256, "head")
        if version.kind == ModelVersion.Kind.TEXT:
            from classifiers.inference.text import TextModel

            encoder = _verified_path(version, version.backbone_file.name, version.backbone_sha256, "encoder")
            model = TextModel.load(artifact, categories, encoder_file=Path(encoder) if encoder else None)
        else:
            from classifiers.heads import Head

            backbone = _verified_path(version, version.backbone_file.name, version.backbone_sha256, "backbone")
            head = Head.load(artifact) if artifact else None
            model = _load_image_model(version, backbone, categories, head)
        from classifiers.inference.threads import sync_torch_threads

        sync_torch_threads()  # in case that model imported torch
        _models[key] = model
    return model


def _load_image_model(version: ModelVersion, backbone: str | None, categories: list[Any], head: Any) -> Any:
    """The ONNX Runtime model (``IMAGE_RUNTIME=onnx``: same embedding space and scores as the torch one, without
    importing timm; bench/RESULTS.md), or the timm network itself when asked for or when the export fails."""
    if settings.IMAGE_RUNTIME == "onnx":
        from classifiers.inference import onnx_cache_dir
        from classifiers.inference.onnx_image import OnnxImageModel

        try:
            return OnnxImageModel.load(
                backbone, version.architecture, categories, head=head, cache_dir=onnx_cache_dir()
            )
        except (FileNotFoundError, ModelFileError):
            raise
        except Exception as exc:  # noqa: BLE001 - an architecture torch.onnx cannot export still scores, on torch
            logger.warning("image version %s runs on torch: no ONNX export (%s)", version.name, exc)
    from classifiers.inference.image import ImageModel

    return ImageModel.load(backbone, version.architecture, categories, head=head)


def _verified_path(version: ModelVersion, name: str, sha256: str, what: str) -> str | None:
    """The local path of a version's file after checking it is the file that was registered."""
    if not name:
        return None
    path = default_storage.path(name)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: the {what} file of model version {version.name} is missing")
    actual = file_sha256(Path(path))
    if sha256 and actual != sha256:
        raise ModelFileError(
            f"{path}: the {what} file of model version {version.name} has sha256 {actual}, registered {sha256}"
        )
    return path


def loaded_versions(versions: list[ModelVersion], categories: list[Any]) -> list[tuple[ModelVersion, Any]]:
    """Each version with its loaded model; a version that fails to load is left out.

    An active version that fails (missing or altered file, a checkpoint that does not fit) is replaced
    by the kind's last active version that loaded, in this process or, after a restart, the one
    previously active in the registry; its scores are then stored under that version, which is the one
    that produced them. Only when no earlier version loads either does the error reach the caller.
    """
    loaded = []
    for version in versions:
        try:
            model = load_model(version, categories)
        except (ModelFileError, ValueError, OSError, RuntimeError, KeyError) as exc:
            logger.error("model version %s cannot be loaded: %s", version.name, exc)
            if version.status == ModelVersion.Status.ACTIVE:
                fallback = _fallback(version, categories, exc)
                if all(other.pk != fallback[0].pk for other, _ in loaded):
                    loaded.append(fallback)
            continue
        if version.status == ModelVersion.Status.ACTIVE:
            _last_good[version.kind] = (version, model)
        loaded.append((version, model))
    return loaded


def _fallback(version: ModelVersion, categories: list[Any], error: Exception) -> tuple[ModelVersion, Any]:
    kept = _last_good.get(version.kind)
    if kept is not None and kept[0].pk != version.pk:
        logger.error("scoring %s items with %s, the last version that loaded", version.kind, kept[0].name)
        return kept
    previous = previous_active_version(kind=version.kind)
    if previous is None:
        raise error
    model = load_model(previous, categories)  # its own failure reaches the caller: nothing is left to score with
    logger.error("scoring %s items with %s, the version active before %s", version.kind, previous.name, version.name)
    _last_good[version.kind] = (previous, model)
    return previous, model


def preload_models() -> int:
    """Load every active and shadow version now, when a scoring worker starts, so its first batch does not
    wait for them (and readiness can say when it is ready). A version that cannot be loaded is left out, as when
    scoring (``loaded_versions``). The ImageNet classifier of a packaged image backbone, which the first image
    scored needs, is loaded too. Returns how many versions were loaded."""
    loaded = loaded_versions(scoring_versions(), _category_infos())
    for version, _ in loaded:
        spec = imagenet_prior.packaged_spec(version.provenance, version.backbone_sha256)
        if version.kind == ModelVersion.Kind.IMAGE and spec is not None:
            try:
                imagenet_prior.load_classifier(spec)
            except (WeightsFileError, OSError) as exc:  # as before preloading: images fail, naming it, text scores
                logger.error("the ImageNet classifier of %s cannot be loaded: %s", version.name, exc)
    return len(loaded)


def score_contents(contents: list[Content]) -> ScoringReport:
    """Score ``contents`` with every active and shadow version; store embeddings and scores.

    Writes are upserts keyed by (item, version, category) and (item, backbone), so scoring the same
    item again, after a redelivered message or a crashed worker, changes nothing twice. An item whose
    image cannot be decoded, or whose text is empty, is reported in ``failures`` with a reason a
    reviewer can read; the rest of the batch is scored normally.
    """
    report = compute_scores(contents)
    with transaction.atomic():
        store_scores(report)
    return report


def store_scores(report: ScoringReport) -> None:
    """Write what ``compute_scores`` computed: two statements, inside the caller's transaction (the scoring
    worker's, which also records the items' outcome in it, so scores and outcome commit together)."""
    Embedding.objects.bulk_create(report.embeddings, ignore_conflicts=True)
    Score.objects.bulk_create(
        report.scores,
        update_conflicts=True,
        unique_fields=["item_id", "model_version", "category"],
        update_fields=["probability", "from_prior", "prior_source", "author_shift"],
    )
    report.scores_written = len(report.scores)


def compute_scores(contents: list[Content]) -> ScoringReport:
    """``score_contents`` without the writes: the scores and new embeddings, for ``store_scores``."""
    report = ScoringReport()
    versions = scoring_versions()
    # One read of the categories for both uses: the models' (active ones, in order) and the ids of every slug.
    all_categories = list(PolicyCategory.objects.all())
    categories = _category_infos(all_categories)
    category_ids = {c.slug: c.id for c in all_categories}
    scores, embeddings = report.scores, report.embeddings

    texts, authors = {}, {}
    for content in contents:
        if content.text and content.text.strip():
            texts[content.item_id] = content.text
            authors[content.item_id] = content.author
        elif content.text or not content.image_name:
            report.failures[content.item_id] = (
                "The text is empty or only whitespace; the text model has nothing to read."
            )

    text_versions = [v for v in versions if v.kind == ModelVersion.Kind.TEXT]
    image_versions = [v for v in versions if v.kind == ModelVersion.Kind.IMAGE]
    if texts and text_versions:
        ids = list(texts)
        inputs = [texts[i] for i in ids]
        _score_with(
            loaded_versions(text_versions, categories),
            ids,
            inputs,
            category_ids,
            scores,
            embeddings,
            authors=[authors[i] for i in ids],
        )

    with_images = [c for c in contents if c.image_name]
    loaded_images = loaded_versions(image_versions, categories) if with_images and image_versions else []
    if loaded_images:
        decoder = shared_decoder([model for _, model in loaded_images])
        ids, images = [], []
        for content in with_images:
            try:
                with default_storage.open(content.image_name, "rb") as handle:
                    images.append(decoder.decode(handle.read()))
                ids.append(content.item_id)
            except Exception as exc:  # noqa: BLE001 - any decode failure becomes a reviewer-readable reason
                reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                report.failures[content.item_id] = f"The image could not be decoded: {reason}"
        if ids:
            rows = imagenet_table.prior_rows()
            _score_with(loaded_images, ids, images, category_ids, scores, embeddings, imagenet_rows=rows)

    return report


def shared_decoder(models: list[Any]) -> Any:
    """The model whose ``decode`` the versions share: one decoded copy of each image, reduced no further than
    the network that reads the largest images needs (a smaller one only resizes further down)."""
    return max(models, key=lambda model: model.decode_side)


def _score_with(
    versions: list[tuple[ModelVersion, Any]],
    ids: list[int],
    inputs: list[Any],
    category_ids: dict[str, int],
    scores: list[Score],
    embeddings: list[Embedding],
    *,
    imagenet_rows: tuple[imagenet_table.PriorRow, ...] = (),
    authors: list[str] | None = None,
) -> None:
    """Embed once per backbone (reusing stored embeddings), then let each version predict; ``authors`` (texts
    only): each input's author key."""
    by_backbone: dict[str, np.ndarray] = {}
    for version, model in versions:
        if model.backbone not in by_backbone:
            by_backbone[model.backbone] = _embeddings_for(model, ids, inputs, embeddings)
        told = {} if authors is None else {"authors": authors}  # image models take no authors
        predictions = model.predict(by_backbone[model.backbone], inputs, **told)
        if imagenet_rows and version.kind == ModelVersion.Kind.IMAGE:
            predictions = _with_imagenet_prior(version, by_backbone[model.backbone], predictions, imagenet_rows)
        for item_id, per_category in zip(ids, predictions, strict=True):
            for slug, score in per_category.items():
                if slug in category_ids:
                    probability = _unit(score.probability)
                    without = score.without_author
                    scores.append(
                        Score(
                            item_id=item_id,
                            model_version_id=version.pk,
                            category_id=category_ids[slug],
                            probability=probability,
                            from_prior=score.from_prior,
                            prior_source=score.source if score.from_prior else "",
                            author_shift=None if without is None else probability - _unit(without),
                        )
                    )


def _unit(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _with_imagenet_prior(
    version: ModelVersion, vectors: np.ndarray, predictions: list[dict[str, Any]], rows: tuple[Any, ...]
) -> list[dict[str, Any]]:
    """Raise each prior-scored category to what the admin's ImageNet table gives (``classifiers.imagenet_table``),
    where that is higher. Only for a version whose backbone is the packaged ImageNet network, unchanged."""
    from classifiers.inference import CategoryScore

    spec = imagenet_prior.packaged_spec(version.provenance, version.backbone_sha256)
    if spec is None:
        return predictions
    from_prior = sorted({slug for scores in predictions for slug, score in scores.items() if score.from_prior})
    mapped = imagenet_table.category_priors(
        imagenet_prior.load_classifier(spec).probabilities(vectors), rows, from_prior
    )
    raised = []
    for scores, table in zip(predictions, mapped, strict=True):
        scores = dict(scores)
        for slug, (value, class_name) in table.items():
            if scores[slug].from_prior and value > scores[slug].probability:
                scores[slug] = CategoryScore(probability=value, from_prior=True, source=f"ImageNet: {class_name}"[:40])
        raised.append(scores)
    return raised


def _embeddings_for(model: Any, ids: list[int], inputs: list[Any], embeddings: list[Embedding]) -> np.ndarray:
    stored = {
        item_id: np.frombuffer(vector, dtype=np.float16)
        for item_id, vector in Embedding.objects.filter(item_id__in=ids, backbone=model.backbone).values_list(
            "item_id", "vector"
        )
    }
    missing = [index for index, item_id in enumerate(ids) if item_id not in stored]
    fresh = model.embed([inputs[index] for index in missing]) if missing else None
    rows = []
    fresh_by_index = dict(zip(missing, fresh, strict=True)) if fresh is not None else {}
    for index, item_id in enumerate(ids):
        if item_id in stored:
            rows.append(stored[item_id].astype(np.float32))
        else:
            vector = fresh_by_index[index]
            rows.append(vector.astype(np.float32))
            embeddings.append(
                Embedding(
                    item_id=item_id,
                    backbone=model.backbone,
                    dim=vector.shape[0],
                    vector=vector.astype(np.float16).tobytes(),
                )
            )
    return np.stack(rows)


def forget_loaded_models() -> None:
    """Drop the per-process model cache (tests, and after a promotion in a long-lived process)."""
    _models.clear()
    _last_good.clear()
