"""The OpenAPI schema and the browsable docs."""

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator

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


def test_the_schema_states_the_rules_the_server_enforces():
    """Each was a mismatch schemathesis found (a schema-valid request refused, or an invalid one accepted); the
    property-based test catches a regression too, these name it."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components, paths = schema["components"]["schemas"], schema["paths"]
    # Strict serializers refuse unknown fields, and text that is NUL or (when required) blank.
    assert components["TokenInRequest"]["additionalProperties"] is False
    assert components["AppealInRequest"]["additionalProperties"] is False
    assert components["AppealInRequest"]["properties"]["account"]["pattern"] == r"^[^\x00]*[^\x00\s][^\x00]*$"
    # Rules between fields, enums, formats and bounds.
    assert len(components["DecisionInRequest"]["anyOf"]) == 3
    assert {"required": ["image_base64"]} in components["ItemInRequest"]["anyOf"]
    assert components["ItemInRequest"]["properties"]["image_base64"]["format"] == "image-base64"
    assert components["SubscriptionRequest"]["properties"]["event_types"]["minItems"] == 1
    share = components["ExperimentInRequest"]["properties"]["share"]
    assert share["exclusiveMinimum"] is True and share["exclusiveMaximum"] is True
    event = components["EventIn"]["properties"]
    event_types = components[event["type"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]]["enum"]
    assert "login_failed" in event_types and "ipv4" in str(event["ip"])
    assert {"type": "number", "minimum": 0, "maximum": 999_999_999_999.99, "multipleOf": 0.01} in event["amount"][
        "anyOf"
    ]  # in cents, as the server takes it
    batch = components["EventBatchInRequest"]["properties"]["events"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 1000)
    assert components["SubscriptionRequest"]["additionalProperties"] is False
    # Bodies and query parameters.
    assert paths["/api/v1/events"]["post"]["requestBody"]["required"] is True
    items = {p["name"]: p["schema"] for p in paths["/api/v1/items"]["get"]["parameters"]}
    assert (items["score_min"]["minimum"], items["score_min"]["maximum"]) == (0, 1)
    assert items["source"]["pattern"] == r"^[^\x00]*$" and items["cursor"]["pattern"].startswith("^([0-9]")
    search = {p["name"]: p["schema"] for p in paths["/api/v1/items/search"]["get"]["parameters"]}
    assert search["limit"]["maximum"] == 100 and "queued" in search["state"]["enum"]
    multipart = paths["/api/v1/items"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert multipart["encoding"]["payload"]["contentType"] == "application/json"
    # Status codes: unknown references 404, state conflicts 409, the appeal's 401.
    assert "404" in paths["/api/v1/decisions"]["get"]["responses"]
    assert {"404", "409"} <= set(paths["/api/v1/experiments"]["post"]["responses"])
    assert "409" in paths["/api/v1/model-versions/rollback"]["post"]["responses"]
    assert "401" in paths["/api/v1/appeals"]["post"]["responses"]
