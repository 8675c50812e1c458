"""Rolling back a model in one step: the earlier version is active again, audited, and items are re-routed."""

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from classifiers.models import ModelVersion
from classifiers.services import (
    RegistryError,
    previous_active_version,
    register_model_version,
    roll_back_model_version,
    set_model_version_status,
)
from classifiers.signals import model_version_activated
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def activations():
    seen = []

    def receiver(sender, version_id, kind, **kwargs):
        seen.append((version_id, kind))

    model_version_activated.connect(receiver, dispatch_uid="test-rollback")
    yield seen
    model_version_activated.disconnect(dispatch_uid="test-rollback")


def test_rolling_back_restores_the_earlier_version_and_writes_audit_events(
    activations, django_capture_on_commit_callbacks
):
    earlier = ModelVersion.objects.get(kind="text", status="active")
    newer = register_model_version(name="text-2", kind="text", architecture="all-MiniLM-L6-v2")
    set_model_version_status(version=newer, status="active")
    assert previous_active_version(kind="text") == earlier
    admin = make_user(is_staff=True)

    with django_capture_on_commit_callbacks(execute=True):
        restored = roll_back_model_version(kind="text", actor=admin)

    earlier.refresh_from_db()
    newer.refresh_from_db()
    assert restored == earlier and (earlier.status, newer.status) == ("active", "retired")
    events = {e.action: e for e in AuditEvent.objects.filter(actor=admin)}
    assert {"model_version.rolled_back", "model_version.promoted", "model_version.retired"} <= set(events)
    assert events["model_version.rolled_back"].after == {"active": earlier.name, "retired": newer.name}
    assert events["model_version.retired"].object_id == str(newer.pk)
    # Like any activation, it tells the queues to re-route pending items.
    assert (earlier.pk, "text") in activations


def test_rolling_back_twice_returns_to_the_version_rolled_back_from():
    newer = register_model_version(name="text-2", kind="text", architecture="all-MiniLM-L6-v2")
    set_model_version_status(version=newer, status="active")
    roll_back_model_version(kind="text")
    assert roll_back_model_version(kind="text") == newer


def test_there_is_nothing_to_roll_back_to_before_a_second_version_was_active():
    current = ModelVersion.objects.get(kind="image", status="active")
    with pytest.raises(RegistryError, match="No earlier active image version"):
        roll_back_model_version(kind="image")
    current.refresh_from_db()
    assert current.status == "active"
    assert not AuditEvent.objects.filter(action="model_version.rolled_back").exists()


def test_the_rollback_command_rolls_back_and_names_failures():
    with pytest.raises(CommandError, match="No earlier active image version"):
        call_command("rollback_model", "image")
    earlier = ModelVersion.objects.get(kind="image", status="active")
    newer = register_model_version(name="img-2", kind="image", architecture="mobilenetv3_small_100")
    call_command("promote_model", "img-2")
    call_command("rollback_model", "image")
    assert ModelVersion.objects.get(kind="image", status="active") == earlier
    assert ModelVersion.objects.get(pk=newer.pk).status == "retired"
    assert AuditEvent.objects.get(action="model_version.rolled_back").actor_label == "manage.py rollback_model"


def test_the_admin_rolls_back_in_one_action(client):
    earlier = ModelVersion.objects.get(kind="text", status="active")
    newer = register_model_version(name="text-2", kind="text", architecture="all-MiniLM-L6-v2")
    set_model_version_status(version=newer, status="active")
    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    response = client.post(
        "/admin/classifiers/modelversion/", {"action": "roll_back", "_selected_action": [newer.pk]}, follow=True
    )
    assert response.status_code == 200
    assert ModelVersion.objects.get(kind="text", status="active") == earlier
    assert AuditEvent.objects.filter(action="model_version.rolled_back", actor=admin).exists()
    page = client.get(f"/admin/classifiers/modelversion/{earlier.pk}/change/").content.decode()
    assert f'href="/models/{earlier.pk}/"' in page


def test_staff_who_may_only_view_model_versions_can_neither_promote_nor_roll_back_in_the_admin(client):
    earlier = ModelVersion.objects.get(kind="text", status="active")
    newer = register_model_version(name="text-2", kind="text", architecture="all-MiniLM-L6-v2")
    viewer = make_user(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_modelversion"))
    client.force_login(viewer)
    assert client.get("/admin/classifiers/modelversion/").status_code == 200  # may see the registry

    for action in ("promote", "roll_back", "shadow", "retire", "make_candidate"):
        client.post("/admin/classifiers/modelversion/", {"action": action, "_selected_action": [newer.pk]})
        earlier.refresh_from_db()
        newer.refresh_from_db()
        assert (action, earlier.status, newer.status) == (action, "active", "candidate")
    assert not AuditEvent.objects.filter(actor=viewer).exists()
