"""The experiments API: arms compared with intervals, start/stop A/B, shadow, promote, roll back; scopes; bad input."""

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from classifiers.models import Experiment, ModelVersion
from queues.experiment_arms import arm_of
from queues.models import Decision, QueueEntry
from tests.factories import make_item, make_token, make_user

pytestmark = pytest.mark.django_db


def client_with(*scopes: str, user=None) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=list(scopes), user=user or make_user())[1]}")
    return client


@pytest.fixture
def admin_api():
    return client_with("admin", user=make_user(username="ops"))


@pytest.fixture
def candidate():
    return ModelVersion.objects.create(name="text-retrain-9", kind="text", architecture="all-MiniLM-L6-v2")


def test_an_admin_starts_an_ab_experiment_and_it_is_audited(admin_api, candidate):
    response = admin_api.post("/api/v1/experiments", {"candidate": candidate.pk, "share": 0.25}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    experiment = Experiment.objects.get()
    assert body["id"] == experiment.pk and body["running"] and body["share"] == 0.25 and body["kind"] == "text"
    assert body["candidate"] == {"id": candidate.pk, "name": "text-retrain-9", "status": "shadow"}
    assert body["control"]["name"] == "text-prior"
    assert body["comparison"]["a"]["items"] == 0 and body["comparison"]["differences"]["removal_rate"]["value"] is None
    event = AuditEvent.objects.get(action="experiment.started")
    assert event.actor.username == "ops" and event.object_id == str(experiment.pk)


@pytest.mark.parametrize(
    ("payload", "status", "code", "field", "message"),
    [
        # A well-formed request naming what is not there is a 404, one the models' state refuses a 409: the
        # schema cannot tell a client either in advance (schemathesis found them answered 400).
        ({"candidate": 999_999, "share": 0.2}, 404, "not_found", "candidate", "No model version with id 999999."),
        ({"share": 0.2}, 400, "invalid", "candidate", "This field is required."),
        ({"candidate": "CANDIDATE", "share": 1.0}, 400, "invalid", "share", "share must be between 0 and 1"),
        ({"candidate": "CANDIDATE", "share": 0}, 400, "invalid", "share", "share must be between 0 and 1"),
        ({"candidate": "CANDIDATE", "share": "lots"}, 400, "invalid", "share", "A valid number is required."),
        ({"candidate": "ACTIVE", "share": 0.2}, 409, "conflict", "candidate", "already the active version"),
        ({"candidate": "CANDIDATE", "share": 0.2, "sahre": 0.3}, 400, "invalid", "sahre", "Unknown field."),
    ],
)
def test_bad_start_requests_name_the_field(admin_api, candidate, payload, status, code, field, message):
    ids = {"CANDIDATE": candidate.pk, "ACTIVE": ModelVersion.objects.get(kind="text", status="active").pk}
    payload = {key: ids.get(value, value) if isinstance(value, str) else value for key, value in payload.items()}
    response = admin_api.post("/api/v1/experiments", payload, format="json")
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and field in body["errors"] and message in body["errors"][field][0]
    assert not Experiment.objects.exists()
    candidate.refresh_from_db()
    assert candidate.status == "candidate"


def test_a_second_experiment_of_the_same_kind_is_refused_until_the_first_stops(admin_api, candidate):
    other = ModelVersion.objects.create(name="text-retrain-10", kind="text", architecture="all-MiniLM-L6-v2")
    first = admin_api.post("/api/v1/experiments", {"candidate": candidate.pk, "share": 0.2}, format="json").json()
    refused = admin_api.post("/api/v1/experiments", {"candidate": other.pk, "share": 0.2}, format="json")
    assert refused.status_code == 409 and "already running" in refused.json()["errors"]["candidate"][0]

    stopped = admin_api.post(f"/api/v1/experiments/{first['id']}/stop", {"reason": "enough data"}, format="json")
    assert stopped.status_code == 200
    assert stopped.json()["running"] is False and stopped.json()["stop_reason"] == "enough data"
    assert AuditEvent.objects.filter(action="experiment.stopped", object_id=str(first["id"])).count() == 1
    again = admin_api.post(f"/api/v1/experiments/{first['id']}/stop", {}, format="json")
    assert again.status_code == 200 and again.json()["stopped_at"] == stopped.json()["stopped_at"]
    assert AuditEvent.objects.filter(action="experiment.stopped").count() == 1
    assert (
        admin_api.post("/api/v1/experiments", {"candidate": other.pk, "share": 0.5}, format="json").status_code == 201
    )
    assert admin_api.post("/api/v1/experiments/999999/stop", {}, format="json").status_code == 404


def test_the_list_compares_the_arms_with_confidence_intervals(candidate, queue):
    experiment = Experiment.objects.create(kind="text", candidate=candidate, share=0.5)
    now = timezone.now()
    # Items in each arm (by the same hash routing uses); arm B's model puts removals at the top, A's at the bottom.
    counts = {"a": 0, "b": 0}
    for n in range(400):
        item = make_item(text=f"experiment item {n}")
        arm = arm_of(experiment.pk, item.pk, experiment.share)
        if counts[arm] >= 40:
            continue
        counts[arm] += 1
        removed = n % 2 == 0
        risk = 0.9 if removed == (arm == "b") else 0.1
        enqueued = now - timedelta(hours=2)
        entry = QueueEntry.objects.create(
            item=item, queue=queue, sort_key=risk, risk=risk, enqueued_at=enqueued,
            deadline_at=now + timedelta(hours=1), experiment=experiment, arm=arm, status=QueueEntry.Status.DONE,
        )  # fmt: skip
        decided = enqueued + timedelta(minutes=10 if arm == "a" else 20)
        decision = Decision.objects.create(
            item=item, entry=entry, action="remove" if removed else "no_violation", reviewer=None
        )
        Decision.objects.filter(pk=decision.pk).update(created_at=decided)
        if counts == {"a": 40, "b": 40}:
            break

    response = client_with("decisions:read").get("/api/v1/experiments")
    assert response.status_code == 200
    [row] = response.json()
    comparison = row["comparison"]
    a, b, diff = comparison["a"], comparison["b"], comparison["differences"]
    assert a["items"] == b["items"] == 40 and a["top_k"] == b["top_k"] == 8
    # B's model ranked its removals first, A's last: the difference's interval lies above 0.
    assert b["precision_at_top"]["value"] == 1.0 and 0.6 < b["precision_at_top"]["low"] < 1.0
    assert a["precision_at_top"]["value"] == 0.0 and 0.0 < a["precision_at_top"]["high"] < 0.4
    assert diff["precision_at_top"]["value"] == 1.0 and 0.5 < diff["precision_at_top"]["low"] < 1.0
    assert a["minutes_to_decision"]["value"] == pytest.approx(10) and b["minutes_to_decision"][
        "value"
    ] == pytest.approx(20)
    assert diff["minutes_to_decision"]["value"] == pytest.approx(10)
    assert diff["removal_rate"]["low"] < 0 < diff["removal_rate"]["high"]  # both arms removed half
    assert comparison["confidence"] == 0.95

    detail = client_with("decisions:read").get(f"/api/v1/experiments/{experiment.pk}")
    assert detail.status_code == 200 and detail.json()["comparison"]["b"] == b
    assert client_with("decisions:read").get("/api/v1/experiments/999999").status_code == 404


def test_reading_needs_decisions_read_and_writing_needs_admin(candidate):
    experiment = Experiment.objects.create(kind="text", candidate=candidate, share=0.5)
    for scope in ("items:read", "items:write", "decisions:write"):
        assert client_with(scope).get("/api/v1/experiments").status_code == 403
    reader = client_with("decisions:read")
    assert (
        reader.post("/api/v1/experiments", {"candidate": candidate.pk, "share": 0.2}, format="json").status_code == 403
    )
    assert reader.post(f"/api/v1/experiments/{experiment.pk}/stop", {}, format="json").status_code == 403
    assert (
        reader.post(f"/api/v1/model-versions/{candidate.pk}/status", {"status": "active"}, format="json").status_code
        == 403
    )
    assert reader.post("/api/v1/model-versions/rollback", {"kind": "text"}, format="json").status_code == 403
    assert APIClient().get("/api/v1/experiments").status_code == 401
    experiment.refresh_from_db()
    candidate.refresh_from_db()
    assert experiment.is_running and candidate.status == "candidate"


def test_shadow_promote_and_roll_back_in_one_audited_step_each(
    admin_api, candidate, django_capture_on_commit_callbacks
):
    prior = ModelVersion.objects.get(kind="text", status="active")
    shadow = admin_api.post(f"/api/v1/model-versions/{candidate.pk}/status", {"status": "shadow"}, format="json")
    assert shadow.status_code == 200 and shadow.json()["status"] == "shadow"
    experiment = admin_api.post("/api/v1/experiments", {"candidate": candidate.pk, "share": 0.1}, format="json").json()

    with django_capture_on_commit_callbacks(execute=True):
        promoted = admin_api.post(f"/api/v1/model-versions/{candidate.pk}/status", {"status": "active"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["status"] == "active"
    prior.refresh_from_db()
    assert prior.status == "retired"
    assert AuditEvent.objects.get(action="model_version.promoted", object_id=str(candidate.pk)).actor.username == "ops"
    # Promoting the candidate ends its experiment (the control it was compared with is gone).
    assert Experiment.objects.get(pk=experiment["id"]).stopped_at is not None

    demote = admin_api.post(f"/api/v1/model-versions/{candidate.pk}/status", {"status": "candidate"}, format="json")
    assert demote.status_code == 409 and "cannot be demoted" in demote.json()["errors"]["status"][0]

    rolled = admin_api.post("/api/v1/model-versions/rollback", {"kind": "text"}, format="json")
    assert rolled.status_code == 200 and rolled.json()["name"] == "text-prior" and rolled.json()["status"] == "active"
    assert AuditEvent.objects.filter(action="model_version.rolled_back").count() == 1
    nothing = admin_api.post("/api/v1/model-versions/rollback", {"kind": "image"}, format="json")
    assert nothing.status_code == 409 and "No earlier active image version" in nothing.json()["errors"]["kind"][0]
    assert admin_api.post("/api/v1/model-versions/rollback", {"kind": "audio"}, format="json").status_code == 400
    bad = admin_api.post(f"/api/v1/model-versions/{candidate.pk}/status", {"status": "best"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    assert (
        admin_api.post("/api/v1/model-versions/999999/status", {"status": "shadow"}, format="json").status_code == 404
    )


def test_the_schema_documents_the_experiment_operations_with_examples(client):
    client.force_login(make_user(is_staff=True))
    schema = yaml.safe_load(client.get("/api/schema/").content)
    create = schema["paths"]["/api/v1/experiments"]["post"]
    assert {"201", "400", "401", "403"} <= set(create["responses"])
    assert "examples" in create["requestBody"]["content"]["application/json"]
    assert "/api/v1/experiments/{experiment_id}/stop" in schema["paths"]
    assert "/api/v1/model-versions/rollback" in schema["paths"]
    arm = schema["components"]["schemas"]["Arm"]["properties"]
    assert {"precision_at_top", "minutes_to_decision", "removal_rate", "deadline_breaches"} <= set(arm)
