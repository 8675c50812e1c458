"""Who may call the items API: tokens, scopes, revocation, expiry, sessions."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from intake.models import Item
from tests.factories import item_payload, make_token, make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/items"


def client_with(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_request_without_a_token_is_a_401_with_a_bearer_challenge(anonymous_client):
    response = anonymous_client.post(URL, item_payload(), format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"
    assert anonymous_client.get(f"{URL}/1").status_code == 401
    assert Item.objects.count() == 0


@pytest.mark.parametrize(
    "header",
    ["Bearer mod_deadbeef_notarealsecret", "Bearer garbage", "Token abc", "Bearer ", "Basic dXNlcjpwYXNz"],
)
def test_an_unknown_or_malformed_token_is_a_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(URL, item_payload(), format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_token_with_a_known_prefix_but_wrong_secret_is_a_401():
    token, secret = make_token(scopes=["items:write"])
    response = client_with(secret[:-2] + "xx").post(URL, item_payload(), format="json")
    assert response.status_code == 401


def test_a_revoked_token_stops_working_at_once():
    token, secret = make_token(scopes=["items:write"])
    client = client_with(secret)
    assert client.post(URL, item_payload(1), format="json").status_code == 201
    token.revoked_at = timezone.now()
    token.save()
    response = client.post(URL, item_payload(2), format="json")
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]
    assert Item.objects.count() == 1


def test_an_expired_token_is_a_401():
    _, secret = make_token(scopes=["items:write"], expires_at=timezone.now() - timedelta(seconds=1))
    response = client_with(secret).post(URL, item_payload(), format="json")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_a_token_of_an_inactive_user_is_a_401():
    user = make_user()
    _, secret = make_token(scopes=["items:write"], user=user)
    user.is_active = False
    user.save()
    assert client_with(secret).post(URL, item_payload(), format="json").status_code == 401


def test_each_operation_needs_its_scope():
    _, read_only = make_token(scopes=["items:read"])
    _, write_only = make_token(scopes=["items:write"])
    created = client_with(write_only).post(URL, item_payload(), format="json")
    assert created.status_code == 201

    refused = client_with(read_only).post(URL, item_payload(), format="json")
    assert refused.status_code == 403
    assert "items:write" in refused.json()["message"]
    assert client_with(write_only).get(f"{URL}/{created.json()['id']}").status_code == 403
    assert client_with(read_only).get(f"{URL}/{created.json()['id']}").status_code == 200


def test_the_secret_is_stored_only_as_a_hash_and_use_is_recorded():
    token, secret = make_token(scopes=["items:read"])
    assert secret not in token.secret_hash and len(token.secret_hash) == 64
    assert token.last_used_at is None
    client_with(secret).get(f"{URL}/1")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_staff_session_may_use_the_api_but_a_moderator_session_may_not():
    staff, moderator = APIClient(), APIClient()
    staff.force_login(make_user(is_staff=True))
    moderator.force_login(make_user())
    assert staff.post(URL, item_payload(1), format="json").status_code == 201
    assert moderator.post(URL, item_payload(2), format="json").status_code == 403


def test_a_session_post_without_csrf_token_is_refused():
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(make_user(is_staff=True))
    response = client.post(URL, item_payload(), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]


def test_the_admin_shows_a_new_tokens_secret_once_and_it_works(client):
    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    response = client.post(
        "/admin/api/apitoken/add/",
        {"name": "Zendesk bridge", "user": admin.pk, "scopes": ["items:write"]},
        follow=True,
    )
    assert response.status_code == 200
    [message] = [str(m) for m in response.context["messages"] if "secret is" in str(m)]
    secret = message.split("secret is ")[1].split(" ")[0]
    token = ApiToken.objects.get(name="Zendesk bridge")
    assert token.matches(secret)
    assert client_with(secret).post(URL, item_payload(), format="json").status_code == 201
    listing = client.get("/admin/api/apitoken/")
    assert secret not in listing.content.decode()
    change = client.get(f"/admin/api/apitoken/{token.pk}/change/")
    assert secret not in change.content.decode()


def test_the_admin_revoke_action_revokes(client):
    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    token, secret = make_token(scopes=["items:write"])
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert client_with(secret).post(URL, item_payload(), format="json").status_code == 401


def test_use_is_recorded_at_most_once_a_minute():
    token, secret = make_token(scopes=["items:write"])
    client = client_with(secret)
    recent = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recent)
    assert client.post(URL, item_payload(), format="json").status_code == 201
    token.refresh_from_db()
    assert token.last_used_at == recent
    stale = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    assert client.post(URL, item_payload(), format="json").status_code == 201
    token.refresh_from_db()
    assert token.last_used_at > stale + timedelta(minutes=1)


def test_the_token_and_its_user_load_as_the_orm_loads_them():
    from django.contrib.auth import get_user_model

    from api.authentication import _token_with_user

    user = make_user(is_staff=True)
    token, _ = make_token(scopes=["items:read", "admin"], user=user, expires_at=timezone.now() + timedelta(days=1))
    loaded = _token_with_user(token.prefix)
    expected = ApiToken.objects.select_related("user").get(pk=token.pk)
    for model, mine, theirs in ((ApiToken, loaded, expected), (get_user_model(), loaded.user, expected.user)):
        for field in model._meta.concrete_fields:
            value, wanted = getattr(mine, field.attname), getattr(theirs, field.attname)
            assert (value, type(value)) == (wanted, type(wanted)), field.name
    assert _token_with_user("00000000") is None
