"""Reference reads over the API: queues with live stats, categories, model versions, current labels."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from queues.api import QUEUE_STATS_KEY
from queues.models import Decision, QueueEntry
from review import claims, decisions, qa
from review.models import Label
from tests.factories import enqueue, make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db


def client_for(*scopes: str, user=None) -> APIClient:
    client = APIClient()
    _, secret = make_token(scopes=list(scopes), user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_queues_show_depth_oldest_age_and_deadline_breaches(settings):
    settings.API_QUEUE_STATS_SECONDS = 0
    queue = make_queue(deadline=timedelta(minutes=30))
    enqueue(make_item(), queue)
    late = enqueue(make_item(), queue)
    QueueEntry.objects.filter(pk=late.pk).update(
        enqueued_at=timezone.now() - timedelta(hours=2), deadline_at=timezone.now() - timedelta(hours=1)
    )
    decided = enqueue(make_item(), queue)
    QueueEntry.objects.filter(pk=decided.pk).update(status="done", deadline_at=timezone.now() - timedelta(hours=5))
    reader = client_for("items:read")
    response = reader.get("/api/v1/queues")
    assert response.status_code == 200, response.json()
    row = next(q for q in response.json() if q["id"] == queue.pk)
    assert (row["pending"], row["past_deadline"], row["deadline_seconds"]) == (2, 1, 1800)
    assert 7190 <= row["oldest_age_seconds"] <= 7300
    detail = reader.get(f"/api/v1/queues/{queue.pk}").json()
    assert detail["slug"] == queue.slug and detail["pending"] == 2
    empty = make_queue()
    assert reader.get(f"/api/v1/queues/{empty.pk}").json()["oldest_age_seconds"] is None
    assert reader.get("/api/v1/queues/999999").status_code == 404


def test_queue_stats_are_reused_for_a_few_seconds_and_say_when_they_were_counted(settings):
    settings.API_QUEUE_STATS_SECONDS = 60
    cache.delete(QUEUE_STATS_KEY)
    queue = make_queue()
    enqueue(make_item(), queue)
    reader = client_for("items:read")
    first = reader.get(f"/api/v1/queues/{queue.pk}").json()
    enqueue(make_item(), queue)
    again = reader.get(f"/api/v1/queues/{queue.pk}").json()
    assert (first["pending"], again["pending"]) == (1, 1)
    assert again["stats_as_of"] == first["stats_as_of"]
    cache.delete(QUEUE_STATS_KEY)
    assert reader.get(f"/api/v1/queues/{queue.pk}").json()["pending"] == 2


def test_categories_and_model_versions_are_listed():
    reader = client_for("decisions:write")
    slugs = [c["slug"] for c in reader.get("/api/v1/categories").json()]
    assert "spam" in slugs and "hate" in slugs
    assert reader.get("/api/v1/model-versions").status_code == 403  # decision agents need no model details
    versions = client_for("items:read").get("/api/v1/model-versions").json()
    assert {v["status"] for v in versions} >= {"active"}
    assert all("prior_only" in v and "metrics" in v for v in versions)


def test_labels_list_only_current_labels_and_filters_them():
    mira, sam = make_user(), make_user(is_staff=True)
    sam.user_permissions.add(Permission.objects.get(codename="review_decisions"))
    queue = make_queue(members=[mira])
    item = make_item()
    enqueue(item, queue)
    claim = claims.claim_next_item(queue=queue, user=mira)
    [decision] = decisions.record_decision(
        entry_id=claim.entry_id, token=claim.token, user=mira, action="remove", categories=["spam"]
    )
    reader = client_for("decisions:read")
    rows = reader.get("/api/v1/labels", {"limit": 500}).json()["results"]
    assert len(rows) == Label.objects.count() > 1
    assert [r["category"] for r in rows if r["value"]] == ["spam"]
    assert [r["category"] for r in reader.get("/api/v1/labels", {"value": "true"}).json()["results"]] == ["spam"]
    assert len(reader.get("/api/v1/labels", {"category": "hate"}).json()["results"]) == 1

    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(minutes=5))  # undo window
    qa.record_qa_review(decision_id=decision.pk, user=sam, verdict="overturn", action="remove", categories=["hate"])
    rows = reader.get("/api/v1/labels", {"item": item.pk, "value": "true", "limit": 500}).json()["results"]
    assert [(r["category"], r["from_qa"], r["reviewer"]) for r in rows] == [("hate", True, sam.username)]
    assert Label.objects.filter(item=item, superseded_by__isnull=False).exists()


def test_labels_need_decisions_read_and_refuse_a_bad_filter():
    assert client_for("items:read").get("/api/v1/labels").status_code == 403
    # A well-formed filter naming a category that does not exist is a 404 naming the field (api.errors).
    response = client_for("decisions:read").get("/api/v1/labels", {"category": "nudity"})
    assert response.status_code == 404 and "category" in response.json()["errors"]
