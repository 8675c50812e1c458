"""ONNX exports made ahead of time, so a scoring worker starts without torch's export path or timm.

A worker finds the text encoder's int8 file, each image backbone's float32 file (and the ImageNet classifier
of a packaged one, as ``.npz``) in the ONNX cache
(``classifiers.inference.onnx_cache_dir``) by the hash of their weights. Making them costs torch,
transformers and timm and tens of seconds; done here (``manage.py prepare_inference_models``, which
``make run`` and ``make test`` call, and the commands that install an image backbone), the worker's
first start only loads them. A worker that finds a file missing still exports it itself, once.
"""

from pathlib import Path

from django.core.files.storage import default_storage

from classifiers import imagenet_prior
from classifiers.models import ModelVersion


def export_image_version(version: ModelVersion) -> Path:
    """The ONNX file of ``version``'s image backbone, exported now unless already cached; for a packaged backbone,
    its ImageNet classifier is kept beside it (``classifiers.imagenet_prior``), so the worker needs no torch."""
    from classifiers.inference import onnx_cache_dir
    from classifiers.inference.onnx_image import export_backbone

    spec = imagenet_prior.packaged_spec(version.provenance, version.backbone_sha256)
    if spec is not None:
        imagenet_prior.load_classifier(spec)
    checkpoint = Path(default_storage.path(version.backbone_file.name)) if version.backbone_file else None
    return export_backbone(checkpoint, version.architecture, onnx_cache_dir()).model


def export_text_encoder() -> Path:
    """The int8 ONNX file of the text encoder (and its float32 source), exported now unless already cached."""
    from classifiers.inference import onnx_cache_dir
    from classifiers.inference.onnx_text import model_files

    return model_files(onnx_cache_dir())["int8"]


def prepare_inference_models() -> list[Path]:
    """Export the text encoder and the backbone of every active, shadow and candidate image version."""
    files = [export_text_encoder()]
    scoring = [ModelVersion.Status.ACTIVE, ModelVersion.Status.SHADOW, ModelVersion.Status.CANDIDATE]
    for version in ModelVersion.objects.filter(kind=ModelVersion.Kind.IMAGE, status__in=scoring).order_by("id"):
        files.append(export_image_version(version))
    return files
