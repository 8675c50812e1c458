"""A crowd labeler in a real browser: three blind tasks answered from the keyboard, nothing the CSP blocks."""

import pytest

from classifiers.models import PolicyCategory
from labeling import crowd
from labeling.models import CrowdAssignment
from tests.browser.conftest import sign_in
from tests.factories import make_item, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


def test_a_crowd_labeler_answers_three_tasks_with_number_keys(page, live_server):
    labeler = make_user(username="lee", password=PASSWORD)
    labeler.groups.add(crowd.crowd_group())
    items = [make_item(text=f"crowd item {i} mail me at someone{i}@example.com") for i in range(3)]
    categories = list(PolicyCategory.objects.filter(slug__in=["spam", "scam_fraud"]))
    task_set = crowd.create_task_set(
        name="Browser set", categories=categories, item_ids=[i.pk for i in items], labels_per_item=1, gold_rate=0
    )
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else 0)
    sign_in(page, live_server, "lee", PASSWORD)
    page.goto(f"{live_server.url}/labeling/crowd/sets/{task_set.pk}/next")
    options = crowd.answer_options(task_set)
    for index, key in enumerate(["1", "0", "2"]):
        page.wait_for_selector(f"text=crowd item {index}")
        assert "@example.com" not in page.content()
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press(key)
        if index < 2:
            page.wait_for_selector(f"text=crowd item {index + 1}")
    page.wait_for_selector("text=Nothing left for you")
    answers = dict(CrowdAssignment.objects.filter(labeler=labeler).values_list("task__item__text", "answer"))
    assert [answers[item.text] for item in items] == [options[1], options[0], options[2]]
    assert blocked == []
