"""The image backbone on ONNX Runtime: the torch model's embeddings and scores, its space, no timm in the worker.

Tiny timm networks created in the test (``pretrained=False``); each export goes to the test's own folder.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from classifiers import runtime
from classifiers.head_training import train_head
from classifiers.heads import HeadConfig
from classifiers.image_training import save_backbone
from classifiers.inference import CategoryInfo, onnx_image
from classifiers.inference.image import ImageModel, clear_cache, create_network
from classifiers.inference.onnx_image import OnnxImageModel, export_backbone, exported_files
from classifiers.inference.text import TextModel, train_text_head
from classifiers.models import Embedding
from classifiers.services import register_model_version, set_model_version_status

ROOT = Path(__file__).resolve().parents[2]
ARCH = "mobilenetv3_small_050"
SIZE = 64
SLUGS = ["spam", "sexual", "violence", "self_harm"]
CATEGORIES = [CategoryInfo(slug=slug, description=f"{slug} policy") for slug in SLUGS]


@pytest.fixture(autouse=True)
def _fresh_caches_one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    clear_cache()
    onnx_image.clear_cache()
    yield
    clear_cache()
    onnx_image.clear_cache()
    torch.set_num_threads(threads)


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A project-format backbone whose weights differ from the seeded init (so a wrong file would show)."""
    network = create_network(ARCH, seed=7)
    path = tmp_path / "backbone.pt"
    save_backbone(network, path, architecture=ARCH, input_size=SIZE, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    return path


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    # Odd sizes and a greyscale one: the resize and the conversion are part of what must match.
    images = [Image.fromarray(rng.integers(0, 256, (37 + 9 * i, 53 + 5 * i, 3), dtype=np.uint8)) for i in range(n)]
    return [*images[:-1], images[-1].convert("L")]


def test_the_onnx_model_gives_the_torch_models_embeddings_and_names_the_same_space(checkpoint, tmp_path):
    torch_model = ImageModel.load(checkpoint, ARCH, CATEGORIES)
    onnx_model = OnnxImageModel.load(checkpoint, ARCH, CATEGORIES, cache_dir=tmp_path / "onnx")
    images = _images(11)  # more than one batch of 8

    assert onnx_model.backbone == torch_model.backbone and onnx_model.dim == torch_model.dim
    np.testing.assert_array_equal(onnx_model._backbone.preprocess(images), torch_model.preprocess(images).numpy())
    ours, theirs = onnx_model.embed(images), torch_model.embed(images)
    assert ours.shape == (11, torch_model.dim) and ours.dtype == np.float32
    # Far below the float16 rounding the stored embeddings get (about 5e-4 at these magnitudes).
    assert np.abs(ours - theirs).max() < 1e-4
    assert onnx_model.embed([]).shape == (0, torch_model.dim)


def test_a_head_trained_on_torch_embeddings_scores_the_same_on_the_onnx_model(checkpoint, tmp_path):
    torch_model = ImageModel.load(checkpoint, ARCH, CATEGORIES)
    images = _images(24, seed=1)
    vectors = torch_model.embed(images)
    labels = (vectors[:, :1] > np.median(vectors[:, :1])).astype(np.int8)
    head = train_head(
        vectors,
        labels,
        categories=["spam"],
        config=HeadConfig(epochs=20),
        feature_spec={"backbone": torch_model.backbone},
    )
    onnx_model = OnnxImageModel.load(checkpoint, ARCH, CATEGORIES, head=head, cache_dir=tmp_path / "onnx")

    ours = onnx_model.predict(onnx_model.embed(images), images)
    theirs = ImageModel(torch_model._backbone, CATEGORIES, head).predict(vectors, images)
    assert [row["spam"].from_prior for row in ours] == [False] * 24
    for mine, other in zip(ours, theirs, strict=True):
        assert list(mine) == SLUGS
        for slug in SLUGS:
            assert mine[slug].probability == pytest.approx(other[slug].probability, abs=1e-4)
            assert (mine[slug].from_prior, mine[slug].source) == (other[slug].from_prior, other[slug].source)


def test_a_head_from_another_space_is_refused(checkpoint, tmp_path):
    head = train_head(
        np.random.default_rng(0).standard_normal((20, 1024)).astype(np.float32),
        np.array([[1], [0]] * 10, dtype=np.int8),
        categories=["spam"],
        config=HeadConfig(epochs=3),
        feature_spec={"backbone": f"timm:{ARCH}@init/{SIZE}"},
    )
    with pytest.raises(ValueError, match="trained on timm:mobilenetv3_small_050@init/64 embeddings"):
        OnnxImageModel.load(checkpoint, ARCH, CATEGORIES, head=head, cache_dir=tmp_path / "onnx")


def test_the_export_is_made_once_and_a_new_checkpoint_is_a_new_file(checkpoint, tmp_path):
    cache = tmp_path / "onnx"
    first = export_backbone(checkpoint, ARCH, cache)
    written = first.model.stat().st_mtime_ns
    OnnxImageModel.load(checkpoint, ARCH, CATEGORIES, cache_dir=cache)
    assert export_backbone(checkpoint, ARCH, cache) == first and first.model.stat().st_mtime_ns == written
    assert json.loads(first.meta.read_text())["backbone"] == ImageModel.load(checkpoint, ARCH, []).backbone

    other = tmp_path / "other.pt"
    save_backbone(
        create_network(ARCH, seed=8), other, architecture=ARCH, input_size=SIZE, mean=(0.5,) * 3, std=(0.5,) * 3
    )
    assert export_backbone(other, ARCH, cache).model != first.model
    assert sorted(path.suffix for path in cache.glob("image-*")) == [
        ".json",
        ".json",
        ".lock",
        ".lock",
        ".onnx",
        ".onnx",
    ]


def test_a_missing_checkpoint_is_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        OnnxImageModel.load(tmp_path / "missing.pt", ARCH, CATEGORIES, cache_dir=tmp_path / "onnx")


SCORING_PROCESS = """
import json, sys
from pathlib import Path
from PIL import Image
from classifiers.heads import Head
from classifiers.inference import CategoryInfo
from classifiers.inference.onnx_image import OnnxImageModel
from classifiers.inference.text import TextModel

categories = [CategoryInfo(slug="spam", description="Unsolicited advertising")]
image_head = Head.load(sys.argv[4])
image_model = OnnxImageModel.load(
    Path(sys.argv[1]), sys.argv[2], categories, head=image_head, cache_dir=Path(sys.argv[3])
)
text_model = TextModel.load(sys.argv[5], categories)
images = [Image.new("RGB", (40, 30), "teal")]
image_scores = image_model.predict(image_model.embed(images), images)
text_scores = text_model.predict(text_model.embed(["cheap pills"]), ["cheap pills"])
heavy = ("torch", "timm", "torchvision", "sentence_transformers", "transformers")
print(json.dumps({"imported": [name for name in heavy if name in sys.modules], "text": text_model.backbone,
                  "from_head": [image_scores[0]["spam"].from_prior, text_scores[0]["spam"].from_prior]}))
"""


def test_a_scoring_process_with_exports_ready_and_trained_heads_imports_neither_torch_nor_timm(checkpoint, tmp_path):
    cache = tmp_path / "onnx"
    export_backbone(checkpoint, ARCH, cache)
    torch_model = ImageModel.load(checkpoint, ARCH, CATEGORIES)
    images = _images(24, seed=1)
    vectors = torch_model.embed(images)
    labels = (vectors[:, :1] > np.median(vectors[:, :1])).astype(np.int8)
    image_head = train_head(vectors, labels, categories=["spam"], config=HeadConfig(epochs=20),
                            feature_spec={"backbone": torch_model.backbone})  # fmt: skip
    image_head.save(tmp_path / "image-head.npz")
    texts = ["cheap pills, buy now", "win a prize, click here", "lunch at noon?", "the minutes of the meeting"] * 3
    text_labels = np.array([[1], [1], [0], [0]] * 3, dtype=np.int8)
    text_model = TextModel.load(None, [CategoryInfo(slug="spam", description="Unsolicited advertising")])
    train_text_head(text_model.embed(texts), texts, text_labels, categories=["spam"],
                    config=HeadConfig(epochs=20, calibration_folds=0)).save(tmp_path / "text-head.npz")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("TEXT_ENCODER", None)  # the default encoder, whose export `make test` prepares in var/cache/onnx
    done = subprocess.run(
        [sys.executable, "-c", SCORING_PROCESS, str(checkpoint), ARCH, str(cache), str(tmp_path / "image-head.npz"),
         str(tmp_path / "text-head.npz")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # Both scores come from the trained heads (not the priors), and no torch was needed to load or run them.
    assert result == {"imported": [], "text": "sentence:all-MiniLM-L6-v2@onnx-int8", "from_head": [False, False]}
    assert exported_files(cache, ARCH, onnx_image.file_sha256(checkpoint), None).exist()


def _active_version(checkpoint: Path, name: str):  # noqa: ANN202
    version = register_model_version(name=name, kind="image", architecture=ARCH, backbone_path=checkpoint)
    return set_model_version_status(version=version, status="active")


@pytest.mark.django_db
def test_the_worker_scores_on_the_onnx_export_and_stores_embeddings_in_the_torch_models_space(
    settings, tmp_path, monkeypatch, checkpoint
):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    runtime.forget_loaded_models()
    version = _active_version(checkpoint, "img-onnx")
    picture = _images(1, seed=3)[0].convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    name = default_storage.save("items/picture.png", ContentFile(buffer.getvalue()))

    report = runtime.score_contents([runtime.Content(item_id=1, image_name=name)])

    assert not report.failures and report.scores_written == len(runtime._category_infos())
    assert isinstance(runtime.load_model(version, []), OnnxImageModel)
    torch_model = ImageModel.load(default_storage.path(version.backbone_file.name), ARCH, [])
    stored = Embedding.objects.get(item_id=1)
    assert stored.backbone == torch_model.backbone
    vector = np.frombuffer(stored.vector, dtype=np.float16).astype(np.float32)
    np.testing.assert_allclose(vector, torch_model.embed([picture])[0], atol=2e-3)  # float16 storage
    runtime.forget_loaded_models()


@pytest.mark.django_db
def test_the_worker_runs_the_torch_network_when_asked_or_when_the_export_fails(
    settings, tmp_path, monkeypatch, checkpoint
):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    runtime.forget_loaded_models()
    version = _active_version(checkpoint, "img-torch")
    settings.IMAGE_RUNTIME = "torch"
    assert isinstance(runtime.load_model(version, []), ImageModel)

    runtime.forget_loaded_models()
    settings.IMAGE_RUNTIME = "onnx"

    def cannot_export(*args, **kwargs):  # an architecture torch.onnx cannot trace
        raise RuntimeError("Unsupported: ONNX export of operator foo")

    monkeypatch.setattr(onnx_image, "export_backbone", cannot_export)
    assert isinstance(runtime.load_model(version, []), ImageModel)
    runtime.forget_loaded_models()
