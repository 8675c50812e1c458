"""The timm image model: decoding hostile bytes, embeddings, checkpoints, training, and scores.

Every network here is a tiny timm model created in the test with ``pretrained=False``; nothing is
downloaded and no database is used.
"""

import argparse
import io
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from torch.nn import functional as F

from classifiers import image_priors
from classifiers.image_training import prepare_images, save_backbone, train_backbone
from classifiers.inference import CategoryInfo
from classifiers.inference.image import FORMAT, ImageDecodeError, ImageModel, clear_cache, decode_image
from classifiers.runtime import shared_decoder

ARCH = "mobilenetv3_small_050"
OTHER_ARCH = "resnet10t"
SIZE = 64
SLUGS = ["spam", "scam_fraud", "harassment", "hate", "sexual", "violence", "self_harm"]
CATEGORIES = [CategoryInfo(slug=slug, description=f"{slug} policy") for slug in SLUGS]


@pytest.fixture(autouse=True)
def _fresh_cache_one_thread():
    # Tiny models run faster on one thread, and one thread cannot be slowed down by OpenMP threads
    # spin-waiting for each other on a loaded machine (bench/RESULTS.md).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    clear_cache()
    yield
    clear_cache()
    torch.set_num_threads(threads)


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)) for _ in range(n)]


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _pre_logits(network: torch.nn.Module, batch: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        features = network.forward_head(network.forward_features(batch), pre_logits=True)
    return F.normalize(features, dim=1).numpy()


# ---- decoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"<html><body>not a picture</body></html>", "not an image in a supported format"),
        (b"\x00" * 1000, "not an image in a supported format"),
    ],
)
def test_it_refuses_bytes_that_are_not_an_image_with_a_readable_reason(data, words):
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data)
    assert words in caught.value.reason


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_it_refuses_a_truncated_image_instead_of_padding_it(fmt):
    noisy = _images(1)[0].resize((200, 200))
    data = _encode(noisy, fmt)
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data[: len(data) // 2])
    assert "truncated or corrupt" in caught.value.reason
    assert fmt in caught.value.reason


def test_it_refuses_images_over_the_pixel_limit_before_decoding_them():
    data = _encode(Image.new("RGB", (300, 200)), "PNG")
    with pytest.raises(ImageDecodeError, match="300×200 pixels"):
        decode_image(data, max_pixels=50_000)


@pytest.mark.parametrize(("fmt", "kwargs"), [("PNG", {}), ("JPEG", {"quality": 95}), ("WEBP", {"lossless": True})])
def test_it_decodes_common_formats_to_rgb(fmt, kwargs):
    source = Image.new("RGB", (30, 20), (200, 40, 10))
    decoded = decode_image(_encode(source, fmt, **kwargs))
    assert decoded.mode == "RGB"
    assert decoded.size == (30, 20)
    assert np.abs(np.asarray(decoded, dtype=int) - [200, 40, 10]).max() <= 3


def test_it_takes_the_first_frame_of_an_animated_gif():
    frames = [Image.new("RGB", (16, 16), colour) for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(buffer.getvalue())
    assert decoded.mode == "RGB"
    assert tuple(np.asarray(decoded)[8, 8]) == (255, 0, 0)


def test_it_converts_grey_palette_and_transparent_images_to_rgb():
    grey = decode_image(_encode(Image.new("L", (8, 8), 77), "PNG"))
    palette = decode_image(
        _encode(Image.new("RGB", (8, 8), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE), "PNG")
    )
    transparent = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    transparent.putpixel((0, 0), (0, 0, 255, 255))
    composited = decode_image(_encode(transparent, "PNG"))
    assert {grey.mode, palette.mode, composited.mode} == {"RGB"}
    assert tuple(np.asarray(grey)[0, 0]) == (77, 77, 77)
    assert tuple(np.asarray(palette)[0, 0]) == (10, 200, 30)
    # Transparent pixels are shown on white, as the review page shows them, not as black.
    assert tuple(np.asarray(composited)[4, 4]) == (255, 255, 255)
    assert tuple(np.asarray(composited)[0, 0]) == (0, 0, 255)


def test_it_applies_the_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = _encode(Image.new("RGB", (40, 20), (90, 90, 90)), "JPEG", exif=exif)
    assert decode_image(data).size == (20, 40)


def _photo_like(width: int, height: int) -> Image.Image:
    """Smooth gradients with detail on top, so that a reduced decode has something to lose."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(3)
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=2) + rng.integers(
        0, 24, (height, width, 3)
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(
    ("fmt", "size", "reduced"), [("JPEG", (2400, 1800), (1200, 900)), ("PNG", (1600, 1200), (800, 600))]
)
def test_a_large_image_is_reduced_to_what_the_models_need_keeping_its_shorter_side_over_the_minimum(fmt, size, reduced):
    data = _encode(_photo_like(*size), fmt)
    decoded = decode_image(data, min_side=512)
    assert decoded.size == reduced and decoded.mode == "RGB"
    full = decode_image(data, min_side=None)
    assert full.size == size
    # The same picture, averaged: the reduction of the full decode is within JPEG noise of the reduced decode.
    expected = np.asarray(full.resize(reduced, Image.Resampling.BOX), dtype=int)
    assert np.abs(np.asarray(decoded, dtype=int) - expected).mean() < 3


def test_an_image_not_twice_the_minimum_is_kept_whole():
    assert decode_image(_encode(_photo_like(1000, 700), "JPEG"), min_side=512).size == (1000, 700)
    assert decode_image(_encode(_photo_like(3000, 400), "PNG"), min_side=512).size == (3000, 400)  # a banner


def test_a_reduced_decode_still_applies_the_exif_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(_photo_like(2400, 1200), "JPEG", exif=exif)
    assert decode_image(data, min_side=512).size == (600, 1200)


def test_a_model_decodes_to_twice_its_input_side_at_least():
    categories = CATEGORIES[:1]
    small = ImageModel.load(None, ARCH, categories, input_size=SIZE)
    large = ImageModel.load(None, ARCH, categories, input_size=320)
    assert small.decode_side == 512 and large.decode_side == 640
    data = _encode(_photo_like(2600, 1200), "JPEG")
    assert small.decode(data).size == (1300, 600)
    assert large.decode(data).size == (2600, 1200)  # halved, its shorter side would be under 640


def test_versions_scoring_together_share_the_decode_of_the_one_that_reads_the_largest_images():
    categories = CATEGORIES[:1]
    small = ImageModel.load(None, ARCH, categories, input_size=SIZE)
    large = ImageModel.load(None, ARCH, categories, input_size=320)
    assert shared_decoder([small, large]) is large and shared_decoder([large, small]) is large
    assert shared_decoder([small]) is small


# ---- embeddings and checkpoints ---------------------------------------------------------------


def test_embed_returns_one_normalised_float32_row_per_image_in_order():
    model = ImageModel.load(None, ARCH, CATEGORIES, input_size=SIZE)
    images = _images(5)
    vectors = model.embed(images, batch_size=2)
    assert vectors.dtype == np.float32
    assert vectors.shape == (5, model.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.embed(images[3:4]), vectors[3:4], atol=1e-5)
    assert model.embed([]).shape == (0, model.dim)
    assert model.backbone == f"timm:{ARCH}@init/{SIZE}"


def test_the_init_backbone_is_the_same_space_in_every_process_and_loaded_once():
    images = _images(2)
    first = ImageModel.load(None, ARCH, CATEGORIES, input_size=SIZE)
    again = ImageModel.load(None, ARCH, CATEGORIES[:2], input_size=SIZE)
    assert again.network is first.network
    vectors = first.embed(images)
    clear_cache()
    reloaded = ImageModel.load(None, ARCH, CATEGORIES, input_size=SIZE)
    assert reloaded.network is not first.network
    np.testing.assert_allclose(reloaded.embed(images), vectors, atol=1e-6)


@pytest.mark.parametrize("layout", ["bare", "timm_train", "data_parallel"])
def test_an_operator_timm_checkpoint_gives_the_source_models_embeddings(tmp_path, layout):
    torch.manual_seed(1)
    source = timm.create_model(ARCH, pretrained=False, num_classes=1000).eval()
    state = source.state_dict()
    if layout == "timm_train":
        # What timm's train.py writes: epoch, arch, an argparse Namespace, optimizer-free weights.
        blob = {"epoch": 3, "arch": ARCH, "state_dict": state, "args": argparse.Namespace(lr=0.1, model=ARCH)}
    elif layout == "data_parallel":
        blob = {"model": {f"module.{k}": v for k, v in state.items()}}
    else:
        blob = state
    path = tmp_path / "operator.pth"
    torch.save(blob, path)

    model = ImageModel.load(path, ARCH, CATEGORIES, input_size=SIZE)
    images = _images(3)
    np.testing.assert_allclose(model.embed(images), _pre_logits(source, model.preprocess(images)), atol=1e-5)
    assert model.backbone.startswith(f"timm:{ARCH}@")
    assert "init" not in model.backbone


def test_an_operator_checkpoint_runs_at_timms_resolution_and_normalisation_unless_told_otherwise(tmp_path):
    path = tmp_path / "operator.pth"
    torch.save(timm.create_model(ARCH, pretrained=False).state_dict(), path)
    model = ImageModel.load(path, ARCH, CATEGORIES)
    assert model.input_size == timm.create_model(ARCH, pretrained=False).pretrained_cfg["input_size"][-1] == 224
    assert model.preprocess(_images(1)).shape == (1, 3, 224, 224)
    assert ImageModel.load(path, ARCH, CATEGORIES, input_size=SIZE).input_size == SIZE


def test_a_checkpoint_for_another_architecture_is_refused_with_the_keys_that_do_not_fit(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model(OTHER_ARCH, pretrained=False, num_classes=10).state_dict(), path)
    with pytest.raises(ValueError, match=f"does not fit the {ARCH} architecture") as caught:
        ImageModel.load(path, ARCH, CATEGORIES, input_size=SIZE)
    assert "missing keys" in str(caught.value)
    assert "unexpected keys" in str(caught.value)


def test_a_checkpoint_of_a_wider_variant_is_refused_for_its_shapes(tmp_path):
    path = tmp_path / "wider.pth"
    torch.save(timm.create_model("mobilenetv3_small_075", pretrained=False).state_dict(), path)
    with pytest.raises(ValueError, match="wrong shape keys"):
        ImageModel.load(path, ARCH, CATEGORIES, input_size=SIZE)


def test_a_pickle_that_is_not_only_tensors_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "callback": Path}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        ImageModel.load(path, ARCH, CATEGORIES)


def test_the_project_format_round_trips_weights_size_and_normalisation(tmp_path):
    torch.manual_seed(2)
    source = timm.create_model(ARCH, pretrained=False, num_classes=4).eval()
    path = tmp_path / "backbone.pt"
    sha = save_backbone(source, path, architecture=ARCH, input_size=48, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.25))
    blob = torch.load(path, weights_only=True)
    assert blob["format"] == FORMAT
    assert not any(key.startswith("classifier.") for key in blob["state_dict"])

    model = ImageModel.load(path, ARCH, CATEGORIES)
    assert model.input_size == 48
    assert model.backbone == f"timm:{ARCH}@{sha[:12]}/48"
    batch = model.preprocess(_images(2))
    assert batch.shape == (2, 3, 48, 48)
    expected = (torch.from_numpy(prepare_images(_images(2), source, 48)).permute(0, 3, 1, 2) / 255.0 - 0.4) / 0.2
    # Training prepares pixels with the very transform inference uses (up to uint8 rounding).
    np.testing.assert_allclose(batch[:, 1].numpy(), expected[:, 1].numpy(), atol=1 / 255 / 0.2 + 1e-4)
    np.testing.assert_allclose(model.embed(_images(2)), _pre_logits(source, batch), atol=1e-5)

    with pytest.raises(ValueError, match=f"holds weights for '{ARCH}', not for the requested '{OTHER_ARCH}'"):
        ImageModel.load(path, OTHER_ARCH, CATEGORIES)


# ---- training -----------------------------------------------------------------------------


def _shapes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: a reddish square, class 1: a bluish disc; random place, size and shade, on grey noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.normal(128, 30, (n, 32, 32, 3)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:32, :32]
    for i, label in enumerate(labels):
        radius, cy, cx = rng.integers(6, 11), rng.integers(8, 24), rng.integers(8, 24)
        if label == 0:
            mask = (np.abs(yy - cy) <= radius) & (np.abs(xx - cx) <= radius)
            colour = [rng.integers(160, 256), rng.integers(0, 90), rng.integers(0, 90)]
        else:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
            colour = [rng.integers(0, 90), rng.integers(0, 120), rng.integers(160, 256)]
        images[i][mask] = colour
    return images, labels


def test_training_learns_a_separable_task_and_the_saved_backbone_separates_it(tmp_path):
    images, labels = _shapes(256, seed=0)
    val_images, val_labels = _shapes(128, seed=1)
    seen = []
    model, metrics = train_backbone(
        images,
        labels,
        architecture=ARCH,
        input_size=32,
        epochs=3,
        batch_size=16,
        lr=1e-2,
        seed=2,
        threads=1,
        val_images=val_images,
        val_labels=val_labels,
        progress=seen.append,
    )
    assert [result.epoch for result in seen] == [1, 2, 3]
    assert metrics.val_accuracy >= 0.85, metrics.epochs

    path = tmp_path / "shapes.pt"
    save_backbone(model, path, architecture=ARCH, input_size=32, mean=metrics.mean, std=metrics.std)
    loaded = ImageModel.load(path, ARCH, CATEGORIES)
    vectors = loaded.embed([Image.fromarray(row) for row in val_images])
    centroids = np.stack([vectors[val_labels == c].mean(0) for c in (0, 1)])
    nearest = np.argmax(vectors @ centroids.T, axis=1)
    assert (nearest == val_labels).mean() >= 0.85


def test_training_is_deterministic_for_a_seed():
    images, labels = _shapes(64, seed=3)
    runs = [
        train_backbone(images, labels, architecture=ARCH, input_size=32, epochs=1, batch_size=16, seed=5, threads=1)
        for _ in range(2)
    ]
    first, second = (model.state_dict() for model, _ in runs)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert runs[0][1].epochs[0].loss == runs[1][1].epochs[0].loss


# ---- scores -------------------------------------------------------------------------------


class _FakeHead:
    """The duck-typed interface of classifiers.heads.Head."""

    def __init__(self, categories, dim):
        self.categories = categories
        self.dim = dim

    def predict_proba(self, features):
        return np.tile(np.linspace(0.9, 0.1, len(self.categories)), (len(features), 1))


def test_without_a_head_every_requested_category_comes_from_the_prior():
    model = ImageModel.load(None, ARCH, CATEGORIES, input_size=SIZE)
    images = _images(2)
    predictions = model.predict(model.embed(images), images)
    assert len(predictions) == 2
    for scores in predictions:
        assert list(scores) == SLUGS
        assert all(score.from_prior for score in scores.values())
        assert all(0.0 <= score.probability <= 1.0 for score in scores.values())


def test_categories_covered_by_a_head_come_from_it_and_the_rest_from_the_prior():
    model = ImageModel.load(None, ARCH, CATEGORIES, input_size=SIZE)
    head = _FakeHead(["sexual", "unrequested", "spam"], model.dim)
    images = _images(3)
    embeddings = model.embed(images)
    for predictions in (
        ImageModel.load(None, ARCH, CATEGORIES, input_size=SIZE, head=head).predict(embeddings, images),
        model.predict(embeddings, images, head=head),
    ):
        scores = predictions[0]
        assert list(scores) == SLUGS
        assert scores["sexual"].from_prior is False
        assert scores["sexual"].probability == pytest.approx(0.9)
        assert scores["spam"].from_prior is False
        assert scores["spam"].probability == pytest.approx(0.1)
        assert "unrequested" not in scores
        assert all(scores[slug].from_prior for slug in SLUGS if slug not in {"sexual", "spam"})


def test_a_head_trained_on_another_embedding_space_is_refused():
    model = ImageModel.load(None, ARCH, CATEGORIES, input_size=SIZE)
    with pytest.raises(ValueError, match="expects 384-dimensional features"):
        model.predict(model.embed(_images(1)), _images(1), head=_FakeHead(["spam"], 384))


def test_the_prior_scores_a_skin_toned_image_above_a_blue_one_and_stays_a_weak_prior():
    skin = Image.new("RGB", (64, 64), (224, 172, 140))
    sky = Image.new("RGB", (64, 64), (70, 130, 220))
    blood = Image.new("RGB", (64, 64), (140, 10, 15))
    prior = image_priors.image_prior([skin, sky, blood], ["sexual", "violence", "spam", "new_category"])
    assert image_priors.skin_share(skin) == 1.0
    assert image_priors.skin_share(sky) == 0.0
    assert prior[0]["sexual"] > 0.5 > 0.1 > prior[1]["sexual"]
    assert prior[2]["violence"] > prior[1]["violence"]
    assert max(p for scores in prior for p in scores.values()) <= image_priors.SEXUAL_CAP
    assert prior[0]["spam"] == prior[1]["spam"] == image_priors.BASE_RATES["spam"]
    assert prior[0]["new_category"] == image_priors.DEFAULT_BASE_RATE
