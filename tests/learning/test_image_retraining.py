"""Image retraining runs: reviewer labels on generated images train an image candidate, optionally on a
fine-tuned backbone, measured beside the active image version on the same held-out rows."""

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from audit.models import AuditEvent
from classifiers.fine_tuning import student_is_kept
from classifiers.image_retraining import fine_tune_classes
from classifiers.image_training import save_backbone, train_backbone
from classifiers.inference.image import ImageModel, clear_cache, create_network
from classifiers.models import Embedding, ModelVersion, RetrainingRun
from classifiers.runtime import forget_loaded_models, load_model
from classifiers.services import register_model_version, set_model_version_status
from learning import retraining
from review.claims import claim_next_item
from review.decisions import record_decision
from tests.factories import enqueue, make_item

pytestmark = pytest.mark.django_db

ARCHITECTURE = "mobilenetv3_small_100"
INPUT_SIZE = 64  # small, so a fine-tuning epoch over a few dozen images takes about a second


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.REVIEW_UNDO_SECONDS = 0
    settings.INFERENCE_THREADS = 1
    settings.TRAINING_HELD_OUT_FRACTION = 0.3
    settings.RETRAIN_IMAGE_FINE_TUNE_EPOCHS = 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    forget_loaded_models()
    clear_cache()
    yield
    torch.set_num_threads(threads)


def picture(hateful: bool, seed: int) -> bytes:
    """A noisy 40x40 PNG: blue-dominant for the positive class, green-dominant otherwise.

    ``hate`` has no pixel heuristic in the prior (a constant base rate), so the active version
    cannot rank these images at all and a head trained on labels can.
    """
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 90, size=(40, 40, 3))
    pixels[..., 2 if hateful else 1] += 140
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def small_active_image_version() -> ModelVersion:
    """A 64 px project checkpoint (random weights, no head) made the active image version."""
    network = create_network(ARCHITECTURE, seed=3)
    path = Path(default_storage.location) / "small-backbone.pt"
    save_backbone(network, path, architecture=ARCHITECTURE, input_size=INPUT_SIZE, mean=[0.5] * 3, std=[0.25] * 3)
    version = register_model_version(name="image-small", kind="image", architecture=ARCHITECTURE, backbone_path=path)
    return set_model_version_status(version=version, status="active", actor_label="test")


def label_images(queue, reviewer, *, count: int = 48) -> list:
    """Items with generated images (and a caption), decided through the review service."""
    items = []
    for n in range(count):
        hateful = n % 2 == 0
        data = picture(hateful, n)
        sha = hashlib.sha256(data).hexdigest()
        name = default_storage.save(f"items/{sha}.png", ContentFile(data))
        item = make_item(text=f"caption {n}", image=name, image_sha256=sha, image_format="png")
        enqueue(item, queue)
        claim = claim_next_item(queue=queue, user=reviewer)
        record_decision(
            entry_id=claim.entry_id, token=claim.token, user=reviewer,
            action="remove" if hateful else "no_violation", categories=["hate"] if hateful else [],
        )  # fmt: skip
        items.append(item)
    return items


def image_run() -> RetrainingRun:
    run, created = retraining.start_retraining(trigger="admin", kind="image")
    assert created and run.kind == "image"
    return run


def hate_scores(version: ModelVersion, *, seeds=range(1000, 1006)) -> tuple[list[float], list[float]]:
    """The version's ``hate`` probability for new positive and negative pictures, as a worker scores them."""
    from classifiers.inference import CategoryInfo

    model = load_model(version, [CategoryInfo(slug="hate", description="")])
    scores = {}
    for hateful in (True, False):
        images = [model.decode(picture(hateful, seed)) for seed in seeds]
        rows = model.predict(model.embed(images), images)
        scores[hateful] = [row["hate"].probability for row in rows]
    return scores[True], scores[False]


