"""Exposure budgets in a real browser: an admin sets a cap; past it, a reviewer is served other items and is told."""

import pytest
from playwright.sync_api import expect

from classifiers.models import PolicyCategory
from tests.browser.conftest import sign_in
from tests.factories import enqueue, make_item, make_queue, make_user
from wellness.models import ExposureCap

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


def test_an_admin_caps_a_category_and_the_reviewer_past_it_gets_other_items(page, live_server):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username="ada", password=PASSWORD, email="ada@example.org")
    mira = make_user(username="mira", password=PASSWORD)
    violent, other = PolicyCategory.objects.order_by("position")[:2]
    queue = make_queue(members=[mira], name="Mixed")
    for n in range(3):
        enqueue(make_item(text=f"graphic item {n}"), queue, sort_key=n, risk_category=violent.slug)
    enqueue(make_item(text="an ordinary item"), queue, sort_key=10, risk_category=other.slug)

    sign_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/admin/wellness/exposurecap/add/")
    page.select_option("#id_category", str(violent.pk))
    page.fill("#id_daily_cap", "2")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert ExposureCap.objects.get().daily_cap == 2
    page.context.clear_cookies()  # signed out

    sign_in(page, live_server, "mira", PASSWORD)
    page.goto(f"{live_server.url}/queues/{queue.slug}/")
    for n in range(2):
        page.wait_for_selector(f"text=graphic item {n}")
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("a")
    page.wait_for_selector("text=an ordinary item")  # the third graphic item is held back from her
    page.goto(f"{live_server.url}/")
    expect(page.locator("#exposure")).to_contain_text(f"You reached today's limit for {violent.name}")
