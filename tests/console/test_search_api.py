"""GET /api/v1/items/search: the console's search for tokens, with the page's filters, visibility and pages."""

import yaml
from rest_framework.test import APIClient

from tests.factories import make_token, make_user


def _client(user, scopes=("items:read",)) -> APIClient:
    _, secret = make_token(scopes=list(scopes), user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_token_finds_only_items_of_its_users_queues_newest_first(team, lead):
    response = _client(lead).get("/api/v1/items/search", {"q": "followers"})
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == sorted((i.pk for i in team["items"]), reverse=True)
    assert body["next_before"] is None
    assert body["results"][0]["queue"] == "Scams & fraud" and body["results"][0]["state"] == "queued"


def test_pages_are_keyset_pages(team, lead):
    client = _client(lead)
    first = client.get("/api/v1/items/search", {"q": "followers", "limit": 2}).json()
    assert len(first["results"]) == 2 and first["next_before"] == first["results"][-1]["id"]
    rest = client.get("/api/v1/items/search", {"q": "followers", "limit": 2, "before": first["next_before"]}).json()
    assert [r["id"] for r in rest["results"]] == [team["items"][0].pk] and rest["next_before"] is None


def test_bad_values_are_a_400_naming_each_parameter(team, lead):
    response = _client(lead).get(
        "/api/v1/items/search", {"risk_min": "high", "limit": 0, "before": "x", "created_from": ""}
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {"risk_min", "limit", "before", "created_from"} <= set(errors)


def test_a_queue_the_user_does_not_work_or_an_unknown_category_is_a_404_naming_it(team, lead):
    # Well-formed requests about what is not there for this user (schemathesis found them answered 400).
    for params, name in (({"queue": team["other"].slug}, "queue"), ({"category": "nudity"}, "category")):
        response = _client(lead).get("/api/v1/items/search", params)
        assert response.status_code == 404 and name in response.json()["errors"]


def test_a_reversed_range_or_a_score_range_without_a_category_is_answered_not_refused(team, lead):
    for params in ({"score_min": 0.9, "score_max": 0.1}, {"score_min": 0.5}, {"risk_min": 5, "risk_max": 1}):
        response = _client(lead).get("/api/v1/items/search", params)
        assert response.status_code == 200, (params, response.json())
    assert _client(lead).get("/api/v1/items/search", {"risk_min": 5, "risk_max": 1}).json()["results"] == []


def test_a_token_without_the_scope_or_without_a_token_is_refused(team, lead):
    assert _client(lead, scopes=("events:write",)).get("/api/v1/items/search").status_code == 403
    assert APIClient().get("/api/v1/items/search").status_code == 401


def test_the_search_is_in_the_openapi_schema(client, db):
    client.force_login(make_user(is_staff=True))
    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"]["/api/v1/items/search"]["get"]
    assert {"q", "queue", "state", "category", "score_min", "before", "limit"} <= {
        p["name"] for p in operation["parameters"]
    }
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
