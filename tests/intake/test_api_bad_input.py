"""Every kind of bad input gets a 4xx JSON error that names the field and the problem, and writes nothing."""

import io
import json
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from intake.models import Author, Item, Report
from tests.factories import b64, image_bytes, item_payload

pytestmark = pytest.mark.django_db

URL = "/api/v1/items"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def nothing_written(media_root):
    """Asserts, after the test, that no row and no file was written."""
    yield
    assert (Item.objects.count(), Report.objects.count(), Author.objects.count()) == (0, 0, 0)
    assert not media_root.exists() or not any(p.is_file() for p in media_root.rglob("*"))


def assert_refused(response, status: int, field: str, words: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"}
    assert field in body["errors"], body
    assert words.lower() in " ".join(body["errors"][field]).lower(), body
    assert field in body["message"]


def _bmp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="BMP")
    return buffer.getvalue()


def _tiff() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="TIFF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_bmp(), "not a jpeg, png, webp or gif"),
        (_tiff(), "not a jpeg, png, webp or gif"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "not a jpeg"),
        (b"GIF89a" + b"\x00" * 4, "not a jpeg, png, webp or gif"),
        (image_bytes("PNG", (64, 64))[:60], "truncated or corrupt"),
        (image_bytes("JPEG", (64, 64))[:200], "truncated or corrupt"),
        (b"", "may not be blank"),
    ],
    ids=["bmp", "tiff", "svg", "gif-header-only", "truncated-png", "truncated-jpeg", "empty"],
)
def test_images_that_are_not_complete_allowed_formats_are_refused(api_client, nothing_written, data, words):
    response = api_client.post(URL, item_payload(image_base64=b64(data)), format="json")
    assert_refused(response, 400, "image_base64", words)


def test_the_format_is_judged_by_content_not_by_the_file_name(api_client, nothing_written):
    response = api_client.post(
        URL,
        {"payload": json.dumps(item_payload(image_part="photo")), "photo": SimpleUploadedFile("cat.png", _bmp())},
        format="multipart",
    )
    assert_refused(response, 400, "image_part", "not a jpeg, png, webp or gif")


def test_an_image_over_the_byte_limit_is_refused(api_client, nothing_written, settings):
    settings.MODERATION_MAX_IMAGE_BYTES = 1000
    noisy = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 1000
    response = api_client.post(URL, item_payload(image_base64=b64(buffer.getvalue())), format="json")
    assert_refused(response, 400, "image_base64", "over the limit of 1000 bytes")


def test_a_multipart_image_over_the_byte_limit_is_refused(api_client, nothing_written, settings):
    settings.MODERATION_MAX_IMAGE_BYTES = 1000
    upload = SimpleUploadedFile("big.png", image_bytes("PNG") + b"\x00" * 2000)
    response = api_client.post(
        URL, {"payload": json.dumps(item_payload(image_part="big")), "big": upload}, format="multipart"
    )
    assert_refused(response, 400, "image_part", "the limit is 1000 bytes")


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding(api_client, nothing_written):
    # 8000 x 6000 = 48 megapixels of one colour compresses to a few kilobytes.
    bomb = image_bytes("PNG", (8000, 6000), color="black")
    assert len(bomb) < 200_000
    response = api_client.post(URL, item_payload(image_base64=b64(bomb)), format="json")
    assert_refused(response, 400, "image_base64", "48000000 pixels; the limit is 40000000")


def test_the_pixel_limit_is_a_setting(api_client, nothing_written, settings):
    settings.MODERATION_MAX_IMAGE_PIXELS = 100
    response = api_client.post(URL, item_payload(image_base64=b64(image_bytes("GIF", (11, 10)))), format="json")
    assert_refused(response, 400, "image_base64", "110 pixels; the limit is 100")


@pytest.mark.parametrize("bad", ["not base64!!", "aGVsbG8", "====", "aGVs\nbG8="])
def test_bad_base64_is_refused(api_client, nothing_written, bad):
    response = api_client.post(URL, item_payload(image_base64=bad), format="json")
    assert_refused(response, 400, "image_base64", "not valid base64")


def test_text_over_the_limit_is_refused(api_client, nothing_written, settings):
    response = api_client.post(URL, item_payload(text="x" * 20_001), format="json")
    assert_refused(response, 400, "text", "20001 characters; the limit is 20000")


@pytest.mark.parametrize("field", ["text", "external_id"])
def test_a_lone_surrogate_is_refused(api_client, nothing_written, field):
    # "\ud800" in JSON decodes to a lone surrogate, which no database or encoder can store.
    body = json.dumps(item_payload(**{field: "hello \ud800 there"}))
    response = api_client.post(URL, body, content_type="application/json")
    assert_refused(response, 400, field, "surrogate character u+d800")


def test_text_at_the_limit_is_accepted(api_client):
    assert api_client.post(URL, item_payload(text="x" * 20_000), format="json").status_code == 201


