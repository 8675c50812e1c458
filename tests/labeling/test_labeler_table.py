"""The labeler table: each kind of labeler against gold, senior and (for non-moderators) human decisions."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from classifiers.models import PolicyCategory
from labeling import crowd, llm_runs
from labeling.labeler_table import agreement, labeler_table, prompt_comparisons
from labeling.models import CrowdAssignment
from queues.models import Decision, GoldItem
from review.models import Label, QAReview
from tests.factories import make_item, make_user
from tests.labeling.factories import make_llm_labeler

pytestmark = pytest.mark.django_db


def _decide(item, reviewer, *, spam: bool) -> Decision:
    action = Decision.Action.REMOVE if spam else Decision.Action.NO_VIOLATION
    decision = Decision.objects.create(item=item, reviewer=reviewer, action=action)
    Label.objects.create(
        item=item, category=PolicyCategory.objects.get(slug="spam"), value=spam, decision=decision, reviewer=reviewer
    )
    return decision


def _overturn(decision: Decision, senior, *, spam: bool) -> None:
    review = QAReview.objects.create(
        decision=decision, reviewer=senior, verdict=QAReview.Verdict.OVERTURN, new_action=Decision.Action.NO_VIOLATION
    )
    decision.labels.update(superseded_by=review)
    Label.objects.create(
        item=decision.item,
        category=PolicyCategory.objects.get(slug="spam"),
        value=spam,
        decision=decision,
        reviewer=senior,
        qa_review=review,
    )


def test_agreement_gives_kappa_precision_and_recall():
    result = agreement([(True, True), (True, False), (False, False), (False, True)])
    assert (result.compared, result.kappa, result.precision, result.recall) == (4, 0.0, 0.5, 0.5)
    assert agreement([]).kappa is None and agreement([(False, False)]).precision is None


def test_an_llm_labeler_is_measured_against_human_decisions(fake_endpoint):
    moderator = make_user(username="mira")
    spam_item, ham_item = make_item(text="VIOLATION buy now"), make_item(text="VIOLATION? no, just lunch")
    _decide(spam_item, moderator, spam=True)
    _decide(ham_item, moderator, spam=False)
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[spam_item.pk, ham_item.pk])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    row = next(r for r in labeler_table().rows if r.name == labeler.name)
    # The fake endpoint says "violates" for both: one right, one wrong.
    assert (row.overall.compared, row.overall.precision, row.overall.recall) == (2, 0.5, 1.0)
    assert row.volume == 2 and row.cost > 0 and row.median_latency_seconds is not None
    assert row.categories["spam"].compared == 2


def test_a_moderator_is_measured_only_against_seniors_and_gold():
    moderator, senior = make_user(username="mo"), make_user(username="sam")
    checked, unchecked = make_item(), make_item()
    _overturn(_decide(checked, moderator, spam=True), senior, spam=False)
    _decide(unchecked, moderator, spam=True)
    row = next(r for r in labeler_table().rows if r.name == "moderator:mo")
    assert row.overall.compared == 1  # the unchecked decision is not its own reference
    assert row.overall.precision == 0.0
    assert row.volume == 2


def test_crowd_workers_are_measured_against_gold_answers():
    gold_item = make_item(text="a known scam")
    gold = GoldItem.objects.create(item=gold_item, expected_action=Decision.Action.REMOVE)
    gold.expected_categories.set(PolicyCategory.objects.filter(slug="spam"))
    categories = list(PolicyCategory.objects.filter(slug__in=["spam", "scam_fraud"]))
    task_set = crowd.create_task_set(name="gold only", categories=categories, item_ids=[], gold_rate=0.5)
    worker = make_user(username="cw1")
    worker.groups.add(crowd.crowd_group())
    task = task_set.tasks.get()
    CrowdAssignment.objects.create(task=task, labeler=worker)
    crowd.record_answer(task_id=task.pk, user=worker, answer="spam")
    row = next(r for r in labeler_table().rows if r.name == "crowd:cw1")
    assert row.overall.compared == 2  # spam and scam_fraud on the gold item
    assert row.overall.kappa is None or row.overall.kappa >= 0
    assert row.categories["spam"].recall == 1.0


def test_two_prompt_versions_are_compared_on_the_same_items(fake_endpoint):
    items = [make_item(text="VIOLATION one"), make_item(text="two")]
    for _ in range(2):
        labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1", model="same-model")
        run = llm_runs.start_llm_run(labeler=labeler, item_ids=[i.pk for i in items])
        llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    [comparison] = prompt_comparisons()
    assert (comparison.category, comparison.shared_items, comparison.same_verdict) == ("spam", 2, 1.0)
    assert comparison.newer.endswith(":v2")


def test_the_page_is_for_seniors_and_staff(client):
    url = reverse("labelers")
    assert client.get(url).status_code == 302
    client.force_login(make_user())
    assert client.get(url).status_code == 403
    senior = make_user()
    senior.user_permissions.add(Permission.objects.get(codename="review_decisions"))
    client.force_login(senior)
    response = client.get(url)
    assert response.status_code == 200
    assert "Labelers, last 90 days" in response.content.decode()
    assert client.post(url).status_code == 405


def test_the_text_model_is_shown_beside_an_llm_labeler_on_exactly_the_same_items(client, fake_endpoint):
    from classifiers.models import ModelVersion, Score
    from classifiers.services import set_model_version_status

    moderator = make_user(username="mila")
    spam = PolicyCategory.objects.get(slug="spam")
    items = [make_item(text="VIOLATION buy now"), make_item(text="VIOLATION lunch?"), make_item(text="not asked")]
    for item, is_spam in zip(items, [True, False, True], strict=True):
        _decide(item, moderator, spam=is_spam)
    version = ModelVersion.objects.create(name="text-v9", kind=ModelVersion.Kind.TEXT, architecture="x")
    set_model_version_status(version=version, status=ModelVersion.Status.ACTIVE, actor_label="test")
    # The model is right on both items the LLM labels, and wrong on the third, which the LLM never sees.
    for item, p in zip(items, [0.9, 0.1, 0.2], strict=True):
        Score.objects.create(item_id=item.pk, model_version=version, category=spam, probability=p, from_prior=False)
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[items[0].pk, items[1].pk])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    rows = {r.name: r for r in labeler_table().rows}
    llm = rows[labeler.name]
    assert llm.model_beside == "model:text-v9"
    beside = llm.model_on_same_items
    assert (beside.compared, beside.kappa, beside.precision, beside.recall) == (2, 1.0, 1.0, 1.0)
    assert llm.overall.kappa == 0.0  # the fake LLM says "violates" for both
    assert rows["model:text-v9"].categories["spam"].compared == 3  # its own row counts every item it scored
    client.force_login(make_user(is_staff=True))
    page = client.get(reverse("labelers")).content.decode()
    assert "model:text-v9 κ 1.00 (n 2)" in page


def test_the_page_reads_a_cached_copy_until_it_is_recomputed(client, django_assert_max_num_queries):
    from labeling import tasks

    moderator, senior = make_user(username="mo2"), make_user(username="sen2")
    _overturn(_decide(make_item(), moderator, spam=True), senior, spam=False)
    client.force_login(make_user(is_staff=True))
    url = reverse("labelers")
    assert "moderator:mo2" in client.get(url).content.decode()
    _decide(make_item(), make_user(username="newcomer"), spam=True)
    with django_assert_max_num_queries(5):  # session, user, the senior check: no label is read
        page = client.get(url).content.decode()
    assert "moderator:newcomer" not in page and "Computed" in page  # the copy, with its age
    assert "moderator:newcomer" in client.get(url, {"fresh": "1"}).content.decode()
    _decide(make_item(), make_user(username="latecomer"), spam=True)
    assert tasks.refresh_labeler_tables() == 4  # the beat's refresh
    assert "moderator:latecomer" in client.get(url).content.decode()
