"""Training snapshots over the API, for data teams: metadata, manifest, and the labelled rows themselves."""

import hashlib
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from learning.training_data import export_training_snapshot
from queues.models import Decision
from review.claims import claim_next_item
from review.decisions import record_decision
from review.models import Label
from tests.factories import enqueue, make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def snapshot_dir(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_SNAPSHOT_DIR = tmp_path / "snapshots"


@pytest.fixture
def snapshot():
    mira = make_user()
    queue = make_queue(members=[mira])
    for index in range(3):
        enqueue(make_item(), queue)
        claim = claim_next_item(queue=queue, user=mira)
        [decision] = record_decision(entry_id=claim.entry_id, token=claim.token, user=mira,
                                     action="remove" if index else "no_violation",
                                     categories=["spam"] if index else [])  # fmt: skip
        past = timezone.now() - timedelta(hours=1)
        Decision.objects.filter(pk=decision.pk).update(created_at=past)
        Label.objects.filter(decision=decision).update(created_at=past)
    return export_training_snapshot()


def client_for(*scopes: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=list(scopes))[1]}")
    return client


def test_data_teams_list_snapshots_read_the_manifest_and_download_the_rows(snapshot):
    reader = client_for("decisions:read")
    listed = reader.get("/api/v1/training-snapshots").json()["results"]
    assert [(s["id"], s["item_count"], s["items_sha256"]) for s in listed] == [(snapshot.pk, 3, snapshot.items_sha256)]
    detail = reader.get(f"/api/v1/training-snapshots/{snapshot.pk}").json()
    assert detail["manifest"] == snapshot.manifest and detail["label_count"] == snapshot.label_count
    response = reader.get(f"/api/v1/training-snapshots/{snapshot.pk}/items.jsonl")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == snapshot.items_sha256
    assert len([json.loads(line) for line in body.splitlines()]) == 3


def test_snapshots_need_decisions_read_and_missing_files_are_a_json_404(snapshot):
    assert client_for("items:read").get("/api/v1/training-snapshots").status_code == 403
    reader = client_for("decisions:read")
    assert reader.get("/api/v1/training-snapshots/999999").status_code == 404
    shutil.rmtree(Path(snapshot.path))
    gone = reader.get(f"/api/v1/training-snapshots/{snapshot.pk}/items.jsonl")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"
