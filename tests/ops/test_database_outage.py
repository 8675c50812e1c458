"""With the database away, the API answers 503 + Retry-After in its JSON error shape and people get a plain
"try again" page; both recover when it is back. The outage is real: the connection points at a port where
no server listens, so psycopg's connect fails as it does during a restart."""

import contextlib
import json

import pytest
from django.db import connection
from django.test import Client, RequestFactory

from ops.errors import server_error
from tests.factories import make_token, make_user

# serialized_rollback: as every transactional test here, so the next one finds the content types it saved.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@contextlib.contextmanager
def database_away():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens on port 1: connection refused
    connection.settings_dict["HOST"] = "127.0.0.1"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def test_the_api_answers_503_with_retry_after_in_its_json_shape_while_the_database_is_away():
    _, secret = make_token(scopes=["items:read", "items:write"])
    client = Client(raise_request_exception=False)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    with database_away():
        listing = client.get("/api/v1/items", **auth)
        creating = client.post(
            "/api/v1/items", {"source": "s", "external_id": "e", "text": "t"}, content_type="application/json", **auth
        )
    for response in (listing, creating):
        assert response.status_code == 503
        assert response["Content-Type"] == "application/json"
        assert response["Retry-After"] == "10"
        assert response.json()["code"] == "service_unavailable"
        assert set(response.json()) == {"code", "message", "errors"}
    assert client.get("/api/v1/items", **auth).status_code == 200  # back without a restart


def test_a_signed_in_page_is_a_plain_try_again_page_while_the_database_is_away():
    user = make_user()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    with database_away():
        response = client.get("/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "10"
    assert b"try again" in response.content.lower()
    assert client.get("/").status_code == 200


def test_another_server_error_under_the_api_is_json_not_an_html_page():
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(RequestFactory().get("/api/v1/items"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["code"] == "server_error"
