import os
from collections import defaultdict

import pytest
from rest_framework.test import APIClient

from tests.factories import make_queue, make_token, make_user


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


@pytest.fixture(autouse=True)
def fresh_exploration_yardstick(settings):
    # Routing reuses a measure of recent items for some seconds; in a test it must come from that test's items.
    settings.EXPLORATION_TYPICAL_SECONDS = 0


@pytest.fixture(autouse=True, scope="session")
def celery_broker_for_tests():
    """Messages sent by tests go to Redis when the suite has one, else stay in this process."""
    from moderation_site.celery_app import app

    app.conf.broker_url = os.environ.get("REDIS_URL", "memory://")
    app.conf.broker_transport_options = {}
    return app.conf.broker_url


@pytest.fixture(autouse=True)
def seed_data_for_transactional_tests(request):
    """A transactional test starts from what the data migrations seed, whatever ran before it.

    Each transactional test flushes every table when it ends; ``serialized_rollback`` puts the seed
    rows back only for tests that ask for it, so one that runs after a test without it would find no
    policy categories. Tests inside a transaction (the usual ``db``) keep the migrated data anyway.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not (marker.kwargs.get("transaction") or "transactional_db" in request.fixturenames):
        yield
        return
    request.getfixturevalue("transactional_db")
    from tests.seed import ensure_seed_data

    ensure_seed_data()
    yield


@pytest.fixture(autouse=True)
def fresh_content_type_cache():
    """Each test reads content types from its own database state, not from a cache filled before a flush.

    A transactional test's flush recreates the content types under new ids; the manager's process-wide cache
    kept the old ones, and the next admin change logged there (``django_admin_log``) failed its foreign key.
    """
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    yield


@pytest.fixture
def mira():
    """A moderator."""
    return make_user(username="mira")


@pytest.fixture
def queue(mira):
    """The queue Mira works."""
    return make_queue(members=[mira], name="Scams & spam")


@pytest.fixture
def sent_tasks(monkeypatch) -> dict[str, list]:
    """Messages to workers, recorded instead of sent: the first argument of each, by task name.

    Services send tasks by name (``current_app.signature(name).delay()``), so that no service imports a task
    module; a registered task's ``apply_async`` ends in ``app.send_task``, which this replaces.
    """
    from moderation_site.celery_app import app

    sent: dict[str, list] = defaultdict(list)

    def record(name: str, args: tuple = (), kwargs: dict | None = None, **options) -> None:
        sent[name].append(args[0] if args else None)

    monkeypatch.setattr(app, "send_task", record)
    return sent
