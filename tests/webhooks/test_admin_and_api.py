"""Managing subscriptions through the API (admin scope) and the admin; redelivering by hand. All audited."""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.factories import make_token, make_user
from webhooks.models import Delivery, DeliveryAttempt, WebhookSubscription
from webhooks.services import emit

pytestmark = pytest.mark.django_db

API = "/api/v1/webhooks/subscriptions"
HOOK = "https://tickets.example.com/moderation-hooks"


def client_with(scopes: list[str]) -> APIClient:
    client = APIClient()
    _, secret = make_token(scopes=scopes)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_an_admin_token_subscribes_and_gets_the_secret_once():
    client = client_with(["admin"])
    response = client.post(API, {"url": HOOK, "event_types": ["decision.created"]}, format="json")
    assert response.status_code == 201
    created = response.json()
    subscription = WebhookSubscription.objects.get()
    assert created["secret"] == subscription.secret and created["secret"].startswith("whsec_")
    listed = client.get(API).json()
    assert [row["url"] for row in listed] == [HOOK] and "secret" not in listed[0]
    assert "secret" not in client.get(f"{API}/{subscription.pk}").json()


def test_changes_and_deletion_through_the_api_are_audited_without_the_secret():
    client = client_with(["admin"])
    subscription_id = client.post(API, {"url": HOOK, "event_types": ["item.created"]}, format="json").json()["id"]
    response = client.patch(f"{API}/{subscription_id}", {"is_active": False}, format="json", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.delete(f"{API}/{subscription_id}").status_code == 204
    assert not WebhookSubscription.objects.exists()
    events = AuditEvent.objects.filter(object_type="webhooks.webhooksubscription").order_by("id")
    assert [e.action for e in events] == [
        "webhooksubscription.created", "webhooksubscription.changed", "webhooksubscription.deleted",
    ]  # fmt: skip
    changed = events[1]
    assert (changed.before["is_active"], changed.after["is_active"], changed.ip_address) == (True, False, "203.0.113.9")
    assert "whsec_" not in str([(e.before, e.after) for e in events])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": HOOK, "event_types": ["decision.made"]}, "event_types"),
        ({"url": HOOK, "event_types": []}, "event_types"),
        ({"url": "http://169.254.169.254/latest", "event_types": ["item.created"]}, "url"),
        ({"url": "ftp://tickets.example.com/", "event_types": ["item.created"]}, "url"),
        # A field the API does not know is a client's mistake (a typo of "is_active" would be lost): refused.
        ({"url": HOOK, "event_types": ["item.created"], "is_enabled": False}, "is_enabled"),
    ],
)
def test_a_bad_subscription_is_a_400_naming_the_field(body, field):
    response = client_with(["admin"]).post(API, body, format="json")
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["errors"])
    assert not WebhookSubscription.objects.exists()


def test_a_token_without_the_admin_scope_is_refused_and_anonymous_callers_must_authenticate(anonymous_client):
    client = client_with(["items:write", "items:read", "decisions:write"])
    assert client.get(API).status_code == 403
    assert client.post(API, {"url": HOOK, "event_types": ["item.created"]}, format="json").status_code == 403
    assert anonymous_client.get(API).status_code == 401
    assert not WebhookSubscription.objects.exists()


def test_the_schema_documents_the_subscription_operations(client):
    client.force_login(make_user(is_staff=True))
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert {"get", "post"} <= set(paths[API]) and {"get", "patch", "delete"} <= set(paths[API + "/{id}"])


@pytest.fixture
def superuser_client(client):
    admin = make_user(username="ada")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return client


def test_an_admin_creates_a_subscription_and_sees_its_secret(superuser_client):
    response = superuser_client.post(
        "/admin/webhooks/webhooksubscription/add/",
        {"url": HOOK, "description": "Helpdesk", "event_types": ["decision.created", "item.escalated"],
         "is_active": "on"},
        follow=True,
    )  # fmt: skip
    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["decision.created", "item.escalated"]
    assert subscription.created_by.username == "ada"
    assert subscription.secret in response.content.decode()  # shown once, in the message after saving
    page = superuser_client.get(f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/").content.decode()
    assert subscription.secret in page  # and always to superusers
    audit = AuditEvent.objects.get(action="webhooksubscription.created")
    assert audit.actor_label == "ada" and subscription.secret not in str(audit.after)


def test_staff_who_are_not_superusers_see_only_the_end_of_the_secret(client):
    staff = make_user(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__endswith="webhooksubscription"))
    client.force_login(staff)
    subscription = WebhookSubscription.objects.create(url=HOOK, event_types=["item.created"])
    page = client.get(f"/admin/webhooks/webhooksubscription/{subscription.pk}/change/").content.decode()
    assert subscription.secret not in page and subscription.secret[-4:] in page


def test_redeliver_starts_a_failed_delivery_over_and_is_audited(
    superuser_client, django_capture_on_commit_callbacks, sent_tasks
):
    sent = sent_tasks["webhooks.tasks.deliver"]
    subscription = WebhookSubscription.objects.create(url=HOOK, event_types=["decision.created"])
    emit(event_type="decision.created", payload={"decision_id": 7})
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(state="failed", attempts=12)
    DeliveryAttempt.objects.create(delivery=delivery, number=12, started_at=delivery.created_at, latency_ms=3,
                                   error="ConnectError: refused")  # fmt: skip
    page = superuser_client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
    assert "ConnectError: refused" in page  # the attempt log, inline

    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            "/admin/webhooks/delivery/", {"action": "redeliver", "_selected_action": [delivery.pk]}, follow=True
        )
    assert "1 deliveries will be sent again" in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    assert sent == [[delivery.pk]] and subscription.deliveries.count() == 1
    audit = AuditEvent.objects.get(action="webhook_delivery.redelivered")
    assert (audit.actor_label, audit.before["state"], audit.ip_address) == ("ada", "failed", "127.0.0.1")
