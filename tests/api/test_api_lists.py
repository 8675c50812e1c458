"""Listing items over the API: filters, cursor pages, incremental sync, tickets."""

import base64
import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.pagination import CURSOR_PATTERN
from audit.models import AuditEvent
from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Author, Item
from tests.factories import enqueue, make_item, make_queue, make_token

pytestmark = pytest.mark.django_db

URL = "/api/v1/items"


def client_for(*scopes: str) -> APIClient:
    client = APIClient()
    _, secret = make_token(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def reader() -> APIClient:
    return client_for("items:read")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_pages_walk_every_item_once_in_update_order(reader):
    items = [make_item() for _ in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        response = reader.get(URL, {"limit": 3, **({"cursor": cursor} if cursor else {})})
        body = response.json()
        seen += ids(response)
        cursor, pages = body["next_cursor"], pages + 1
        if not body["has_more"]:
            break
    assert seen == [item.pk for item in items]
    assert pages == 3
    assert reader.get(URL, {"cursor": cursor}).json()["results"] == []


def test_the_last_pages_cursor_returns_only_what_changed_since(reader):
    first, second = make_item(), make_item()
    body = reader.get(URL).json()
    assert [row["id"] for row in body["results"]] == [first.pk, second.pk] and body["has_more"] is False
    cursor = body["next_cursor"]
    Item.objects.filter(pk=first.pk).update(state=Item.State.DECIDED, updated_at=timezone.now())
    third = make_item()
    again = reader.get(URL, {"cursor": cursor}).json()
    assert [row["id"] for row in again["results"]] == [first.pk, third.pk]
    assert again["results"][0]["state"] == "decided"


def test_items_with_the_same_updated_at_are_neither_skipped_nor_repeated(reader):
    items = [make_item() for _ in range(5)]
    Item.objects.update(updated_at=timezone.now())
    first = reader.get(URL, {"limit": 2}).json()
    rest = reader.get(URL, {"limit": 10, "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in first["results"] + rest["results"]] == [item.pk for item in items]


def test_filters_by_state_source_author_and_queue(reader):
    author = Author.objects.create(source="tests", external_id="u-1", handle="@one")
    queue = make_queue()
    queued = make_item(author=author)
    enqueue(queued, queue)
    other = make_item()
    Item.objects.filter(pk=other.pk).update(source="elsewhere")
    assert ids(reader.get(URL, {"state": "queued"})) == [queued.pk]
    assert ids(reader.get(URL, {"source": "elsewhere"})) == [other.pk]
    assert ids(reader.get(URL, {"author": "u-1"})) == [queued.pk]
    assert ids(reader.get(URL, {"queue": queue.slug})) == [queued.pk]
    assert ids(reader.get(URL, {"queue": str(queue.pk)})) == [queued.pk]
    assert ids(reader.get(URL, {"state": "queued", "source": "elsewhere"})) == []


def test_filters_by_created_and_updated_ranges(reader):
    old, new = make_item(), make_item()
    day_ago = timezone.now() - timedelta(days=1)
    Item.objects.filter(pk=old.pk).update(created_at=day_ago, updated_at=day_ago)
    cut = (timezone.now() - timedelta(hours=1)).isoformat()
    assert ids(reader.get(URL, {"created_before": cut})) == [old.pk]
    assert ids(reader.get(URL, {"created_after": cut})) == [new.pk]
    assert ids(reader.get(URL, {"updated_after": cut})) == [new.pk]
    assert ids(reader.get(URL, {"updated_before": cut})) == [old.pk]


def test_filters_by_the_active_models_score_for_a_category(reader):
    spam = PolicyCategory.objects.get(slug="spam")
    active = ModelVersion.objects.filter(status="active").first()
    assert active is not None
    likely, unlikely = make_item(), make_item()
    Score.objects.create(item_id=likely.pk, model_version=active, category=spam, probability=0.93, from_prior=False)
    Score.objects.create(item_id=unlikely.pk, model_version=active, category=spam, probability=0.1, from_prior=False)
    assert ids(reader.get(URL, {"category": "spam", "score_min": "0.9"})) == [likely.pk]
    assert ids(reader.get(URL, {"category": "spam", "score_max": "0.5"})) == [unlikely.pk]
    assert ids(reader.get(URL, {"category": "hate", "score_min": "0.5"})) == []
    row = reader.get(URL, {"category": "spam", "score_min": "0.9"}).json()["results"][0]
    assert row["scores"][0]["category"] == "spam" and row["scores"][0]["probability"] == pytest.approx(0.93)
    # Requests the schema allows, which were a 400 (schemathesis): a range without a category is any
    # category's score; a reversed range finds nothing.
    assert ids(reader.get(URL, {"score_min": "0.9"})) == [likely.pk]
    assert ids(reader.get(URL, {"category": "spam", "score_min": "0.9", "score_max": "0.1"})) == []


@pytest.mark.parametrize(
    ("params", "field"), [({"queue": "no-such-queue"}, "queue"), ({"category": "nudity"}, "category")]
)
def test_a_filter_naming_what_does_not_exist_is_a_404_naming_the_parameter(reader, params, field):
    response = reader.get(URL, {**params, "score_min": "0.5"})
    assert response.status_code == 404, response.json()
    assert response.json()["code"] == "not_found" and field in response.json()["errors"]


def test_a_date_time_with_an_offset_postgresql_does_not_take_is_read_in_utc(reader):
    # +20:29 is a valid RFC 3339 offset; PostgreSQL refuses offsets past 15:59, which was a 500.
    item = make_item()
    assert ids(reader.get(URL, {"created_after": "0034-09-27T15:38:42.2+20:29"})) == [item.pk]
    assert ids(reader.get(URL, {"created_before": "0034-09-27T15:38:42.2+20:29"})) == []


def test_a_date_time_past_the_calendars_ends_in_utc_filters_as_before_or_after_everything(reader):
    # 0001-01-01T00:07+01:00 is well formed, and before year 1 in UTC: a 400 "out of range" before (schemathesis).
    item = make_item()
    for early in ("0001-01-01T00:07:18+01:00", "0001-01-01T00:00:00+23:59"):
        assert ids(reader.get(URL, {"updated_after": early})) == [item.pk]
        assert ids(reader.get(URL, {"updated_before": early})) == []
    late = "9999-12-31T23:30:00-01:00"
    assert ids(reader.get(URL, {"created_before": late})) == [item.pk]
    assert ids(reader.get(URL, {"created_after": late})) == []


def test_any_cursor_of_the_stated_pattern_is_read_and_old_cursors_still_work(reader):
    first = make_item()
    old_style = base64.urlsafe_b64encode(json.dumps(["2000-01-01T00:00:00+00:00", 0]).encode()).decode().rstrip("=")
    assert ids(reader.get(URL, {"cursor": old_style})) == [first.pk]
    assert ids(reader.get(URL, {"cursor": "0-0"})) == [first.pk]
    assert ids(reader.get(URL, {"cursor": "99999999999999999-999999999999999999"})) == []
    cursor = reader.get(URL).json()["next_cursor"]
    assert re.fullmatch(CURSOR_PATTERN, cursor) and ids(reader.get(URL, {"cursor": cursor})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "lost"}, "state"),
        ({"category": "spam", "score_min": "1.5"}, "score_min"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": ""}, "created_after"),  # not a date-time, though Django reads it as "no filter"
        ({"category": "spam", "score_min": ""}, "score_min"),  # nor is "" a number
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WzEsMl0"}, "cursor"),  # base64 of [1,2]: decodes, but is no cursor
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(reader, params, field):
    make_item()
    response = reader.get(URL, params)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body["errors"], body


def test_listing_needs_items_read(reader):
    make_item()
    assert client_for("items:write").get(URL).status_code == 403
    assert client_for("admin").get(URL).status_code == 200
    assert APIClient().get(URL).status_code == 401


def test_attaching_a_ticket_shows_on_the_item_bumps_updated_at_and_is_audited(reader):
    item = make_item()
    before = Item.objects.get(pk=item.pk).updated_at
    writer = client_for("items:write")
    body = {"ticket_id": "ZD-40112", "ticket_url": "https://acme.zendesk.com/agent/tickets/40112"}
    response = writer.put(f"{URL}/{item.pk}/ticket", body, format="json")
    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    assert (item.ticket_id, item.ticket_url) == (body["ticket_id"], body["ticket_url"])
    assert item.updated_at > before
    assert AuditEvent.objects.filter(action="item.ticket_attached", object_id=str(item.pk)).count() == 1
    assert reader.get(f"{URL}/{item.pk}").json()["ticket_id"] == "ZD-40112"
    assert reader.get(URL).json()["results"][0]["ticket_url"] == body["ticket_url"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ticket_id": "T-1", "ticket_url": "javascript:alert(1)"}, "ticket_url"),
        ({"ticket_id": "T-1", "ticket_url": "ftp://tickets.example.com/1"}, "ticket_url"),
        ({"ticket_id": "T-1", "ticket_url": "not a url"}, "ticket_url"),
        ({"ticket_url": "https://tickets.example.com/1"}, "ticket_id"),
        ({"ticket_id": 12}, "ticket_id"),
        ({"ticket_id": "T-1", "status": "open"}, "status"),
    ],
)
def test_a_bad_ticket_is_a_400_and_changes_nothing(body, field):
    item = make_item()
    response = client_for("items:write").put(f"{URL}/{item.pk}/ticket", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    item.refresh_from_db()
    assert (item.ticket_id, item.ticket_url) == ("", "")
    assert not AuditEvent.objects.filter(action="item.ticket_attached").exists()


def test_a_ticket_for_an_unknown_item_is_a_404():
    response = client_for("items:write").put(f"{URL}/999999/ticket", {"ticket_id": "T"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_an_unknown_api_url_is_a_json_404_and_other_urls_keep_the_html_page(reader, client):
    response = reader.get("/api/v1/items/not-an-id")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
