"""A moderator in a real browser: sign in, work items from the keyboard, reveal images, and no XSS."""

import pytest

from intake.display_images import make_display_image
from intake.images import check_image
from intake.models import Item
from intake.payloads import AuthorSubmission, ItemSubmission, ReportSubmission
from intake.submission import submit_items
from queues.models import Decision
from review.models import Label
from tests.browser.conftest import sign_in
from tests.factories import enqueue, image_bytes, make_queue, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


@pytest.fixture
def mira():
    return make_user(username="mira", password=PASSWORD)


def submit(external_id: str, **fields) -> Item:
    [result] = submit_items(submissions=[ItemSubmission(source="browser", external_id=external_id, **fields)])
    return Item.objects.get(pk=result.item_id)


def test_a_moderator_works_five_items_with_the_keyboard_only(page, live_server, mira):
    queue = make_queue(members=[mira], name="Scams & spam")
    items = [submit(f"k{i}", text=f"keyboard item {i}") for i in range(5)]
    for index, item in enumerate(items):
        enqueue(item, queue, sort_key=index)
    sign_in(page, live_server, "mira", PASSWORD)
    page.goto(f"{live_server.url}/queues/{queue.slug}/")
    keys = [["1", "r"], ["a"], ["2", "r"], ["a"], ["1", "2", "r"]]
    for index, presses in enumerate(keys):
        page.wait_for_selector(f"text=keyboard item {index}")
        page.locator("body").click(position={"x": 5, "y": 5})  # focus the page, not a field
        for key in presses:
            page.keyboard.press(key)
        if index < 4:
            page.wait_for_selector(f"text=keyboard item {index + 1}")
    page.wait_for_selector("text=The queue is empty")
    decisions = {d.item.text: d for d in Decision.objects.select_related("item")}
    assert [decisions[f"keyboard item {i}"].action for i in range(5)] == [
        "remove", "no_violation", "remove", "no_violation", "remove",
    ]  # fmt: skip
    removed_as = {
        item.text: sorted(Label.objects.filter(item=item, value=True).values_list("category__slug", flat=True))
        for item in items
    }
    assert removed_as["keyboard item 0"] == ["spam"]
    assert removed_as["keyboard item 2"] == ["scam_fraud"]
    assert removed_as["keyboard item 4"] == ["scam_fraud", "spam"]
    assert removed_as["keyboard item 1"] == []


def test_images_arrive_blurred_and_v_reveals_them(page, live_server, mira):
    queue = make_queue(members=[mira], name="Images")
    image = check_image(image_bytes("PNG", (200, 150)), max_bytes=10**7, max_pixels=10**7)
    enqueue(submit("img", image=image), queue)
    make_display_image(image.storage_name)  # what the worker does after the item is saved
    sign_in(page, live_server, "mira", PASSWORD)
    page.goto(f"{live_server.url}/queues/{queue.slug}/")
    picture = page.locator("#item-image")
    picture.wait_for()
    assert "blurred" in picture.get_attribute("class")
    assert (
        page.evaluate("document.getElementById('item-image').naturalWidth") == 200
    )  # the authenticated view served it
    page.keyboard.press("v")
    assert "blurred" not in picture.get_attribute("class")
    page.keyboard.press("g")
    assert "grayscale" in picture.get_attribute("class")


PAYLOADS = [
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss='img'\">",
    '"><svg onload="window.__xss=\'svg\'">',
    "<a href=\"javascript:window.__xss='link'\">click</a>",
    "<iframe srcdoc=\"<script>parent.__xss='iframe'</script>\"></iframe>",
    "</textarea><script>window.__xss='textarea'</script>",
    "{{ 7*7 }} {% csrf_token %} <style>body{display:none}</style>",
    '<div hx-get="/" hx-trigger="load" hx-on::after-request="window.__xss=\'htmx\'">x</div>',
]


def test_a_page_full_of_xss_payloads_runs_no_script(page, live_server, mira):
    queue = make_queue(members=[mira], name="Hostile")
    payload = "\n".join(PAYLOADS)
    author_item = submit(
        "xss-author",
        text="first by this author " + PAYLOADS[1],
        author=AuthorSubmission(external_id="evil", handle=PAYLOADS[2]),
    )
    item = submit(
        "xss",
        text=payload,
        author=AuthorSubmission(external_id="evil", handle=PAYLOADS[2]),
        metadata={PAYLOADS[0]: PAYLOADS[1], "note": PAYLOADS[7]},
        reports=[ReportSubmission(reason="spam", text=p, reporter_id=p[:200]) for p in PAYLOADS],
    )
    enqueue(item, queue, sort_key=0)
    enqueue(author_item, queue, sort_key=1)
    dialogs, errors = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server, "mira", PASSWORD)
    page.goto(f"{live_server.url}/queues/{queue.slug}/")
    page.wait_for_selector(".item-text")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert page.locator(".item-text").first.inner_text().startswith("<script>")  # shown as text
    # Decide it, so the author-history panel of the next item renders the payloads too.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("a")
    page.wait_for_selector("text=first by this author")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.locator("iframe").count() == 0 and page.locator("svg").count() == 0
