"""The model registry: one active version per kind, audited status changes."""

import hashlib

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from classifiers.models import ModelVersion
from classifiers.services import RegistryError, register_model_version, set_model_version_status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_each_kind_starts_with_an_active_prior_only_version():
    active = {v.kind: v for v in ModelVersion.objects.filter(status="active")}
    assert set(active) == {"text", "image"}
    assert all(v.is_prior_only for v in active.values())


def test_registering_stores_the_artifact_with_its_hash_and_audits(tmp_path):
    artifact = tmp_path / "head.pt"
    artifact.write_bytes(b"weights")
    version = register_model_version(
        name="text-1", kind="text", architecture="all-MiniLM-L6-v2", artifact_path=artifact, categories=["spam"]
    )
    assert version.status == "candidate"
    assert version.artifact_sha256 == hashlib.sha256(b"weights").hexdigest()
    assert version.artifact.read() == b"weights"
    assert AuditEvent.objects.filter(action="model_version.registered", object_id=str(version.pk)).exists()
    with pytest.raises(RegistryError, match="already exists"):
        register_model_version(name="text-1", kind="text", architecture="x")


def test_promoting_retires_the_previous_active_version_and_writes_both_events():
    previous = ModelVersion.objects.get(kind="text", status="active")
    candidate = register_model_version(name="text-2", kind="text", architecture="all-MiniLM-L6-v2")
    set_model_version_status(version=candidate, status="active")
    previous.refresh_from_db()
    candidate.refresh_from_db()
    assert (previous.status, candidate.status) == ("retired", "active")
    assert candidate.activated_at is not None
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"model_version.promoted", "model_version.retired"} <= actions


def test_the_database_refuses_two_active_versions_of_one_kind():
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.create(name="rogue", kind="text", architecture="x", status="active")


def test_the_active_version_cannot_be_demoted_without_a_successor():
    active = ModelVersion.objects.get(kind="image", status="active")
    with pytest.raises(RegistryError, match="promote another version"):
        set_model_version_status(version=active, status="retired")
    active.refresh_from_db()
    assert active.status == "active"


def test_the_promote_command_names_unknown_versions():
    with pytest.raises(CommandError, match="No model version named 'nope'"):
        call_command("promote_model", "nope")
    register_model_version(name="img-2", kind="image", architecture="mobilenetv3_small_100")
    call_command("promote_model", "img-2")
    assert ModelVersion.objects.get(name="img-2").status == "active"


def test_an_operator_timm_checkpoint_is_registered_as_an_image_backbone(tmp_path):
    import timm
    import torch

    source = timm.create_model("resnet10t", pretrained=False, num_classes=10)
    checkpoint = tmp_path / "operator.pth"
    torch.save({"state_dict": source.state_dict()}, checkpoint)
    call_command(
        "register_image_backbone", checkpoint=checkpoint, architecture="resnet10t", name="img-op", activate=True
    )
    version = ModelVersion.objects.get(name="img-op")
    assert version.status == "active" and version.backbone_sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    with pytest.raises(CommandError, match="does not load into mobilenetv3_small_100"):
        call_command("register_image_backbone", checkpoint=checkpoint, architecture="mobilenetv3_small_100", name="x")
    assert not ModelVersion.objects.filter(name="x").exists()
