"""Every API operation enforces its declared scope: each URL pattern under api/v1/, each method, each scope.

The allowed matrix comes from each view's ``required_scope``, so a new endpoint that declares none
fails here (and is refused to everyone by ``HasTokenScope`` meanwhile).
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from api.models import ApiToken
from api.permissions import StaffUsersOnly, scopes_for
from tests.factories import make_token, make_user

ALL_SCOPES = [scope.value for scope in ApiToken.Scope]
REFUSED_CODES = {"not_authenticated", "authentication_failed", "permission_denied"}


SAMPLE_VALUES = {"int": "1", "slug": "x", "str": "x", "uuid": "00000000-0000-0000-0000-000000000000", "path": "x"}


def _patterns(patterns: list, prefix: str) -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            found.append((prefix + str(pattern.pattern), pattern))
    return found


def api_operations() -> list[tuple[str, type, str]]:
    """(concrete path, view class, method) for every pattern under ``api/v1/`` and every method its view has."""
    operations = []
    for route, pattern in _patterns(get_resolver().url_patterns, ""):
        if not route.startswith("api/v1/"):
            continue
        view = getattr(pattern.callback, "cls", None)
        assert view is not None and issubclass(view, APIView), f"{route} is not a DRF view"
        path = "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES[m.group(1) or "str"], route)
        methods = [m.upper() for m in view.http_method_names if hasattr(view, m) and m not in {"options", "head"}]
        operations += [(path, view, method) for method in methods]
    return operations


OPERATIONS = api_operations()


def test_the_enumeration_sees_every_operation_of_the_api():
    seen = {(path, method) for path, _, method in OPERATIONS}
    assert {("/api/v1/items", "GET"), ("/api/v1/items", "POST"), ("/api/v1/items/1/decision", "POST"),
            ("/api/v1/items/1/ticket", "PUT"), ("/api/v1/decisions", "GET"), ("/api/v1/labels", "GET"),
            ("/api/v1/queues", "GET"), ("/api/v1/categories", "GET"), ("/api/v1/model-versions", "GET"),
            ("/api/v1/entries/1/decision", "POST")} <= seen  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "view", "method"), OPERATIONS, ids=[f"{m} {p}" for p, _, m in OPERATIONS])
def test_each_operation_admits_exactly_the_scopes_it_declares(path, view, method):
    declared = scopes_for(view, method)
    assert declared, f"{view.__name__} declares no required_scope for {method}"
    assert set(declared) <= set(ALL_SCOPES), f"{view.__name__} names an unknown scope: {declared}"

    anonymous = APIClient().generic(method, path, "{}", content_type="application/json")
    assert anonymous.status_code == 401, (method, path, anonymous.status_code)
    assert anonymous.json()["code"] == "not_authenticated"

    # Bulk content (training snapshots) is for staff users' tokens only (api.permissions.StaffUsersOnly).
    user = make_user(is_staff=StaffUsersOnly in getattr(view, "permission_classes", []))
    for scope in ALL_SCOPES:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=[scope], user=user)[1]}")
        response = client.generic(method, path, "{}", content_type="application/json")
        body = response.json() if response.content else None
        code = body.get("code") if isinstance(body, dict) else None
        if scope in declared or scope == ApiToken.Scope.ADMIN:
            assert response.status_code != 401 and code not in REFUSED_CODES, (scope, method, path, body)
        else:
            assert (response.status_code, code) == (403, "permission_denied"), (scope, method, path)


@pytest.mark.django_db
def test_an_empty_scope_list_is_refused_on_every_operation():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(scopes=[])[1]}")
    for path, _, method in OPERATIONS:
        response = client.generic(method, path, "{}", content_type="application/json")
        assert response.status_code == 403, (method, path)


@pytest.mark.django_db
def test_the_admin_form_offers_the_new_scopes_and_refuses_unknown_ones(client):
    admin = make_user(is_staff=True)
    admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    page = client.get("/admin/api/apitoken/add/").content.decode()
    assert 'value="decisions:read"' in page and 'value="admin"' in page
    refused = client.post("/admin/api/apitoken/add/", {"name": "typo", "user": admin.pk, "scopes": ["items:reed"]})
    assert refused.status_code == 200 and not ApiToken.objects.filter(name="typo").exists()
    client.post("/admin/api/apitoken/add/", {"name": "data team", "user": admin.pk, "scopes": ["decisions:read"]})
    assert ApiToken.objects.get(name="data team").scopes == ["decisions:read"]