def test_an_image_run_trains_a_calibrated_candidate_on_the_labelled_images_beside_the_active_version(queue, mira):
    active = small_active_image_version()
    items = label_images(queue, mira)
    # An image that stopped decoding (a damaged file) is left out of training and evaluation, not fatal.
    broken = make_item(text="broken", image=default_storage.save("items/broken.png", ContentFile(b"\x89PNG garbage")))
    enqueue(broken, queue)
    claim = claim_next_item(queue=queue, user=mira)
    record_decision(entry_id=claim.entry_id, token=claim.token, user=mira, action="remove", categories=["hate"])
    run = image_run()

    assert retraining.run_retraining(run_id=run.pk) == "succeeded"

    run.refresh_from_db()
    candidate = run.candidate
    assert run.state == "succeeded" and run.error == "" and candidate.kind == "image"
    assert candidate.name == f"image-retrain-{run.pk}" and candidate.status == "candidate"
    assert "hate" in candidate.categories and candidate.architecture == ARCHITECTURE
    # No fine-tuning: the candidate runs on the active version's backbone, and only a head is new.
    assert candidate.backbone_sha256 == active.backbone_sha256 and len(candidate.artifact_sha256) == 64
    assert len(run.epoch_losses) >= 2 and run.epoch_losses[-1] < run.epoch_losses[0]
    # The images were embedded once with the active backbone and stored for the next run and for scoring.
    space = ImageModel.load(default_storage.path(active.backbone_file.name), ARCHITECTURE, []).backbone
    assert Embedding.objects.filter(item_id__in=[i.pk for i in items], backbone=space).count() == len(items)
    # Candidate and active on the same held-out rows: the prior cannot see this category, the head can.
    held = run.metrics["candidate"]["held_out"]["hate"]
    before = run.metrics["active"]["held_out"]["hate"]
    assert run.metrics["active"]["version"] == "image-small" and run.compared_with == active
    assert held["support"] == before["support"] and held["support"]["positives"] > 0
    assert run.metrics["held_out_rows"] == sum(held["support"].values())
    assert held["f1"] >= 0.8 and held["roc_auc"] >= 0.9
    assert before["roc_auc"] == 0.5  # a constant base rate ranks nothing
    assert candidate.metrics["backbone"] == space and candidate.metrics["fine_tune"] is None
    assert candidate.metrics["unreadable_images"] == 1 and run.snapshot.item_count == len(items) + 1
    assert run.metrics["train_rows"] + run.metrics["held_out_rows"] == len(items)
    # The active version is untouched, and the candidate scores new pictures the way reviewers decided.
    assert ModelVersion.objects.get(kind="image", status="active") == active
    positives, negatives = hate_scores(candidate)
    assert min(positives) > max(negatives)
    assert AuditEvent.objects.filter(action="retraining.succeeded", object_id=str(run.pk)).exists()


def test_the_fine_tuning_option_registers_a_fine_tuned_backbone_with_the_candidate(queue, mira, settings):
    settings.RETRAIN_IMAGE_FINE_TUNE_EPOCHS = 1
    active = small_active_image_version()
    items = label_images(queue, mira, count=40)
    run = image_run()

    assert retraining.run_retraining(run_id=run.pk) == "succeeded"

    run.refresh_from_db()
    candidate = run.candidate
    tuning = candidate.metrics["fine_tune"]
    assert [epoch["epoch"] for epoch in tuning["epochs"]] == [1] and tuning["classes"] == 2
    assert tuning["images"] == run.metrics["train_rows"]
    # A new checkpoint in the project's format, stored where registered backbones go, in a new embedding space.
    assert candidate.backbone_sha256 and candidate.backbone_sha256 != active.backbone_sha256
    assert candidate.backbone_file.name.startswith("models/backbones/")
    tuned = ImageModel.load(default_storage.path(candidate.backbone_file.name), ARCHITECTURE, [])
    assert tuned.input_size == INPUT_SIZE and tuned.backbone != tuning["from_backbone"]
    assert candidate.metrics["backbone"] == tuned.backbone
    assert Embedding.objects.filter(item_id__in=[i.pk for i in items], backbone=tuned.backbone).count() == len(items)
    assert run.metrics["active"]["version"] == active.name
    assert ModelVersion.objects.get(kind="image", status="active") == active
    # Measured beside the active version on the same rows, and still learning what reviewers decided.
    held, before = run.metrics["candidate"]["held_out"]["hate"], run.metrics["active"]["held_out"]["hate"]
    assert held["support"] == before["support"] and held["roc_auc"] >= 0.9 and before["roc_auc"] == 0.5
    # A worker loads the candidate (fine-tuned backbone + head) and ranks new pictures as reviewers would.
    positives, negatives = hate_scores(candidate)
    assert min(positives) > max(negatives)


def test_fine_tuning_starts_from_the_given_backbone_weights():
    base = create_network(ARCHITECTURE, seed=7)
    pixels = np.stack([np.asarray(Image.open(io.BytesIO(picture(n % 2 == 0, n)))) for n in range(16)])
    classes = np.array([n % 2 for n in range(16)])
    common = {"architecture": ARCHITECTURE, "input_size": 32, "epochs": 1, "batch_size": 8, "lr": 1e-7, "threads": 1}
    tuned, _ = train_backbone(pixels, classes, initial_state=base.state_dict(), normalization=([0.5] * 3, [0.25] * 3),
                              **common)  # fmt: skip
    scratch, _ = train_backbone(pixels, classes, **common)
    stem = base.conv_stem.weight
    assert torch.allclose(tuned.conv_stem.weight, stem, atol=1e-4)
    assert not torch.allclose(scratch.conv_stem.weight, stem, atol=1e-2)
    # Frozen BatchNorm statistics stay the backbone's; otherwise they are re-estimated on the images.
    frozen, _ = train_backbone(pixels, classes, initial_state=base.state_dict(), freeze_batchnorm=True, **common)
    assert torch.equal(frozen.bn1.running_mean, base.bn1.running_mean)
    assert not torch.allclose(tuned.bn1.running_mean, base.bn1.running_mean)


