"""Rate limiting per API token: 429 with Retry-After in the error format, counted per token."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from intake.models import Item
from tests.factories import item_payload, make_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def three_a_minute(settings):
    settings.API_RATE_LIMIT = "3/min"
    cache.clear()
    yield
    cache.clear()


def client_for(*scopes: str) -> APIClient:
    client = APIClient()
    _, secret = make_token(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_the_request_over_the_limit_is_a_429_with_retry_after_and_the_error_body():
    client = client_for("items:read")
    assert [client.get("/api/v1/items").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/items")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    # The message names the same wait as Retry-After ("in 1 second." when the window is all but over).
    assert body["code"] == "throttled" and f"in {response['Retry-After']} second" in body["message"]
    assert body["errors"] == {}


def test_each_token_has_its_own_budget():
    first, second = client_for("items:read"), client_for("items:read")
    for _ in range(3):
        first.get("/api/v1/items")
    assert first.get("/api/v1/items").status_code == 429
    assert second.get("/api/v1/items").status_code == 200


def test_a_batch_counts_as_one_request_and_a_refused_batch_writes_nothing():
    writer = client_for("items:write")
    batch = {"items": [item_payload() for _ in range(50)]}
    assert writer.post("/api/v1/items", batch, format="json").status_code == 200
    assert writer.post("/api/v1/items", {"items": [item_payload()]}, format="json").status_code == 200
    assert writer.post("/api/v1/items", item_payload(), format="json").status_code == 201
    assert Item.objects.count() == 52
    refused = writer.post("/api/v1/items", {"items": [item_payload() for _ in range(5)]}, format="json")
    assert refused.status_code == 429
    assert Item.objects.count() == 52


def test_an_empty_limit_turns_throttling_off(settings):
    settings.API_RATE_LIMIT = ""
    client = client_for("items:read")
    assert {client.get("/api/v1/items").status_code for _ in range(10)} == {200}


def test_racing_requests_never_take_more_than_the_limit(settings):
    """Eight threads, 80 calls, one token, 20 a minute: exactly 20 pass (an atomic counter, not a read-modify-write)."""
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace

    from api.models import ApiToken
    from api.throttling import TokenRateThrottle

    settings.API_RATE_LIMIT = "20/min"
    request = SimpleNamespace(auth=ApiToken(prefix="racing"), user=None)
    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(lambda _: TokenRateThrottle().allow_request(request, None), range(80)))
    assert allowed.count(True) == 20
    refused = TokenRateThrottle()
    assert refused.allow_request(request, None) is False and 1 <= refused.wait() <= 60


def test_a_cache_that_cannot_be_reached_lets_requests_through():
    from django.test import override_settings

    client = client_for("items:read")
    # Django's test signals rebuild the cache handler when CACHES changes: nothing listens on port 1.
    unreachable = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    with override_settings(CACHES={"default": unreachable}):
        assert [client.get("/api/v1/items").status_code for _ in range(5)] == [200] * 5
