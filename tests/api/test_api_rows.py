"""The list endpoints build their rows from plain column values (api.rows) and render them with
orjson (queues.api_renderers): the JSON must be exactly what the documented serializers render."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from api.pagination import KeysetPagination
from api.renderers import FastJSONRenderer
from api.rows import iso_formatter, times_as_text
from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Author, Item
from intake.rows import item_rows, scores_of
from intake.serializers import ItemListOutSerializer, ScoreOutSerializer
from queues.models import Decision
from review import claims, qa
from review import decisions as deciding
from review.models import Label
from review.serializers import DecisionListOutSerializer, LabelOutSerializer
from tests.factories import b64, enqueue, image_bytes, make_item, make_queue, make_token, make_user

pytestmark = pytest.mark.django_db


def client_for(*scopes: str) -> APIClient:
    client = APIClient()
    _, secret = make_token(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def as_json(data: object) -> object:
    """What a client reads from DRF's own renderer."""
    return json.loads(JSONRenderer().render(data))


def results(client: APIClient, url: str) -> list[dict]:
    response = client.get(url, {"limit": 500})
    assert response.status_code == 200, response.json()
    return response.json()["results"]


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def items(media_root) -> list[Item]:
    """An item with an image, an author and active and shadow scores; one with neither author nor scores."""
    payload = {
        "source": "tests.parity", "external_id": "p-1", "text": "hello ünïcode \u2028",
        "image_base64": b64(image_bytes()),
        "author": {"external_id": "u-9", "handle": "@nine", "account_created_at": "2026-01-02T03:04:05.250Z",
                   "attributes": {"followers": 12}},
        "metadata": {"lang": "en", "nested": {"n": [1, 2.5, None]}},
    }  # fmt: skip
    assert client_for("items:write").post("/api/v1/items", payload, format="json").status_code == 201
    rich = Item.objects.get(external_id="p-1")
    active = ModelVersion.objects.filter(status="active").first()
    shadow = ModelVersion.objects.create(
        name="parity-shadow", kind=active.kind, architecture=active.architecture, status="shadow"
    )
    for version, slug, probability in [(active, "spam", 0.25), (active, "hate", 1e-05), (shadow, "spam", 0.5)]:
        Score.objects.update_or_create(
            item_id=rich.pk, model_version=version, category=PolicyCategory.objects.get(slug=slug),
            defaults={"probability": probability, "from_prior": version == active},
        )  # fmt: skip
    plain = make_item()
    Item.objects.filter(pk=plain.pk).update(ticket_id="ZD-1", ticket_url="https://example.com/t/1")
    return [rich, plain]


def test_scores_are_the_ones_the_score_serializer_renders(items):
    [rich, _] = items
    expected = [
        ScoreOutSerializer(score).data
        for score in Score.objects.filter(item_id=rich.pk, model_version__status__in=["active", "shadow"])
        .select_related("category", "model_version")
        .order_by("model_version__status", "category__position", "id")
    ]
    assert len(expected) >= 3
    assert scores_of([rich.pk])[rich.pk] == expected


def test_item_rows_are_what_the_item_list_serializer_renders(items):
    rows = results(client_for("items:read"), "/api/v1/items")
    instances = Item.objects.select_related("author").order_by("updated_at", "id")
    scores = scores_of([item.pk for item in instances])
    expected = as_json(ItemListOutSerializer(instances, many=True, context={"scores_by_item": scores}).data)
    assert rows == expected
    assert rows[0]["image"]["format"] == "PNG" and rows[0]["author"]["handle"] == "@nine"
    assert rows[1]["author"] is None and rows[1]["scores"] == [] and rows[1]["ticket_id"] == "ZD-1"


def test_times_are_in_the_current_time_zone_like_the_serializers(items, settings):
    settings.TIME_ZONE = "America/New_York"
    timezone.deactivate()  # the current time zone follows the new setting
    try:
        rows = results(client_for("items:read"), "/api/v1/items")
        instances = Item.objects.select_related("author").order_by("updated_at", "id")
        expected = as_json(ItemListOutSerializer(instances, many=True, context={"scores_by_item": {}}).data)
        assert [row["created_at"] for row in rows] == [row["created_at"] for row in expected]
        assert rows[0]["author"]["account_created_at"] == "2026-01-01T22:04:05.250000-05:00"
    finally:
        settings.TIME_ZONE = "UTC"
        timezone.deactivate()
    assert iso_formatter()(timezone.now().replace(microsecond=0)).endswith("Z")


