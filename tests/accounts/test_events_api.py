from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Account, AccountEvent, AccountSignals, EventReceipt, EventSourceGrant
from intake.models import Author
from tests.accounts.factories import event
from tests.factories import make_token

URL = "/api/v1/events"


def client_with(scopes: list[str]) -> tuple[APIClient, object]:
    token, secret = make_token(scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client, token


@pytest.fixture
def events_client(db) -> APIClient:
    return client_with(["events:write"])[0]


def test_it_stores_one_event_and_creates_its_account(events_client):
    response = events_client.post(URL, event("signup", account="u-9", ip="203.0.113.7", device_id="d1"), format="json")

    assert response.status_code == 201, response.json()
    assert response.json() == {"received": 1, "stored": 1, "already_received": 0}
    stored = AccountEvent.objects.get()
    assert (stored.type, str(stored.ip), stored.device_id) == ("signup", "203.0.113.7", "d1")
    assert stored.account.author.external_id == "u-9"
    assert AccountSignals.objects.get(account=stored.account).pending_since is not None


def test_a_batch_of_a_thousand_is_stored_in_one_request(events_client):
    batch = [event("message_sent", account=f"u-{n % 50}") for n in range(1000)]

    response = events_client.post(URL, {"events": batch}, format="json")

    assert response.status_code == 201, response.json()
    assert AccountEvent.objects.count() == 1000
    assert Account.objects.count() == 50


def test_a_retry_is_a_no_op(events_client):
    one = event("login_failed", ip="198.51.100.1")
    events_client.post(URL, {"events": [one]}, format="json")

    again = events_client.post(URL, {"events": [dict(reversed(list(one.items())))]}, format="json")

    assert again.status_code == 200
    assert again.json()["already_received"] == 1
    assert AccountEvent.objects.count() == 1


def test_the_same_id_with_other_content_is_a_409_naming_the_id_and_writes_nothing(events_client):
    first = event("login_failed", id="evt-clash")
    events_client.post(URL, first, format="json")
    fresh = event("login_failed", id="evt-fresh")

    response = events_client.post(URL, {"events": [fresh, {**first, "ip": "10.0.0.1"}]}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "event_id_conflict"
    assert "evt-clash" in response.json()["message"] and "events[1].id" in response.json()["message"]
    assert not EventReceipt.objects.filter(event_id="evt-fresh").exists()
    assert AccountEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"type": "teleported"}, "events[1].type", "unknown event type 'teleported'"),
        ({"colour": "red"}, "events[1].colour", "Unknown field 'colour'"),
        ({"ip": "300.1.2.3"}, "events[1].ip", "not an IPv4 or IPv6 address"),
        ({"amount": "9.99"}, "events[1]", "'amount' needs 'currency'"),
        ({"occurred_at": "2026-01-01T00:00:00Z", "ip": "300.1.2.3"}, "events[1].occurred_at", "days in the past"),
        ({"country": "nl"}, "events[1].country", "should match pattern"),
        ({"payment_fingerprint": "4111 1111 1111 1111"}, "events[1].payment_fingerprint", "card number"),
        ({"occurred_at": "2026-12-06T10:00:00"}, "events[1].occurred_at", "timezone"),
        # The schema says integer: a boolean or a numeric string is not quietly turned into one (schemathesis).
        ({"distinct_creators": False}, "events[1].distinct_creators", "valid integer"),
        ({"request_count": "5"}, "events[1].request_count", "valid integer"),
        ({"window_seconds": 60.0}, "events[1].window_seconds", "valid integer"),
    ],
)
def test_one_bad_event_refuses_the_whole_batch_naming_the_problem(events_client, change, path, words):
    response = events_client.post(
        URL, {"events": [event("signup"), {**event("login_failed"), **change}]}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert path in body["errors"], body
    assert words.lower() in " ".join(body["errors"][path]).lower()
    assert not AccountEvent.objects.exists() and not EventReceipt.objects.exists()


def test_an_event_far_in_the_future_is_refused(events_client):
    response = events_client.post(URL, event(at=timezone.now() + timedelta(hours=2)), format="json")

    # 409, not 400: the time is well formed (the schema allows it), the server's clock refuses it.
    assert response.status_code == 409
    assert "in the future" in response.json()["errors"]["occurred_at"][0]
    assert not AccountEvent.objects.exists()


def test_an_event_too_old_is_a_conflict_with_the_clock_not_malformed_input(events_client):
    response = events_client.post(
        URL, {"events": [event("signup"), event("login_failed", at=timezone.now() - timedelta(days=30))]}, format="json"
    )

    assert response.status_code == 409
    assert "days in the past" in response.json()["errors"]["events[1].occurred_at"][0]
    assert not AccountEvent.objects.exists() and not EventReceipt.objects.exists()


def test_a_batch_over_a_thousand_is_refused_before_anything_is_checked(events_client):
    response = events_client.post(URL, {"events": [event() for _ in range(1001)]}, format="json")

    assert response.status_code == 400
    assert "At most 1000" in response.json()["errors"]["events"][0]


def test_a_traffic_summary_needs_its_counts(events_client):
    response = events_client.post(URL, event("traffic_summary", distinct_creators=3), format="json")

    assert response.status_code == 400
    assert "request_count" in response.json()["message"]


def test_events_need_the_events_write_scope(db):
    client, _ = client_with(["items:write"])

    response = client.post(URL, event(), format="json")

    assert response.status_code == 403
    assert "events:write" in response.json()["message"]


def test_anonymous_callers_are_refused(anonymous_client, db):
    assert anonymous_client.post(URL, event(), format="json").status_code == 401


def test_get_is_closed_because_no_scope_allows_it(events_client):
    # HasTokenScope refuses any method a view declares no scope for, before DRF's 405.
    assert events_client.get(URL).status_code == 403


def test_a_token_limited_to_a_source_cannot_send_another_sources_events(db):
    client, token = client_with(["events:write"])
    EventSourceGrant.objects.create(token=token, source="creatorhub")

    refused = client.post(URL, {"events": [event(source="creatorhub"), event(source="otherapp")]}, format="json")
    allowed = client.post(URL, event(source="creatorhub"), format="json")

    assert refused.status_code == 403
    assert refused.json()["code"] == "source_not_allowed"
    assert "otherapp" in refused.json()["message"]
    assert allowed.status_code == 201
    assert AccountEvent.objects.count() == 1


def test_an_event_account_is_the_author_of_that_sources_content(events_client):
    author = Author.objects.create(source="tests", external_id="u-42", handle="@fortytwo")

    events_client.post(URL, event("login_succeeded", account="u-42"), format="json")
    events_client.post(URL, event("login_succeeded", account="u-42", source="elsewhere"), format="json")

    assert AccountEvent.objects.filter(account_id=author.pk).count() == 1
    assert Author.objects.filter(external_id="u-42").count() == 2
    assert Author.objects.get(pk=author.pk).handle == "@fortytwo"


def test_the_schema_documents_the_events_operation(events_client, admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/v1/events"]["post"]
    assert operation["operationId"] == "events_create"
    assert "EventIn" in str(schema["components"]["schemas"])
