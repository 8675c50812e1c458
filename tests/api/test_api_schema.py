"""The OpenAPI schema and the browsable docs."""

import pytest
import yaml

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_the_schema_and_docs_need_a_staff_sign_in(client):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code == 302  # to the sign-in page
    client.force_login(make_user())
    assert client.get("/api/schema/").status_code == 403
    assert client.get("/api/docs/").status_code == 302


def test_the_schema_is_openapi_3_and_documents_the_items_operations(client):
    client.force_login(make_user(is_staff=True))
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    post = schema["paths"]["/api/v1/items"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert "examples" in post["requestBody"]["content"]["application/json"]
    assert {"200", "201", "400", "401", "403", "413"} <= set(post["responses"])
    assert "all or nothing" in post["description"]
    assert "/api/v1/items/{item_id}" in schema["paths"]
    assert schema["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"


def test_the_docs_page_loads_its_scripts_from_this_site_only(client):
    client.force_login(make_user(is_staff=True))
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>" not in html  # inline scripts are forbidden by the CSP
    assert "cdn" not in html.lower()
    assert "script-src 'self'" in response["Content-Security-Policy"]
