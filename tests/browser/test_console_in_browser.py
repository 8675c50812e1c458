"""A lead in a real browser: search, pick items from the keyboard, decide them in bulk on a worker, undo."""

import pytest
from playwright.sync_api import expect

from queues.models import Decision, QueueEntry
from tests.browser.conftest import sign_in
from tests.browser.worker import running_worker
from tests.console.conftest import grant
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


@pytest.fixture
def lead():
    return grant(make_user(username="lena", password=PASSWORD), "run_bulk_actions")


@pytest.fixture
def spam_wave(lead):
    queue = make_queue(members=[lead], name="Scams & spam")
    items = [make_item(text=f"cheap followers wave {n}") for n in range(4)]
    for n, item in enumerate(items):
        enqueue(item, queue, sort_key=n)
    enqueue(make_item(text="a kind birthday message"), queue)
    return items


def test_a_lead_searches_selects_with_the_keyboard_decides_in_bulk_and_undoes(
    page, live_server, lead, spam_wave, tmp_path
):
    sign_in(page, live_server, "lena", PASSWORD)
    page.goto(f"{live_server.url}/console/")
    page.keyboard.press("/")
    page.keyboard.type("followers")
    page.keyboard.press("Enter")
    expect(page.locator("#results tr.result")).to_have_count(4)
    page.locator("body").click(position={"x": 5, "y": 5})
    for key in ["j", "x", "j", "j", "x"]:  # the newest and the third newest
        page.keyboard.press(key)
    expect(page.locator("#selected-count")).to_have_text("2")
    page.select_option("select[name=action]", "remove")
    page.check("input[name=category][value=spam]")
    page.click("button[name=scope][value=selected]")
    expect(page.locator("h1")).to_have_text("Decide 2 items?")
    assert not Decision.objects.exists()  # a confirmation decides nothing
    with running_worker(tmp_path):
        page.click("#confirm-bulk")
        expect(page.locator("#bulk-state")).to_have_text("Done", timeout=30_000)
    expect(page.locator("#bulk-counts")).to_contain_text("2 of 2 processed, 2 decided")
    decided = sorted(Decision.objects.values_list("item_id", flat=True))
    assert decided == sorted([spam_wave[3].pk, spam_wave[1].pk])
    page.click("#undo-bulk")
    expect(page.locator(".toast")).to_contain_text("Undid 2 decisions")
    assert not Decision.objects.exists()
    assert QueueEntry.objects.filter(status="pending").count() == 5


def test_a_lead_moves_items_to_another_queue_in_bulk_and_undoes_the_move(page, live_server, lead, spam_wave, tmp_path):
    second = make_queue(members=[lead], name="Second look")
    sign_in(page, live_server, "lena", PASSWORD)
    page.goto(f"{live_server.url}/console/?q=followers")
    page.check(f"input[name=item][value='{spam_wave[0].pk}']")
    page.check(f"input[name=item][value='{spam_wave[2].pk}']")
    page.select_option("#bulk-kind", "move")
    page.select_option("#bulk-queue", second.slug)
    page.click("button[name=scope][value=selected]")
    expect(page.locator("h1")).to_have_text("Move 2 items?")
    expect(page.locator("#confirm-summary")).to_contain_text("Second look")
    with running_worker(tmp_path):
        page.click("#confirm-bulk")
        expect(page.locator("#bulk-state")).to_have_text("Done", timeout=30_000)
    expect(page.locator("#bulk-counts")).to_contain_text("2 of 2 processed, 2 moved")
    assert QueueEntry.objects.filter(queue=second, status="pending").count() == 2
    page.click("#undo-bulk")
    expect(page.locator(".toast")).to_contain_text("Undid 2 moves")
    assert not QueueEntry.objects.filter(queue=second, status="pending").exists()
    assert not Decision.objects.exists()


def test_a_bulk_action_over_an_item_from_another_team_is_refused_in_the_browser(page, live_server, lead, spam_wave):
    other = make_queue(members=[make_user()], name="Another team")
    hidden = make_item(text="cheap followers elsewhere")
    enqueue(hidden, other)
    sign_in(page, live_server, "lena", PASSWORD)
    page.goto(f"{live_server.url}/console/?q=followers")
    expect(page.locator("#results tr.result")).to_have_count(4)  # the other team's item is not listed
    # A hand-made form that names it anyway.
    page.evaluate(
        """(hidden) => { const box = document.querySelector('input[name="item"]');
                         box.value = String(hidden); box.checked = true; }""",
        hidden.pk,
    )
    page.select_option("select[name=action]", "no_violation")
    with page.expect_response(lambda r: r.url.endswith("/console/bulk/confirm/")) as response:
        page.click("button[name=scope][value=selected]")
    assert response.value.status == 403
    expect(page.locator("#refusal")).to_contain_text("not in a queue you may see; nothing was done")
    assert not Decision.objects.exists()
