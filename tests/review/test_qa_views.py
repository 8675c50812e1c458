"""QA review pages and the seniors' escalations: allowed, non-senior, anonymous, wrong method, htmx, bad input."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from queues.models import Decision
from review.claims import claim_next_item, escalate_item
from review.decisions import record_decision
from review.models import Label, QAReview
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def sam(queue):
    group = Group.objects.create(name="Senior moderators")
    group.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    user = make_user(username="sam")
    user.groups.add(group)
    queue.members.add(user)
    return user


@pytest.fixture
def as_sam(sam) -> Client:
    client = Client()
    client.force_login(sam)
    return client


@pytest.fixture
def as_mira(mira) -> Client:
    client = Client()
    client.force_login(mira)
    return client


def decide(queue, reviewer, *, action="remove", categories=("spam",), note="", text=None) -> Decision:
    enqueue(make_item(text=text), queue)
    claim = claim_next_item(queue=queue, user=reviewer)
    [decision] = record_decision(
        entry_id=claim.entry_id, token=claim.token, user=reviewer, action=action, categories=list(categories), note=note
    )
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    return decision


def urls(decision: Decision) -> dict[str, str]:
    base = f"/qa/decisions/{decision.pk}/"
    return {"sample": base, "reveal": base + "reveal", "verdict": base + "verdict"}


# the blind sample, the reveal, the verdict


def test_qa_sends_a_senior_to_a_sample_at_its_own_url_without_showing_the_decision(as_sam, queue, mira):
    decision = decide(queue, mira, note="obvious promo NOTE-7", text="Cheap watches <b>here</b>")
    response = as_sam.get("/qa/")
    assert response.status_code == 302 and response["Location"] == urls(decision)["sample"]
    page = as_sam.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html and "Cheap watches &lt;b&gt;here&lt;/b&gt;" in html
    assert "Your call" in html and 'id="approve"' in html
    assert "NOTE-7" not in html and "Original decision" not in html and "mira" not in html


def test_the_reveal_shows_the_original_decision_next_to_the_seniors_call(as_sam, queue, mira):
    decision = decide(queue, mira, note="obvious promo NOTE-7")
    response = as_sam.get(urls(decision)["reveal"], {"action": "no_violation"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Original decision" in html and "NOTE-7" in html and "by mira" in html
    assert "differs" in html and 'id="qa-agree"' in html and 'id="qa-overturn"' in html
    assert re.search(r'name="action" value="no_violation" checked', html)
    same = as_sam.get(urls(decision)["reveal"], {"action": "remove", "categories": "spam"})
    assert "same as the original" in same.content.decode()
    assert QAReview.objects.count() == 0  # looking writes nothing


def test_a_bad_call_is_400_and_the_sample_stays_blind(as_sam, queue, mira):
    decision = decide(queue, mira, note="NOTE-7")
    for params in ({"action": "remove"}, {"action": "nuke"}, {}, {"action": "remove", "categories": "nudity"}):
        response = as_sam.get(urls(decision)["reveal"], params, **HTMX)
        assert response.status_code == 400, params
        html = response.content.decode()
        assert "NOTE-7" not in html and 'role="alert"' in html


def test_an_htmx_sample_is_a_fragment_with_its_url_pushed(as_sam, queue, mira):
    decision = decide(queue, mira)
    response = as_sam.get("/qa/", **HTMX)
    assert response.status_code == 200
    assert "<html" not in response.content.decode() and "Your call" in response.content.decode()
    assert response["HX-Push-Url"] == urls(decision)["sample"]
    reveal = as_sam.get(urls(decision)["reveal"], {"action": "remove", "categories": "spam"}, **HTMX)
    assert "<html" not in reveal.content.decode()
    assert reveal["HX-Push-Url"] == urls(decision)["reveal"] + "?action=remove&categories=spam"


def test_agreeing_over_htmx_records_it_and_brings_the_next_sample(as_sam, queue, mira):
    first = decide(queue, mira, text="first decided")
    second = decide(queue, mira, text="second decided")
    response = as_sam.post(
        urls(first)["verdict"], {"verdict": "agree", "action": "remove", "categories": "spam"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "Agreed with mira." in html and "second decided" in html
    assert response["HX-Push-Url"] == urls(second)["sample"]
    assert QAReview.objects.get().verdict == "agree"
    assert "mira 0/1 (0%)" in html  # the stats line


def test_an_overturn_replaces_the_labels_and_a_plain_post_redirects(as_sam, queue, mira):
    decision = decide(queue, mira, action="remove", categories=["spam"])
    response = as_sam.post(urls(decision)["verdict"], {"verdict": "overturn", "action": "no_violation", "note": "ok"})
    assert response.status_code == 302 and response["Location"] == "/qa/"
    html = as_sam.get("/qa/").content.decode()
    assert (
        "No decisions to review" in html and "Overturned mira&#x27;s decision: No violation; labels replaced." in html
    )
    review = QAReview.objects.get()
    assert (review.verdict, review.new_action, review.note) == ("overturn", "no_violation", "ok")
    assert not Label.objects.current().filter(item_id=decision.item_id, value=True).exists()
    assert AuditEvent.objects.filter(action="decision.qa_reviewed", object_id=str(decision.pk)).exists()
    decide(queue, mira)
    assert as_sam.get("/qa/")["Location"] == urls(Decision.objects.get(qa_review__isnull=True))["sample"]


def test_an_overturn_to_removal_without_a_category_is_400_and_writes_nothing(as_sam, queue, mira):
    decision = decide(queue, mira, action="no_violation", categories=[], note="NOTE-7")
    response = as_sam.post(urls(decision)["verdict"], {"verdict": "overturn", "action": "remove"}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert "at least one policy category" in html and "Original decision" in html
    bad_verdict = as_sam.post(urls(decision)["verdict"], {"verdict": "perhaps"}, **HTMX)
    assert bad_verdict.status_code == 400
    assert QAReview.objects.count() == 0 and Label.objects.filter(superseded_by__isnull=False).count() == 0


def test_a_decision_already_reviewed_answers_409_with_a_friendly_message(as_sam, queue, mira):
    decision = decide(queue, mira)
    QAReview.objects.create(decision=decision, reviewer=make_user(username="ana"), verdict="agree")
    response = as_sam.post(urls(decision)["verdict"], {"verdict": "overturn", "action": "no_violation"}, **HTMX)
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#qa"
    assert "already reviewed by ana" in response.content.decode()
    page = as_sam.get(urls(decision)["sample"])
    assert page.status_code == 409 and "Already reviewed" in page.content.decode()
    assert QAReview.objects.get().reviewer.username == "ana"


def test_an_empty_sample_says_so(as_sam):
    response = as_sam.get("/qa/")
    assert response.status_code == 200
    assert "No decisions to review" in response.content.decode()


def test_skip_passes_over_the_current_sample(as_sam, queue, mira):
    first, second = decide(queue, mira), decide(queue, mira)
    for _ in range(10):
        assert as_sam.get("/qa/", {"skip": first.pk})["Location"] == urls(second)["sample"]


# who may


def test_a_senior_cannot_open_their_own_decision(as_sam, queue, sam):
    decision = decide(queue, sam)
    assert as_sam.get(urls(decision)["sample"]).status_code == 403
    assert as_sam.post(urls(decision)["verdict"], {"verdict": "agree"}).status_code == 403
    assert QAReview.objects.count() == 0


def test_non_seniors_get_403_everywhere(as_mira, queue, mira):
    other = make_user()
    queue.members.add(other)
    decision = decide(queue, other)
    assert as_mira.get("/qa/").status_code == 403
    assert as_mira.get(urls(decision)["sample"]).status_code == 403
    assert as_mira.get(urls(decision)["reveal"], {"action": "no_violation"}).status_code == 403
    assert as_mira.post(urls(decision)["verdict"], {"verdict": "agree"}).status_code == 403
    assert QAReview.objects.count() == 0
    assert 'href="/qa/"' not in as_mira.get("/").content.decode()


def test_a_decision_from_a_queue_the_senior_is_not_in_is_403_and_unknown_ones_404(as_sam, mira):
    elsewhere = decide(make_queue(name="Images", members=[mira]), mira)
    assert as_sam.get(urls(elsewhere)["sample"]).status_code == 403
    assert as_sam.get("/qa/decisions/999999/").status_code == 404


def test_anonymous_users_are_sent_to_sign_in(client, queue, mira):
    decision = decide(queue, mira)
    for url in ("/qa/", urls(decision)["sample"], urls(decision)["reveal"]):
        assert client.get(url)["Location"].startswith("/accounts/login/")
    assert client.post(urls(decision)["verdict"], {"verdict": "agree"})["Location"].startswith("/accounts/login/")
    assert QAReview.objects.count() == 0


def test_qa_views_refuse_the_wrong_method(as_sam, queue, mira):
    decision = decide(queue, mira)
    assert as_sam.post("/qa/").status_code == 405
    assert as_sam.post(urls(decision)["sample"]).status_code == 405
    assert as_sam.post(urls(decision)["reveal"]).status_code == 405
    assert as_sam.get(urls(decision)["verdict"]).status_code == 405


def test_verdicts_need_a_csrf_token(sam, queue, mira):
    decision = decide(queue, mira)
    client = Client(enforce_csrf_checks=True)
    client.force_login(sam)
    page = client.get(urls(decision)["reveal"], {"action": "remove", "categories": "spam"})
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    assert client.post(urls(decision)["verdict"], {"verdict": "agree"}, **HTMX).status_code == 403
    assert QAReview.objects.count() == 0


def test_qa_pages_have_no_inline_script_or_style(as_sam, queue, mira):
    decision = decide(queue, mira)
    for response in (
        as_sam.get(urls(decision)["sample"]),
        as_sam.get(urls(decision)["reveal"], {"action": "no_violation"}),
    ):
        html = response.content.decode()
        assert "style=" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert "unsafe-inline" not in response["Content-Security-Policy"]


# escalations on the home page


def test_seniors_see_escalated_items_on_the_home_page_and_moderators_do_not(as_sam, as_mira, queue, mira, sam):
    escalations = make_queue(name="Escalations", members=[mira, sam])
    enqueue(make_item(text="a borderline threat"), queue)
    claim = claim_next_item(queue=queue, user=mira)
    escalate_item(entry_id=claim.entry_id, token=claim.token, user=mira, to_queue=escalations, note="need a senior")
    html = as_sam.get("/").content.decode()
    section = html[html.index('id="escalations"') :]
    assert "a borderline threat" in section and "need a senior" in section
    assert "mira" in section and "from Scams &amp; spam" in section
    assert f'href="/queues/{escalations.slug}/"' in section and 'href="/qa/"' in html
    assert 'id="escalations"' not in as_mira.get("/").content.decode()


def test_a_decided_item_keeps_the_score_it_was_decided_on_after_a_model_switch(as_sam, queue, mira):
    """A version that went live after the decision never scored the item: the sample shows the earlier active
    version's score, marked as an earlier model's, never a shadow's, and never "no score"."""
    from classifiers.models import ModelVersion, PolicyCategory, Score

    decision = decide(queue, mira)
    item_id, spam = decision.item_id, PolicyCategory.objects.get(slug="spam")
    ModelVersion.objects.filter(kind="text", status="active").update(status="retired")
    earlier = ModelVersion.objects.create(
        name="text-earlier", kind="text", architecture="minilm", status="retired",
        activated_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    older = ModelVersion.objects.create(
        name="text-older", kind="text", architecture="minilm", status="retired",
        activated_at=timezone.now() - timedelta(days=9),
    )  # fmt: skip
    shadow = ModelVersion.objects.create(name="text-shadow", kind="text", architecture="minilm", status="shadow")
    ModelVersion.objects.create(
        name="text-now", kind="text", architecture="minilm", status="active", activated_at=timezone.now()
    )
    for version, probability in ((earlier, 0.87), (older, 0.12), (shadow, 0.99)):
        Score.objects.create(
            item_id=item_id, model_version=version, category=spam, probability=probability, from_prior=False
        )

    html = as_sam.get(urls(decision)["sample"]).content.decode()
    spam_row = re.search(r'<li[^>]*>\s*<span class="key">\d+</span> <label for="cat-spam".*?</li>', html, re.S)
    assert spam_row is not None
    assert "0.87" in spam_row.group(0) and 'class="badge earlier"' in spam_row.group(0)
    assert "text-earlier" in spam_row.group(0) and "no score" not in spam_row.group(0)
    assert "0.99" not in html  # the shadow's score never stands in
    assert html.count('class="badge earlier"') == 1  # the other categories have no score from any version
    assert "Model: text-earlier" not in html  # the footer names active versions only


def test_a_score_from_the_active_version_wins_over_an_earlier_ones(as_sam, queue, mira):
    from classifiers.models import ModelVersion, PolicyCategory, Score

    decision = decide(queue, mira)
    spam = PolicyCategory.objects.get(slug="spam")
    ModelVersion.objects.filter(kind="text", status="active").update(status="retired")
    earlier = ModelVersion.objects.create(
        name="text-earlier", kind="text", architecture="minilm", status="retired", activated_at=timezone.now()
    )
    now = ModelVersion.objects.create(name="text-now", kind="text", architecture="minilm", status="active")
    for version, probability in ((earlier, 0.95), (now, 0.31)):
        Score.objects.create(
            item_id=decision.item_id, model_version=version, category=spam, probability=probability, from_prior=False
        )

    html = as_sam.get(urls(decision)["sample"]).content.decode()
    assert "0.31" in html and "0.95" not in html
    assert 'class="badge earlier"' not in html and "Model: text-now" in html
