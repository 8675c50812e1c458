"""The admin's table from ImageNet classes to priors: validated rows, a cached table cleared on save, used by scoring.

The backbone is the packaged EfficientNet-Lite0 (installed by the real command); the photo is the CC0
scikit-image coffee cup in ``bench/photos``, which the backbone calls "espresso" (class 967) with ~0.9.
"""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from classifiers import imagenet_prior, imagenet_table, packaged_weights, runtime
from classifiers.inference.image import clear_cache
from classifiers.models import ImageNetClassPrior, PolicyCategory, Score
from classifiers.weights_files import WeightsFileError
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]

PHOTOS = Path(__file__).resolve().parents[2] / "bench" / "photos"
ESPRESSO = 967


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    runtime.forget_loaded_models()
    clear_cache()
    imagenet_table.cache.delete(imagenet_table.CACHE_KEY)
    yield
    runtime.forget_loaded_models()
    clear_cache()
    imagenet_table.cache.delete(imagenet_table.CACHE_KEY)


@pytest.fixture
def admin_client(client, db):
    user = make_user(is_staff=True)
    user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


def _coffee() -> str:
    buffer = io.BytesIO()
    Image.open(PHOTOS / "coffee.jpg").save(buffer, format="PNG")
    return default_storage.save("items/coffee.png", ContentFile(buffer.getvalue()))


def _spam_score(item_id: int) -> Score:
    return Score.objects.get(item_id=item_id, category__slug="spam", model_version__status="active")


def _row_form(policy: PolicyCategory, **fields) -> dict:
    return {"imagenet_index": ESPRESSO, "category": policy.pk, "weight": 1.0, "cap": 0.8, "is_active": "on"} | fields


@pytest.mark.django_db(transaction=True)
def test_adding_and_editing_a_row_in_the_admin_changes_the_prior_on_the_next_score(admin_client, caplog):
    call_command("install_pretrained_backbone", activate=True)
    spec = packaged_weights.EFFICIENTNET_LITE0
    assert imagenet_prior.classifier_file(spec).exists()  # kept beside the ONNX export, for torch-free workers
    imagenet_prior._loaded.clear()
    assert runtime.preload_models() >= 2
    assert spec.sha256 in imagenet_prior._loaded  # loaded when the worker starts: the first image does not wait
    kept, good = imagenet_prior.classifier_file(spec), imagenet_prior.classifier_file(spec).read_bytes()
    try:  # a damaged kept file is named in the log; the versions still load (text scores; images fail, naming it)
        kept.write_bytes(b"damaged")
        imagenet_prior._loaded.clear()
        runtime.forget_loaded_models()
        with caplog.at_level("ERROR"):
            assert runtime.preload_models() >= 2
        assert kept.name in caplog.text and "not a kept ImageNet classifier" in caplog.text
    finally:
        kept.write_bytes(good)
        imagenet_prior._loaded.clear()
    spam = PolicyCategory.objects.get(slug="spam")
    image = _coffee()

    runtime.score_contents([runtime.Content(item_id=1, image_name=image)])
    before = _spam_score(1)
    assert before.from_prior and before.prior_source == "base rate" and before.probability < 0.1

    response = admin_client.post(reverse("admin:classifiers_imagenetclassprior_add"), _row_form(spam))
    assert response.status_code == 302, response.content.decode()[:2000]
    runtime.score_contents([runtime.Content(item_id=2, image_name=image)])
    raised = _spam_score(2)
    assert raised.prior_source == "ImageNet: espresso" and raised.from_prior
    assert 0.6 < raised.probability <= 0.8  # weight 1 x p(espresso) ~0.9, capped at 0.8

    row = ImageNetClassPrior.objects.get(imagenet_index=ESPRESSO, category=spam)
    response = admin_client.post(
        reverse("admin:classifiers_imagenetclassprior_change", args=[row.pk]), _row_form(spam, weight=0.2)
    )
    assert response.status_code == 302
    runtime.score_contents([runtime.Content(item_id=3, image_name=image)])
    lowered = _spam_score(3)
    assert lowered.prior_source == "ImageNet: espresso"
    assert 0.1 < lowered.probability < 0.2 < raised.probability  # 0.2 x ~0.9

    admin_client.post(reverse("admin:classifiers_imagenetclassprior_delete", args=[row.pk]), {"post": "yes"})
    runtime.score_contents([runtime.Content(item_id=4, image_name=image)])
    assert _spam_score(4).prior_source == "base rate"


@pytest.mark.django_db
def test_bad_rows_are_refused_with_the_field_and_the_reason_named(admin_client):
    spam = PolicyCategory.objects.get(slug="spam")
    count = ImageNetClassPrior.objects.count()
    add = reverse("admin:classifiers_imagenetclassprior_add")
    page = admin_client.post(add, _row_form(spam, imagenet_index=1000, weight=1.5, cap=0.95)).content.decode()
    assert "ImageNet-1k has classes 0-999; 1000 is not one of them." in page
    assert "between 0 and 1; got 1.5" in page
    assert "The cap must be between 0 and 0.9" in page
    page = admin_client.post(add, _row_form(spam, category=999_999)).content.decode()
    assert "Select a valid choice" in page
    admin_client.post(add, _row_form(spam))
    page = admin_client.post(add, _row_form(spam)).content.decode()  # the same class twice for one category
    assert "already exists" in page
    assert ImageNetClassPrior.objects.count() == count + 1


