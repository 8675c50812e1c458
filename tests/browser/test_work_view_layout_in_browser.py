"""The work view at 1440 px (the README's screenshot size): every category name of the model-scores panel on one
line, uncut, beside its score and never under it, and the decision card beside the item, not below the fold.

docs/work-view.png showed the fault this guards against: an empty LLM-opinions slot took a column of its own, the
scores panel was squeezed between the "prior · similarity" badges, "Scams & fraud" wrapped over three lines and
"Spam" was drawn under its score.
"""

import pytest

from classifiers.models import ModelVersion, PolicyCategory, Score
from tests.browser.conftest import sign_in
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"

# Per score row: the label's box, the number's box, and whether the label is cut (wider inside than shown).
MEASURE = """() => Array.from(document.querySelectorAll("ul.scores li")).map((li) => {
  const label = li.querySelector("label"), num = li.querySelector(".num");
  const l = label.getBoundingClientRect(), n = num.getBoundingClientRect(), style = getComputedStyle(label);
  return {name: label.textContent.trim(), lines: label.getClientRects().length, height: l.height,
          lineHeight: parseFloat(style.lineHeight) || 1.5 * parseFloat(style.fontSize),
          cut: label.scrollWidth > label.clientWidth, right: l.right, top: l.top, bottom: l.bottom,
          numLeft: n.left, numTop: n.top, numBottom: n.bottom};
})"""


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


def test_at_1440_px_every_category_name_sits_on_one_line_beside_its_score(browser, live_server):
    mira = make_user(username="mira", password=PASSWORD)
    queue = make_queue(members=[mira], name="Scams & spam")
    item = make_item(text="Subject: ADV: Interest rates slashed! Don't wait!")
    enqueue(item, queue)
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE, kind="text").first()
    categories = list(PolicyCategory.objects.filter(is_active=True))
    assert version is not None and len(categories) >= 7
    Score.objects.filter(item_id=item.pk).delete()
    # The widest case the demo shows: every score a prior raised by similarity, so each has the long badge.
    Score.objects.bulk_create(
        Score(item_id=item.pk, model_version=version, category=c, probability=0.69 if c.slug == "spam" else 0.02,
              from_prior=True, prior_source="similarity")
        for c in categories
    )  # fmt: skip
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server, "mira", PASSWORD)
        page.goto(f"{live_server.url}/queues/{queue.slug}/")
        page.wait_for_selector("ul.scores li .num")
        page.wait_for_load_state("networkidle")  # the LLM opinions slot has asked (and got nothing)
        rows = page.evaluate(MEASURE)
        assert {row["name"] for row in rows} >= {c.name for c in categories}
        for row in rows:
            assert row["lines"] == 1 and row["height"] < 1.6 * row["lineHeight"], f"{row['name']} wraps: {row}"
            assert not row["cut"], f"{row['name']} is cut short: {row}"
            beside = row["numTop"] < row["bottom"] and row["numBottom"] > row["top"]
            assert beside and row["right"] <= row["numLeft"], f"{row['name']} overlaps its score: {row}"
        decide = page.locator("section.decide").bounding_box()
        assert decide is not None and decide["y"] < 300, f"the decision card is below the item: {decide}"
    finally:
        context.close()
