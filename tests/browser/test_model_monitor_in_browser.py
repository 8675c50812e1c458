"""An admin asks for fresh model figures in a real browser: the page waits for the worker, then reloads itself."""

import pytest

from classifiers.models import ModelVersion
from learning.models import ModelHealth
from tests.browser.conftest import sign_in
from tests.factories import make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


def test_recompute_now_polls_until_the_worker_is_done_then_reloads(page, live_server):
    from learning.tasks import refresh_model_health

    make_user(username="ada", password=PASSWORD, is_staff=True)
    version = ModelVersion.objects.get(kind="text", status="active")
    sign_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/models/{version.pk}/")
    page.click("text=Recompute now")
    polling = f'p[hx-get^="/models/{version.pk}/status"]'
    page.wait_for_selector(polling)
    page.wait_for_timeout(2500)  # at least one poll answered 204: the page stays as it is
    assert page.locator(polling).count() == 1
    assert not ModelHealth.objects.exists()

    refresh_model_health.apply(args=[version.pk])  # what the worker runs
    page.wait_for_selector("text=Recompute now", timeout=10_000)  # the poll saw fresh figures and reloaded
    assert page.locator(polling).count() == 0
    assert page.locator("#health .badge.insufficient").count() == 1  # no labels yet: the figures say so