@pytest.mark.django_db
def test_the_seeded_table_maps_weapons_swimwear_and_syringes_and_names_their_classes():
    seeded = {(row.imagenet_index, row.category.slug) for row in ImageNetClassPrior.objects.select_related("category")}
    assert {(413, "violence"), (763, "violence"), (845, "self_harm"), (445, "sexual")} <= seeded
    names = imagenet_table.class_names()
    assert len(names) == 1000 and names[413] == "assault rifle" and names[845] == "syringe" and names[445] == "bikini"


def test_rows_of_a_category_add_up_to_the_largest_cap_and_name_the_strongest_class():
    probs = np.zeros((2, 1000))
    probs[0, [413, 763, 764]] = [0.3, 0.3, 0.2]  # a gun, its probability spread over three classes
    probs[1, 967] = 0.9
    rows = [
        imagenet_table.PriorRow(413, "violence", 1.0, 0.5),
        imagenet_table.PriorRow(763, "violence", 1.0, 0.5),
        imagenet_table.PriorRow(764, "violence", 0.5, 0.05),
        imagenet_table.PriorRow(967, "spam", 0.5, 0.3),
    ]
    first, second = imagenet_table.category_priors(probs, rows, ["violence", "spam"])
    assert first["violence"] == (pytest.approx(0.5), "assault rifle")  # 0.3 + 0.3 + 0.05, capped at 0.5
    assert first["spam"][0] == 0.0 and second["violence"][0] == 0.0
    assert second["spam"] == (pytest.approx(0.3), "espresso")  # 0.5 x 0.9 = 0.45, capped at 0.3
    only = imagenet_table.category_priors(probs, rows[:1], ["violence"])[0]["violence"][0]
    assert only == pytest.approx(0.3)


def test_the_classifier_applies_only_to_the_unchanged_packaged_backbone():
    spec = packaged_weights.EFFICIENTNET_LITE0
    provenance = {**spec.source(), "converted_sha256": "c" * 64}
    assert imagenet_prior.packaged_spec(provenance, "c" * 64) is spec
    assert imagenet_prior.packaged_spec(provenance, "f" * 64) is None  # fine-tuned: another backbone file
    assert imagenet_prior.packaged_spec({}, "c" * 64) is None  # an operator's checkpoint
    classifier = imagenet_prior.load_classifier(spec)
    e = np.random.default_rng(0).normal(size=(3, 1280)).astype(np.float32)
    p = classifier.probabilities(e / np.linalg.norm(e, axis=1, keepdims=True))
    assert p.shape == (3, 1000) and np.allclose(p.sum(axis=1), 1.0)


KEPT_CLASSIFIER_PROCESS = """
import json, os, sys
from pathlib import Path
import django
import numpy as np
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")
django.setup()
from classifiers import imagenet_prior, packaged_weights
classifier = imagenet_prior.load_classifier(packaged_weights.EFFICIENTNET_LITE0, cache_dir=Path(sys.argv[1]))
e = np.ones((1, 1280), dtype=np.float32) / np.sqrt(1280)
print(json.dumps({"torch": "torch" in sys.modules, "timm": "timm" in sys.modules,
                  "top": int(classifier.probabilities(e).argmax())}))
"""


def test_the_classifier_is_kept_as_npz_and_read_back_without_torch(tmp_path, monkeypatch):
    spec = packaged_weights.EFFICIENTNET_LITE0
    monkeypatch.setattr(imagenet_prior, "_loaded", {})
    made = imagenet_prior.load_classifier(spec, cache_dir=tmp_path)  # no kept file: read with torch, then kept
    kept = imagenet_prior.classifier_file(spec, tmp_path)
    assert kept.exists() and kept.name == f"imagenet-classifier-{spec.sha256[:16]}.npz"
    monkeypatch.setattr(imagenet_prior, "_loaded", {})
    again = imagenet_prior.load_classifier(spec, cache_dir=tmp_path)
    np.testing.assert_array_equal(made.weight, again.weight)
    np.testing.assert_array_equal(made.bias, again.bias)
    assert made.weight.shape == (1000, 1280) and made.weight.dtype == np.float32

    done = subprocess.run([sys.executable, "-c", KEPT_CLASSIFIER_PROCESS, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    e = np.ones((1, 1280), dtype=np.float32) / np.sqrt(1280)
    assert result == {"torch": False, "timm": False, "top": int(made.probabilities(e).argmax())}


def test_a_damaged_kept_classifier_is_refused_naming_the_file(tmp_path, monkeypatch):
    spec = packaged_weights.EFFICIENTNET_LITE0
    kept = imagenet_prior.classifier_file(spec, tmp_path)
    cases = {
        "not a kept ImageNet classifier": lambda: kept.write_bytes(b"garbage"),
        r"weight \(10, 1280\)": lambda: np.savez(kept, weight=np.zeros((10, 1280)), bias=np.zeros(1000)),
        "NaN or infinite": lambda: np.savez(kept, weight=np.full((1000, 1280), np.nan), bias=np.zeros(1000)),
    }
    for reason, damage in cases.items():
        monkeypatch.setattr(imagenet_prior, "_loaded", {})
        damage()
        with pytest.raises(WeightsFileError, match=rf"{kept.name}.*{reason}"):
            imagenet_prior.load_classifier(spec, cache_dir=tmp_path)
