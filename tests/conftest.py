import os

import pytest
from rest_framework.test import APIClient

from tests.factories import make_token


@pytest.fixture
def api_client(db) -> APIClient:
    """A client holding a token with every items scope."""
    client = APIClient()
    _, secret = make_token(scopes=["items:read", "items:write"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The real hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def celery_broker_for_tests():
    """Messages sent by tests go to Redis when the suite has one, else stay in this process."""
    from moderation_site.celery_app import app

    app.conf.broker_url = os.environ.get("REDIS_URL", "memory://")
    app.conf.broker_transport_options = {}
    return app.conf.broker_url
