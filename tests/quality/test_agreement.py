"""Agreement between independent reviewers: Cohen's kappa by hand, pairs from the database, the quality page."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from classifiers.models import PolicyCategory
from quality.agreement import (
    Call,
    Pair,
    category_rows,
    cohen_kappa,
    independent_pairs,
    percent_agreement,
    quality_report,
    reviewer_rows,
)
from queues.models import GoldItem, QueueEntry
from review.claims import claim_next_item
from review.decisions import record_decision
from review.models import GoldAnswer
from tests.factories import enqueue, make_item, make_queue, make_user

# Kappa by hand


def test_kappa_matches_the_textbook_example():
    # 50 items: both yes 20, A yes / B no 5, A no / B yes 10, both no 15.
    # observed 35/50 = 0.7; chance 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa (0.7 - 0.5) / (1 - 0.5) = 0.4
    pairs = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert percent_agreement(pairs) == pytest.approx(70.0)


def test_kappa_of_three_classes_by_hand():
    pairs = [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("b", "a"), ("c", "c")]
    # observed 4/6; A: a 3, b 2, c 1; B: a 3, b 2, c 1 -> chance (9 + 4 + 1) / 36 = 14/36
    assert cohen_kappa(pairs) == pytest.approx((4 / 6 - 14 / 36) / (1 - 14 / 36))


def test_perfect_agreement_is_one_and_perfect_disagreement_is_minus_one():
    assert cohen_kappa([(True, True), (False, False), (True, True)]) == pytest.approx(1.0)
    assert cohen_kappa([(True, False), (False, True)]) == pytest.approx(-1.0)


def test_kappa_is_undefined_when_everyone_gives_the_one_same_answer_or_there_is_nothing():
    assert cohen_kappa([(False, False)] * 12) is None
    assert percent_agreement([(False, False)] * 12) == 100.0
    assert cohen_kappa([]) is None and percent_agreement([]) is None


def test_kappa_is_zero_when_agreement_is_what_chance_gives():
    # A always says yes; B says yes half the time: observed 0.5, chance 1 * 0.5 = 0.5.
    assert cohen_kappa([(True, True), (True, False)] * 5) == pytest.approx(0.0)


def test_rows_per_category_and_per_reviewer():
    def call(who, action, *slugs):
        return Call(who, action, frozenset(slugs))

    pairs = [
        Pair(1, call("mira", "remove", "spam"), call("ada", "remove", "spam")),
        Pair(2, call("mira", "remove", "spam"), call("ada", "remove", "spam", "scam_fraud")),
        Pair(3, call("mira", "no_violation"), call("ada", "no_violation")),
        Pair(4, call("ada", "remove", "spam"), call("sam", "no_violation")),
    ]
    rows = {row.name: row for row in category_rows(pairs, ["spam", "scam_fraud", "hate"])}
    # spam: (T,T) (T,T) (F,F) (T,F): observed 3/4; chance (3*2 + 1*2)/16 = 0.5 -> kappa 0.5
    assert rows["spam"].pairs == 4 and rows["spam"].positives == 3
    assert rows["spam"].kappa == pytest.approx(0.5) and rows["spam"].agreement == pytest.approx(75.0)
    # scam_fraud: only one reviewer ever named it: observed 3/4, chance (0*1 + 4*3)/16 = 0.75 -> kappa 0
    assert rows["scam_fraud"].kappa == pytest.approx(0.0)
    assert rows["hate"].kappa is None and rows["hate"].agreement == 100.0
    reviewers = {row.reviewer: row for row in reviewer_rows(pairs)}
    assert reviewers["ada"].shared == 4 and reviewers["mira"].shared == 3 and reviewers["sam"].shared == 1
    assert reviewers["mira"].agreement == 100.0 and reviewers["mira"].exact == pytest.approx(200 / 3)
    assert reviewers["mira"].kappa == pytest.approx(1.0)
    # ada: own/other (T,T) (T,T) (F,F) (T,F): kappa 0.5 as for spam
    assert reviewers["ada"].kappa == pytest.approx(0.5)
    # sam: one pair, disagreeing: observed 0, chance 0 -> kappa 0
    assert reviewers["sam"].kappa == pytest.approx(0.0) and reviewers["sam"].agreement == 0.0


# Pairs from the database, and the page


@pytest.fixture
def people(db):
    seniors = Group.objects.create(name="Senior moderators")
    seniors.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
    mira, ada, sam = make_user(username="mira"), make_user(username="ada"), make_user(username="sam")
    sam.groups.add(seniors)
    queue = make_queue(members=[mira, ada, sam], name="Scams & spam", second_review_rate=1.0)
    return queue, mira, ada, sam


def decide(queue, user, action, categories=()):
    claim = claim_next_item(queue=queue, user=user)
    return record_decision(
        entry_id=claim.entry_id, token=claim.token, user=user, action=action, categories=list(categories)
    )[0]


def test_pairs_are_second_reviews_with_the_decision_they_re_reviewed(people):
    queue, mira, ada, _ = people
    for _ in range(3):
        enqueue(make_item(), queue)
    decide(queue, mira, "remove", ["spam"])
    decide(queue, mira, "remove", ["spam"])
    decide(queue, mira, "no_violation")  # three second reviews wait now, none for mira
    assert claim_next_item(queue=queue, user=mira) is None
    decide(queue, ada, "remove", ["spam"])
    decide(queue, ada, "no_violation")
    decide(queue, ada, "no_violation")
    pairs = independent_pairs(days=30)
    assert len(pairs) == 3
    assert {p.first.reviewer for p in pairs} == {"mira"} and {p.second.reviewer for p in pairs} == {"ada"}
    report = quality_report(days=30)
    spam = next(row for row in report.categories if row.name == "spam")
    assert spam.pairs == 3 and spam.agreement == pytest.approx(200 / 3)
    # (T,T) (T,F) (F,F): observed 2/3, chance (2*1 + 1*2)/9 = 4/9 -> kappa (2/3 - 4/9) / (5/9) = 0.4
    assert report.overall.kappa == pytest.approx(0.4)
    assert report.pending_second_reviews == 0


def test_quality_page_for_seniors_with_kappa_gold_accuracy_and_overturns(people):
    queue, mira, ada, sam = people
    enqueue(make_item(), queue)
    decide(queue, mira, "remove", ["spam"])
    decide(queue, ada, "remove", ["spam"])
    gold_item = make_item()
    gold = GoldItem.objects.create(item=gold_item, expected_action="no_violation")
    enqueue(gold_item, queue, selection=QueueEntry.Selection.GOLD)
    decide(queue, mira, "remove", ["spam"])
    assert GoldAnswer.objects.get(gold_item=gold).correct is False
    client = Client()
    client.force_login(sam)
    response = client.get("/quality/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="agreement-categories"' in html and 'id="agreement-reviewers"' in html and "<svg" in html
    assert 'id="gold-accuracy"' in html and "0 (0%)" in html
    assert client.get("/quality/?days=7").status_code == 200
    assert client.post("/quality/").status_code == 405
    assert "/quality/" in client.get("/qa/", follow=True).content.decode()
    assert "/quality/" in client.get("/").content.decode()


def test_quality_page_is_forbidden_to_moderators_and_sends_anonymous_users_to_sign_in(people):
    _, mira, _, _ = people
    client = Client()
    anonymous = client.get("/quality/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    client.force_login(mira)
    assert client.get("/quality/").status_code == 403
    assert "/quality/" not in client.get("/").content.decode()


def test_categories_listed_are_the_active_ones(people):
    report = quality_report(days=30)
    assert [row.name for row in report.categories] == list(
        PolicyCategory.objects.filter(is_active=True).values_list("slug", flat=True)
    )