def test_fine_tuning_classes_take_the_rarest_positive_category():
    labels = np.array([[1, 1], [1, 0], [0, 0], [-1, -1], [1, -1], [0, 1]])
    # column 1 has fewer positives (2) than column 0 (3), so it wins where both are positive.
    assert fine_tune_classes(labels).tolist() == [2, 1, 0, 0, 1, 2]


def test_an_image_run_without_labelled_images_fails_and_says_so(queue, mira):
    item = make_item(text="text only")
    enqueue(item, queue)
    claim = claim_next_item(queue=queue, user=mira)
    record_decision(entry_id=claim.entry_id, token=claim.token, user=mira, action="remove", categories=["spam"])
    versions = ModelVersion.objects.count()
    run = image_run()
    assert retraining.run_retraining(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert "no labelled items with an image" in run.error and ModelVersion.objects.count() == versions


def test_triggers_start_an_image_run_only_when_images_were_labelled(queue, mira, settings):
    settings.RETRAIN_AFTER_LABELS = 10
    label_images(queue, mira, count=2)  # 14 labels, all on items with an image
    assert retraining.new_labels_since_last_run("image") == 14
    retraining.retrain_if_enough_new_labels()
    assert sorted(RetrainingRun.objects.values_list("kind", "trigger")) == [("image", "labels"), ("text", "labels")]
    event = AuditEvent.objects.get(
        action="retraining.requested", object_id=str(RetrainingRun.objects.get(kind="image").pk)
    )
    assert event.after == {"trigger": "labels", "kind": "image"}
    # One open run per kind: a second trigger starts nothing new.
    again, created = retraining.start_retraining(trigger="admin", kind="image")
    assert not created and again.kind == "image"


def test_staged_fine_tuning_reports_its_stages_and_registers_the_stage_the_validation_split_chose(
    queue, mira, settings, monkeypatch
):
    settings.RETRAIN_IMAGE_FINE_TUNE_SECONDS = 8
    settings.RETRAIN_IMAGE_FINE_TUNE_THREADS = 1
    settings.RETRAIN_IMAGE_FINE_TUNE_EPOCHS = 2
    # The regularisation options travel from the settings to the schedule and are recorded with the candidate
    # (values other than the defaults, so a setting that is not read fails).
    settings.RETRAIN_IMAGE_FINE_TUNE_ALL_LR = 5e-4
    settings.RETRAIN_IMAGE_FINE_TUNE_ERASE = 0.3
    settings.RETRAIN_IMAGE_FINE_TUNE_MIXUP = 0.4
    settings.RETRAIN_IMAGE_FINE_TUNE_REFIT_ON_ALL = True
    lines: list[str] = []
    beat = retraining._Heartbeat.beat

    def seen_beat(self, stage: str, **fields) -> None:  # the real heartbeat, remembering each stage line
        lines.append(stage)
        beat(self, stage, **fields)

    monkeypatch.setattr(retraining._Heartbeat, "beat", seen_beat)
    active = small_active_image_version()
    label_images(queue, mira, count=40)
    run = image_run()

    assert retraining.run_retraining(run_id=run.pk) == "succeeded"

    run.refresh_from_db()
    candidate = run.candidate
    schedule = candidate.metrics["fine_tune"]["schedule"]
    stages = {stage["stage"]: stage for stage in schedule["stages"]}
    assert list(stages) == ["frozen", "last_blocks", "all"]
    best = max(stage["val_accuracy"] for stage in stages.values())
    assert schedule["chosen"] == next(name for name, stage in stages.items() if stage["val_accuracy"] == best)
    assert schedule["train_images"] + schedule["val_images"] == run.metrics["train_rows"]
    options = schedule["options"]
    assert (options["all_lr"], options["erase"], options["mixup"], options["lr"]) == (5e-4, 0.3, 0.4, 1e-3)
    assert options["refit_on_all"] is True and schedule["refit_on_all"] is True
    assert sum(stage["cpu_seconds"] for stage in stages.values()) < 8 + 8
    assert "fine-tuning the backbone (last blocks): epoch 1, loss " in " ".join(lines)
    assert "fine-tuning the backbone (all): epoch 1, loss " in " ".join(lines)
    same_backbone = candidate.backbone_sha256 == active.backbone_sha256
    assert same_backbone == (schedule["chosen"] == "frozen")


def test_when_the_frozen_head_wins_the_candidate_keeps_the_active_backbone(queue, mira, settings):
    settings.RETRAIN_IMAGE_FINE_TUNE_SECONDS = 0.001  # no fine-tuning step fits: the fresh classifier cannot win
    settings.RETRAIN_IMAGE_FINE_TUNE_THREADS = 1
    active = small_active_image_version()
    label_images(queue, mira, count=40)
    run = image_run()

    assert retraining.run_retraining(run_id=run.pk) == "succeeded"

    run.refresh_from_db()
    schedule = run.candidate.metrics["fine_tune"]["schedule"]
    assert schedule["chosen"] == "frozen" and [s["stage"] for s in schedule["stages"]][0] == "frozen"
    assert run.candidate.backbone_sha256 == active.backbone_sha256
    assert run.candidate.metrics["backbone"] == run.candidate.metrics["active"]["backbone"]


def test_self_training_pseudo_labels_the_unlabelled_stored_images_and_records_what_it_kept(
    queue, mira, settings, monkeypatch
):
    settings.RETRAIN_IMAGE_FINE_TUNE_SECONDS = 10
    settings.RETRAIN_IMAGE_FINE_TUNE_THREADS = 1
    settings.RETRAIN_IMAGE_FINE_TUNE_EPOCHS = 2
    settings.RETRAIN_IMAGE_SELF_TRAIN_POOL = 100
    settings.RETRAIN_IMAGE_SELF_TRAIN_CONFIDENCE = 0.5  # two classes: every prediction is at least that sure
    settings.RETRAIN_IMAGE_SELF_TRAIN_SHARE = 0.5
    lines: list[str] = []
    beat = retraining._Heartbeat.beat

    def seen_beat(self, stage: str, **fields) -> None:
        lines.append(stage)
        beat(self, stage, **fields)

    monkeypatch.setattr(retraining._Heartbeat, "beat", seen_beat)
    small_active_image_version()
    labelled = label_images(queue, mira, count=32)
    for n in range(12):  # images the platform was sent and nobody labelled
        data = picture(n % 2 == 0, 500 + n)
        sha = hashlib.sha256(data).hexdigest()
        make_item(text=f"unlabelled {n}", image=default_storage.save(f"items/{sha}.png", ContentFile(data)))
    broken = default_storage.save("items/broken.png", ContentFile(b"\x89PNG\r\n\x1a\n not an image"))
    make_item(text="unlabelled, gone bad", image=broken)
    make_item(text="no image at all")
    run = image_run()

    assert retraining.run_retraining(run_id=run.pk) == "succeeded"

    run.refresh_from_db()
    schedule = run.candidate.metrics["fine_tune"]["schedule"]
    info = schedule["self_training"]
    assert (info["pool"], info["pseudo_labelled"], info["undecodable"]) == (13, 13, 1)
    assert 0 < info["kept"] <= 12 and info["confidence"] == 0.5
    stages = {stage["stage"]: stage for stage in schedule["stages"]}
    assert list(stages) == ["frozen", "last_blocks", "all", "self_trained"]
    teachers = {name: stage["val_accuracy"] for name, stage in stages.items() if name != "self_trained"}
    assert info["teacher"] == max(teachers, key=teachers.get)  # the best stage teaches (the earlier on a tie)
    # The student stays unless the validation images only one of the two got right favour the teacher beyond chance.
    only = info["validation_only_right"]
    assert schedule["chosen"] == (
        "self_trained" if student_is_kept(only["teacher"], only["student"]) else info["teacher"]
    )
    assert schedule["options"]["self_train_share"] == 0.5
    assert "self-training: pseudo-labelled 13 of 13 unlabelled images" in lines
    assert any(line.startswith("fine-tuning the backbone (self trained): epoch 1, loss ") for line in lines)
    assert len(labelled) == 32


def test_the_unlabelled_pool_is_the_most_recent_stored_images_outside_the_labelled_items(settings, tmp_path):
    from learning.training_data import unlabelled_stored_images

    items = [make_item(text=f"item {n}", image=f"items/{n}.png") for n in range(6)]
    make_item(text="no image")
    labelled = {items[5].pk, items[3].pk}
    assert unlabelled_stored_images(3, labelled) == [(i.pk, i.image.name) for i in (items[4], items[2], items[1])]
    assert unlabelled_stored_images(10, labelled) == [
        (i.pk, i.image.name) for i in (items[4], items[2], items[1], items[0])
    ]
    assert unlabelled_stored_images(0, labelled) == []
