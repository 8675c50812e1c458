"""Writes to the model registry. Every status change writes an audit event in the same transaction."""

import hashlib
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from classifiers.models import ModelVersion
from classifiers.signals import model_version_activated
from webhooks.services import emit


class RegistryError(ValueError):
    """A registry change that is not allowed; the message says why."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _store_model_file(path: Path, sha256: str, folder: str) -> str:
    name = f"models/{folder}/{sha256[:16]}{path.suffix or '.pt'}"
    if not default_storage.exists(name):
        with path.open("rb") as handle:
            name = default_storage.save(name, File(handle))
    return name


def register_model_version(
    *,
    name: str,
    kind: str,
    architecture: str,
    artifact_path: Path | None = None,
    backbone_path: Path | None = None,
    categories: list[str] | None = None,
    metrics: dict | None = None,
    training_snapshot: str = "",
    notes: str = "",
    provenance: dict | None = None,
    actor: AbstractBaseUser | None = None,
) -> ModelVersion:
    """Store a model's files (content-addressed) and register it as a candidate.

    ``provenance`` records where pretrained weights came from (package, version, file, sha256).
    """
    if ModelVersion.objects.filter(name=name).exists():
        raise RegistryError(f"A model version named {name!r} already exists.")
    version = ModelVersion(
        name=name,
        kind=kind,
        architecture=architecture,
        categories=categories or [],
        metrics=metrics or {},
        training_snapshot=training_snapshot,
        notes=notes,
        provenance=provenance or {},
    )
    if artifact_path is not None:
        version.artifact_sha256 = file_sha256(artifact_path)
        version.artifact.name = _store_model_file(artifact_path, version.artifact_sha256, "heads")
    if backbone_path is not None:
        version.backbone_sha256 = file_sha256(backbone_path)
        version.backbone_file.name = _store_model_file(backbone_path, version.backbone_sha256, "backbones")
    with transaction.atomic():
        version.save()
        record_event(action="model_version.registered", target=version, actor=actor, after=_snapshot(version))
    return version


def set_model_version_status(
    *, version: ModelVersion, status: str, actor: AbstractBaseUser | None = None, actor_label: str = ""
) -> ModelVersion:
    """Move a version to ``status``. Activating one retires the kind's previous active version."""
    if status not in ModelVersion.Status.values:
        raise RegistryError(f"Unknown status {status!r}; use one of {', '.join(ModelVersion.Status.values)}.")
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        before = _snapshot(version)
        if status == ModelVersion.Status.ACTIVE and version.status != ModelVersion.Status.ACTIVE:
            for previous in ModelVersion.objects.select_for_update().filter(
                kind=version.kind, status=ModelVersion.Status.ACTIVE
            ):
                previous_before = _snapshot(previous)
                previous.status = ModelVersion.Status.RETIRED
                previous.save(update_fields=["status"])
                record_event(
                    action="model_version.retired",
                    target=previous,
                    actor=actor,
                    actor_label=actor_label,
                    before=previous_before,
                    after=_snapshot(previous),
                )
            version.activated_at = timezone.now()
            emit(event_type="model.promoted", payload=_promoted_payload(version, actor=actor, actor_label=actor_label))
        elif version.status == ModelVersion.Status.ACTIVE and status != ModelVersion.Status.ACTIVE:
            raise RegistryError(
                "The active version cannot be demoted directly: promote another version of the same kind instead."
            )
        version.status = status
        version.save(update_fields=["status", "activated_at"])
        action = "model_version.promoted" if status == ModelVersion.Status.ACTIVE else f"model_version.{status}"
        record_event(
            action=action, target=version, actor=actor, actor_label=actor_label, before=before, after=_snapshot(version)
        )
        if status == ModelVersion.Status.ACTIVE:
            # robust: the promotion has committed; a receiver that fails (its broker down) is logged, not an error
            # page telling the admin it did not happen (as for the account risk versions, accounts.risk_versions).
            transaction.on_commit(
                lambda: model_version_activated.send(sender=ModelVersion, version_id=version.pk, kind=version.kind),
                robust=True,
            )
    return version


def previous_active_version(*, kind: str) -> ModelVersion | None:
    """The version that was active before the current one: the retired one of ``kind`` activated last."""
    current = ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.ACTIVE).first()
    earlier = ModelVersion.objects.filter(
        kind=kind, status=ModelVersion.Status.RETIRED, activated_at__isnull=False
    ).order_by("-activated_at", "-pk")
    if current is not None and current.activated_at is not None:
        earlier = earlier.filter(activated_at__lt=current.activated_at)
    return earlier.first()


def roll_back_model_version(*, kind: str, actor: AbstractBaseUser | None = None, actor_label: str = "") -> ModelVersion:
    """Re-activate the previously active version of ``kind`` and retire the current one, in one step.

    Writes ``model_version.rolled_back`` besides the promote/retire events, and re-routes pending
    items like any activation (``model_version_activated`` after commit). Rolling back twice
    returns to the version rolled back from: each activation becomes the latest.
    """
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(kind=kind, status=ModelVersion.Status.ACTIVE).first()
        previous = previous_active_version(kind=kind)
        if previous is None:
            raise RegistryError(f"No earlier active {kind} version to roll back to.")
        restored = set_model_version_status(
            version=previous, status=ModelVersion.Status.ACTIVE, actor=actor, actor_label=actor_label
        )
        record_event(
            action="model_version.rolled_back",
            target=restored,
            actor=actor,
            actor_label=actor_label,
            before={"active": current.name if current else None},
            after={"active": restored.name, "retired": current.name if current else None},
        )
    return restored


def _promoted_payload(version: ModelVersion, *, actor: AbstractBaseUser | None, actor_label: str) -> dict:
    """The ``model.promoted`` webhook: which version now scores items of its kind, since when, on whose word."""
    return {
        "model_version_id": version.pk,
        "name": version.name,
        "kind": version.kind,
        "architecture": version.architecture,
        "activated_at": version.activated_at,
        "promoted_by": actor_label or (actor.get_username() if actor is not None else "system"),
    }


def _snapshot(version: ModelVersion) -> dict:
    return {
        "name": version.name,
        "kind": version.kind,
        "status": version.status,
        "architecture": version.architecture,
        "artifact_sha256": version.artifact_sha256,
        "backbone_sha256": version.backbone_sha256,
        "categories": version.categories,
    }