def test_decision_and_label_rows_are_what_their_serializers_render(items, mira):
    [rich, plain] = items
    sam = make_user(is_staff=True)
    sam.user_permissions.add(Permission.objects.get(codename="review_decisions"))
    queue = make_queue(members=[mira])
    for item in (rich, plain):
        enqueue(item, queue)
    for categories in (["spam", "hate"], []):
        claim = claims.claim_next_item(queue=queue, user=mira)
        action = "remove" if categories else "no_violation"
        deciding.record_decision(
            entry_id=claim.entry_id, token=claim.token, user=mira, action=action, categories=categories
        )
    first = Decision.objects.order_by("id").first()
    Decision.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=5))  # undo window
    qa.record_qa_review(decision_id=first.pk, user=sam, verdict="overturn", action="remove", categories=["spam"])
    # An automatic decision: no entry, no reviewer, copying another.
    Decision.objects.create(item=plain, action="remove", automatic=True, applied_from=first)
    reader = client_for("decisions:read")

    rows = results(reader, "/api/v1/decisions")
    decisions = Decision.objects.order_by("created_at", "id")
    assert rows == as_json(DecisionListOutSerializer(decisions, many=True).data)
    assert [(r["categories"], r["qa_verdict"]) for r in rows][:2] == [(["spam", "hate"], "overturn"), ([], None)]
    assert rows[2]["queue"] is None and rows[2]["reviewer"] is None and rows[2]["applied_from"] == first.pk

    rows = results(reader, "/api/v1/labels")
    labels = Label.objects.current().order_by("created_at", "id")
    assert rows == as_json(LabelOutSerializer(labels, many=True).data)
    assert {r["from_qa"] for r in rows} == {True, False}


def test_item_rows_of_no_rows_query_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert item_rows([]) == []


def test_the_fast_renderer_writes_the_same_json_as_drf(items):
    data = {"results": results(client_for("items:read"), "/api/v1/items"), "line": "a\u2028b\u2029c"}
    fast, drf = FastJSONRenderer().render(data), JSONRenderer().render(data)
    assert json.loads(fast) == json.loads(drf)
    assert b"\\u2028" in fast and "\u2028".encode() not in fast  # a strict JavaScript subset, as DRF's
    # What orjson cannot encode goes through DRF's renderer instead of failing the request.
    assert json.loads(FastJSONRenderer().render({"big": 10**30})) == {"big": 10**30}
    indented = FastJSONRenderer().render({"a": 1}, "application/json; indent=2")
    assert indented == JSONRenderer().render({"a": 1}, "application/json; indent=2")


def test_an_items_metadata_with_a_huge_number_is_still_listed():
    item = make_item(author=Author.objects.create(source="tests", external_id="u-big"))
    Item.objects.filter(pk=item.pk).update(metadata={"n": 10**30})
    [row] = results(client_for("items:read"), "/api/v1/items")
    assert row["metadata"] == {"n": 10**30}


def test_timestamps_postgresql_writes_match_drfs_format_to_the_microsecond(items):
    # On PostgreSQL in UTC the lists read timestamps as text; elsewhere they format datetimes.
    assert times_as_text() == (connection.vendor == "postgresql")
    [rich, plain] = items
    Item.objects.filter(pk=plain.pk).update(created_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    Item.objects.filter(pk=rich.pk).update(created_at=datetime(2026, 3, 4, 5, 6, 7, 10, tzinfo=UTC))
    rows = results(client_for("items:read"), "/api/v1/items")
    instances = Item.objects.select_related("author").order_by("updated_at", "id")
    scores = scores_of([item.pk for item in instances])
    assert rows == as_json(ItemListOutSerializer(instances, many=True, context={"scores_by_item": scores}).data)
    assert [row["created_at"] for row in rows] == ["2026-03-04T05:06:07.000010Z", "2026-03-04T05:06:07Z"]


def test_a_page_read_with_text_timestamps_gives_the_same_cursor(items):
    reader = client_for("items:read")
    first = reader.get("/api/v1/items", {"limit": 1}).json()
    last = Item.objects.order_by("updated_at", "id").first()
    assert first["next_cursor"] == KeysetPagination._encode(last.updated_at, last.pk)
    rest = reader.get("/api/v1/items", {"cursor": first["next_cursor"]}).json()["results"]
    assert [row["id"] for row in rest] == [item.pk for item in Item.objects.order_by("updated_at", "id")[1:]]
