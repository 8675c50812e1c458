"""The ingestion API as an integrator uses it: create, merge, read back, idempotency."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from intake.models import Author, Item, Report
from tests.factories import b64, image_bytes, item_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/items"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_it_creates_one_item_and_reads_it_back_with_its_reports(api_client):
    payload = item_payload(
        text="Win a free iPhone, send your card number",
        author={"external_id": "u-1", "handle": "@promo", "account_created_at": "2026-11-01T00:00:00Z"},
        metadata={"surface": "comment"},
        reports=[{"reporter_id": "r-9", "reason": "scam_fraud", "text": "asks for card"}],
    )
    response = api_client.post(URL, payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "created"
    assert body["state"] == "received"
    assert body["report_count"] == 1

    detail = api_client.get(f"{URL}/{body['id']}").json()
    assert detail["text"] == "Win a free iPhone, send your card number"
    assert detail["kind"] == "text"
    assert detail["author"]["handle"] == "@promo"
    assert detail["metadata"] == {"surface": "comment"}
    assert detail["state"] == "received"
    assert [r["reason"] for r in detail["reports"]] == ["scam_fraud"]
    assert detail["image"] is None


def test_a_repeat_report_of_the_same_item_merges_and_raises_the_report_count(api_client):
    first = api_client.post(URL, item_payload(7, reports=[{"reporter_id": "a", "reason": "spam"}]), format="json")
    second = api_client.post(URL, item_payload(7, reports=[{"reporter_id": "b", "reason": "spam"}]), format="json")
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["status"] == "merged"
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["report_count"] == 2
    assert Item.objects.count() == 1


def test_sending_the_same_batch_twice_creates_nothing_new(api_client):
    batch = {
        "items": [
            item_payload(n, author={"external_id": f"u{n}"}, reports=[{"reporter_id": "x", "reason": "spam"}])
            for n in range(20)
        ]
    }
    first = api_client.post(URL, batch, format="json").json()
    counts = (Item.objects.count(), Report.objects.count(), Author.objects.count())
    second = api_client.post(URL, batch, format="json").json()

    assert (first["created"], first["merged"]) == (20, 0)
    assert (second["created"], second["merged"]) == (0, 20)
    assert [r["id"] for r in first["results"]] == [r["id"] for r in second["results"]]
    assert (Item.objects.count(), Report.objects.count(), Author.objects.count()) == counts == (20, 20, 20)
    assert all(r["report_count"] == 1 for r in second["results"])


def test_a_report_with_an_id_is_counted_once_even_when_its_text_changes(api_client):
    api_client.post(URL, item_payload(3, reports=[{"id": "r-1", "reason": "spam", "text": "v1"}]), format="json")
    again = api_client.post(
        URL, item_payload(3, reports=[{"id": "r-1", "reason": "spam", "text": "v2"}]), format="json"
    )
    assert again.json()["report_count"] == 1


def test_the_same_item_twice_in_one_batch_is_created_once_and_merged_once(api_client):
    batch = {
        "items": [
            item_payload(5, reports=[{"reporter_id": "a", "reason": "spam"}]),
            item_payload(5, reports=[{"reporter_id": "b", "reason": "hate"}]),
        ]
    }
    body = api_client.post(URL, batch, format="json").json()
    assert [r["status"] for r in body["results"]] == ["created", "merged"]
    assert body["results"][0]["id"] == body["results"][1]["id"]
    assert body["results"][1]["report_count"] == 2
    assert Item.objects.count() == 1


def test_a_full_batch_of_500_is_accepted_with_one_result_per_item_in_order(api_client):
    batch = {"items": [item_payload(n) for n in range(500)]}
    response = api_client.post(URL, batch, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(500))
    assert [r["external_id"] for r in results] == [f"post-{n}" for n in range(500)]
    assert Item.objects.count() == 500


def test_an_image_item_is_stored_with_its_hash_size_format_and_dimensions(api_client, media_root):
    data = image_bytes("PNG", (40, 30))
    response = api_client.post(URL, item_payload(text="", image_base64=b64(data)), format="json")
    assert response.status_code == 201, response.json()
    item = Item.objects.get()
    assert (item.image_format, item.image_width, item.image_height, item.image_bytes) == ("PNG", 40, 30, len(data))
    assert item.kind == Item.Kind.IMAGE
    assert item.image.name.endswith(f"{item.image_sha256}.png")
    assert (media_root / item.image.name).read_bytes() == data
    detail = api_client.get(f"{URL}/{item.id}").json()
    assert detail["image"] == {
        "sha256": item.image_sha256,
        "bytes": len(data),
        "format": "PNG",
        "width": 40,
        "height": 30,
    }


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_every_allowed_image_format_is_accepted(api_client, fmt):
    response = api_client.post(URL, item_payload(image_base64=b64(image_bytes(fmt))), format="json")
    assert response.status_code == 201, response.json()
    assert Item.objects.get().image_format == fmt


def test_a_multipart_batch_takes_images_from_named_file_parts(api_client):
    import json

    payload = {
        "items": [
            item_payload(1, text="", image_part="first"),
            item_payload(2, text="caption", image_part="second"),
        ]
    }
    response = api_client.post(
        URL,
        {
            "payload": json.dumps(payload),
            "first": SimpleUploadedFile("a.bin", image_bytes("JPEG")),
            "second": SimpleUploadedFile("b.bin", image_bytes("GIF")),
        },
        format="multipart",
    )
    assert response.status_code == 200, response.json()
    assert sorted(Item.objects.values_list("image_format", flat=True)) == ["GIF", "JPEG"]
    assert Item.objects.get(external_id="post-2").kind == Item.Kind.TEXT_AND_IMAGE


def test_reading_an_unknown_item_is_a_404_in_the_error_format(api_client):
    response = api_client.get(f"{URL}/999999")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "errors"}


def test_reading_an_item_shows_its_scores_and_which_come_from_a_prior(api_client):
    from classifiers.models import ModelVersion, PolicyCategory, Score

    item_id = api_client.post(URL, item_payload(), format="json").json()["id"]
    version = ModelVersion.objects.get(kind="text", status="active")
    Score.objects.create(
        item_id=item_id, model_version=version, category=PolicyCategory.objects.get(slug="spam"), probability=0.91,
        from_prior=True, prior_source="structure",
    )  # fmt: skip
    [score] = api_client.get(f"{URL}/{item_id}").json()["scores"]
    assert score == {
        "category": "spam", "probability": 0.91, "from_prior": True, "prior_source": "structure",
        "author_shift": None, "model_version": version.name, "status": "active",
    }  # fmt: skip
