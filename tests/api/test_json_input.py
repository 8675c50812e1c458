"""Strict JSON input: deep nesting, invalid UTF-8, NUL and lone surrogates are a 400 naming the problem,
in a JSON body and in a multipart ``payload`` part alike; nothing is written."""

import json

import pytest

from api.json_input import text_depth, value_depth
from queues.models import Item
from tests.factories import image_bytes, item_payload


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[[[{{{{"}', 1),  # brackets inside a string do not nest
        ('{"a": "quote \\" then [[[["}', 1),  # nor after an escaped quote
        (nested(5000), 5000),
    ],
)
def test_text_depth_counts_containers_not_brackets_in_strings(text, depth):
    assert text_depth(text) == depth


def test_value_depth_walks_without_recursion():
    value: list = []
    for _ in range(5000):
        value = [value]
    assert value_depth(value) == 5001
    assert value_depth({"a": {"b": 1}}) == 2


def deep_metadata(depth: int) -> dict:
    metadata: dict = {}
    node = metadata
    for _ in range(depth - 1):
        node["x"] = {}
        node = node["x"]
    return metadata


@pytest.mark.django_db
def test_a_body_nested_a_thousand_levels_is_a_400_naming_the_limit(api_client, settings):
    body = '{"source": "s", "external_id": "e", "text": "t", "metadata": ' + nested(1000) + "}"
    response = api_client.post("/api/v1/items", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert f"deeper than {settings.API_MAX_JSON_DEPTH} levels" in response.json()["message"]
    assert "API_MAX_JSON_DEPTH" in response.json()["message"]
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_a_body_at_the_limit_is_parsed(api_client, settings):
    settings.API_MAX_JSON_DEPTH = 6
    payload = item_payload(metadata={"a": {"b": {"c": 1}}})  # body 1 + metadata 3 = 4 levels
    assert api_client.post("/api/v1/items", payload, format="json").status_code == 201
    payload = item_payload(metadata=deep_metadata(6))  # 1 + 6 = 7 levels
    assert api_client.post("/api/v1/items", payload, format="json").status_code == 400


@pytest.mark.django_db
def test_invalid_utf8_in_a_json_body_is_a_400(api_client):
    body = b'{"source": "s", "external_id": "e", "text": "Fahrl\xe4nder"}'
    response = api_client.post("/api/v1/items", body, content_type="application/json")
    assert response.status_code == 400
    assert "not valid UTF-8" in response.json()["message"]
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_a_lone_surrogate_in_metadata_is_a_400_naming_its_path(api_client):
    body = '{"source": "s", "external_id": "e", "text": "t", "metadata": {"note": "bad \\ud800 here"}}'
    response = api_client.post("/api/v1/items", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"metadata.note": ["Surrogate character U+D800 is not allowed."]}


@pytest.mark.django_db
def test_a_nul_in_a_key_is_a_400(api_client):
    body = '{"source": "s", "external_id": "e", "text": "t", "metadata": {"a\\u0000b": 1}}'
    response = api_client.post("/api/v1/items", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"metadata": ["A key: Null characters are not allowed."]}


@pytest.mark.django_db
def test_invalid_utf8_in_a_multipart_payload_part_is_a_400_not_replacement_characters(api_client):
    boundary = "BOUNDARY7"
    document = b'{"source": "s", "external_id": "e", "text": "Fahrl\xe4nder", "image_part": "img"}'
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'.encode()
        + document
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="img"; filename="a.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + image_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api_client.post("/api/v1/items", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400, response.content
    assert "not valid UTF-8" in response.json()["message"]
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_valid_utf8_in_a_multipart_payload_part_is_kept_exactly(api_client):
    document = json.dumps({"source": "s", "external_id": "e", "text": "Fahrländer \ufffd ok", "image_part": "img"})
    response = api_client.post("/api/v1/items", {"payload": document, "img": _png_upload()}, format="multipart")
    assert response.status_code == 201, response.content
    assert Item.objects.get().text == "Fahrländer \ufffd ok"


def _png_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("a.png", image_bytes(), content_type="image/png")


@pytest.mark.django_db
def test_metadata_deeper_than_its_limit_is_a_400_naming_the_field_and_the_setting(api_client, settings):
    payload = item_payload(metadata=deep_metadata(settings.MODERATION_MAX_METADATA_DEPTH + 1))
    response = api_client.post("/api/v1/items", payload, format="json")
    assert response.status_code == 400, response.content
    assert "MODERATION_MAX_METADATA_DEPTH" in response.json()["errors"]["metadata"][0]
    ok = item_payload(metadata=deep_metadata(settings.MODERATION_MAX_METADATA_DEPTH))
    assert api_client.post("/api/v1/items", ok, format="json").status_code == 201


@pytest.mark.django_db
def test_a_deep_multipart_payload_part_is_a_400_naming_the_limit(api_client):
    document = '{"source": "s", "external_id": "e", "text": "t", "metadata": ' + nested(1000) + "}"
    response = api_client.post("/api/v1/items", {"payload": document}, format="multipart")
    assert response.status_code == 400, response.content
    assert "API_MAX_JSON_DEPTH" in response.json()["errors"]["payload"][0]
    assert not Item.objects.exists()


DEEP_BODY_ENDPOINTS = [
    ("put", "/api/v1/items/{item}/ticket"),
    ("post", "/api/v1/items/{item}/decision"),
    ("post", "/api/v1/experiments"),
    ("post", "/api/v1/model-versions/rollback"),
    ("post", "/api/v1/webhooks/subscriptions"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), DEEP_BODY_ENDPOINTS)
def test_every_endpoint_that_takes_json_refuses_a_deep_body_with_a_400(method, path):
    from rest_framework.test import APIClient

    from tests.factories import make_item, make_token, make_user

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=['admin'], user=make_user(is_staff=True))[1]}")
    url = path.format(item=make_item().pk)
    response = getattr(client, method)(url, '{"a": ' + nested(1000) + "}", content_type="application/json")
    assert response.status_code == 400, (url, response.status_code, response.content[:200])
    assert "API_MAX_JSON_DEPTH" in response.json()["message"]


def test_an_image_part_sent_without_a_file_name_is_taken_as_the_image(api_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    # The schema's parts besides `payload` are `format: binary`; a client (schemathesis) may send one without a
    # file name, which Django reads as text: it was a 400 "not valid UTF-8" for a schema-valid request.
    boundary = "BOUNDARY8"
    document = b'{"source": "s", "external_id": "e", "image_part": "img"}'
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'.encode()
        + document
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="img"\r\n\r\n'.encode()
        + image_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api_client.post("/api/v1/items", body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 201, response.content
    assert Item.objects.get().image
