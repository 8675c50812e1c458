"""An admin builds a routing rule from rows in a real browser: inline checks, a preview against today's routing,
saved in shadow, and its would-have count shown beside the live rules."""

import pytest
from playwright.sync_api import expect

from intake.models import Item
from queues.enqueue import route_items
from queues.models import Queue, RoutingRule, ShadowRouting
from tests.browser.conftest import sign_in
from tests.factories import make_item

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


def test_an_admin_builds_previews_and_saves_a_shadow_rule(page, live_server):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username="ada", password=PASSWORD, email="ada@example.org")
    priority = Queue.objects.create(name="VIP reports", slug="vip")
    items = [make_item(text=f"t{n}") for n in range(3)]
    Item.objects.filter(pk__in=[i.pk for i in items[:2]]).update(source="vip", state=Item.State.QUEUED)
    Item.objects.filter(pk=items[2].pk).update(state=Item.State.QUEUED)

    sign_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/admin/queues/routingrule/add/")
    expect(page.locator("#rule-builder")).to_be_visible()
    expect(page.locator("#id_conditions")).to_be_hidden()  # the JSON stays underneath
    page.fill("#id_name", "VIP sources")
    page.click("#rb-add")
    row = page.locator(".rule-row").nth(0)
    row.locator("select.rb-field").select_option("source")
    row.locator("select.rb-op").select_option("==")
    row.locator(".rb-value input").fill("vip")
    page.click("#rb-add")
    second = page.locator(".rule-row").nth(1)
    second.locator("select.rb-field").select_option("risk")
    second.locator(".rb-value input").fill("1.5")
    expect(second.locator(".rb-error")).to_have_text("At most 1.")  # inline, before anything is sent
    second.locator(".rb-value input").fill("0")
    expect(second.locator(".rb-error")).to_have_text("")
    page.select_option("#id_queue", str(priority.pk))
    page.check("#id_is_shadow")
    page.click("input[name=_preview]")
    expect(page.locator("#routing-diff")).to_contain_text("2 of 3 items would go somewhere else")
    expect(page.locator("#routing-diff")).to_contain_text("VIP reports")
    assert not RoutingRule.objects.exists()  # a preview saves nothing
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    rule = RoutingRule.objects.get()
    assert rule.is_shadow
    assert rule.conditions == [
        {"field": "source", "op": "==", "value": "vip"},
        {"field": "risk", "op": ">=", "value": 0},
    ]

    arriving = make_item(text="new")
    Item.objects.filter(pk=arriving.pk).update(source="vip", state=Item.State.SCORED)
    route_items(item_ids=[arriving.pk])
    assert ShadowRouting.objects.filter(rule=rule, item_id=arriving.pk).exists()
    page.goto(f"{live_server.url}/admin/queues/routingrule/")
    expect(page.locator("td.field-would_have")).to_have_text("1")