def test_an_item_with_neither_text_nor_image_is_refused(api_client, nothing_written):
    response = api_client.post(URL, item_payload(text=""), format="json")
    assert_refused(response, 400, "text", "needs text, an image, or both")


def test_both_image_fields_at_once_are_refused(api_client, nothing_written):
    data = b64(image_bytes())
    response = api_client.post(
        URL,
        {"payload": json.dumps(item_payload(image_base64=data, image_part="p")), "p": SimpleUploadedFile("p", b"x")},
        format="multipart",
    )
    assert response.status_code == 400


def test_a_missing_file_part_is_named(api_client, nothing_written):
    # 404, not 400: the request is well formed and names a part that is not there (schemathesis found the
    # schema-valid JSON body {"image_part": "x", ...} refused as malformed).
    response = api_client.post(URL, {"payload": json.dumps(item_payload(image_part="nope"))}, format="multipart")
    assert_refused(response, 404, "image_part", "no multipart file part named 'nope'")
    response = api_client.post(URL, item_payload(image_part="nope"), format="json")
    assert_refused(response, 404, "image_part", "no multipart file part named 'nope'")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"author": {"external_id": "u", "nickname": "x"}}, "author.nickname"),
        ({"reports": [{"reason": "spam", "severity": 5}]}, "reports[0].severity"),
    ],
)
def test_unknown_fields_are_refused_by_path(api_client, nothing_written, extra, field):
    response = api_client.post(URL, item_payload(**extra), format="json")
    assert_refused(response, 400, field, "unknown field")


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"text": 123}, "text", "not a valid string"),
        ({"external_id": 42}, "external_id", "not a valid string"),
        ({"source": "has spaces"}, "source", "use 1-64 characters"),
        ({"metadata": "a string"}, "metadata", "dictionary"),
        ({"metadata": ["a", "list"]}, "metadata", "dictionary"),
        ({"reports": "spam"}, "reports", "list"),
        ({"reports": [{"reason": "Not A Code"}]}, "reports[0].reason", "use 1-64 characters"),
        ({"reports": [{"reason": "spam", "reported_at": "yesterday"}]}, "reports[0].reported_at", "datetime"),
        ({"author": "someone"}, "author", "dictionary"),
        ({"author": {"handle": "@x"}}, "author.external_id", "required"),
        ({"image_base64": 5}, "image_base64", "not a valid string"),
        ({"metadata": {"blob": "x" * 70_000}}, "metadata", "the limit is 65536 bytes"),
    ],
)
def test_wrong_types_are_refused_by_path(api_client, nothing_written, extra, field, words):
    response = api_client.post(URL, item_payload(**extra), format="json")
    assert_refused(response, 400, field, words)


def test_missing_required_fields_are_named(api_client, nothing_written):
    response = api_client.post(URL, {"text": "orphan"}, format="json")
    assert response.status_code == 400
    assert {"source", "external_id"} <= set(response.json()["errors"])


def test_a_batch_with_one_bad_item_is_refused_whole_and_names_the_item(api_client, nothing_written):
    items = [item_payload(n) for n in range(10)]
    items[7]["image_base64"] = "%%%"
    items[3]["text"] = ""
    response = api_client.post(URL, {"items": items}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"items[3].text", "items[7].image_base64"}
    assert "(and 1 more field errors)" in response.json()["message"]


def test_a_batch_over_500_items_is_refused(api_client, nothing_written):
    response = api_client.post(URL, {"items": [item_payload(n) for n in range(501)]}, format="json")
    assert_refused(response, 400, "items", "501 items; the limit is 500")


def test_an_empty_batch_is_refused(api_client, nothing_written):
    assert_refused(api_client.post(URL, {"items": []}, format="json"), 400, "items", "empty")


def test_a_batch_with_unknown_top_level_fields_is_refused(api_client, nothing_written):
    response = api_client.post(URL, {"items": [item_payload()], "priority": "high"}, format="json")
    assert_refused(response, 400, "priority", "unknown field")


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"a string"', b"null"])
def test_a_body_that_is_not_a_json_object_is_a_400(api_client, nothing_written, body):
    response = api_client.post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] in {"parse_error", "invalid"}


def test_an_unsupported_content_type_is_a_415(api_client, nothing_written):
    response = api_client.post(URL, b"text=hi", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_a_body_over_the_request_limit_is_a_413(api_client, nothing_written, settings):
    settings.MODERATION_MAX_REQUEST_BYTES = 10_000
    response = api_client.post(URL, {"items": [item_payload(n, text="y" * 500) for n in range(30)]}, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert "limit is 10000 bytes" in response.json()["message"]


def test_a_multipart_request_without_payload_names_it(api_client, nothing_written):
    response = api_client.post(URL, {"photo": SimpleUploadedFile("a.png", image_bytes())}, format="multipart")
    assert_refused(response, 400, "payload", "needs a 'payload' part")


def test_a_multipart_payload_that_is_not_json_names_it(api_client, nothing_written):
    response = api_client.post(URL, {"payload": "{oops"}, format="multipart")
    assert_refused(response, 400, "payload", "not valid json")
