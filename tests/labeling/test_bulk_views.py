"""The leads' pages: a bulk LLM run and a crowd task set built from a selection, with their estimates and checks."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from classifiers.models import ModelVersion, Score
from labeling import llm_runs
from labeling.models import CrowdTaskSet, LLMResult, LLMRun
from tests.factories import enqueue, make_item, make_queue, make_user
from tests.labeling.factories import make_llm_labeler, spam_category

pytestmark = pytest.mark.django_db


def lead_with(*codenames: str):
    user = make_user()
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="labeling", codename__in=codenames))
    return user


@pytest.fixture
def setup(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    lead = lead_with("start_llm_runs", "build_crowd_task_sets")
    mine = make_queue(members=[lead], name="Spam wave")
    theirs = make_queue(members=[make_user()], name="Another team")
    items = [make_item(text=f"cheap followers {n}") for n in range(4)]
    for item in items:
        enqueue(item, mine)
    enqueue(make_item(text="someone else's item"), theirs)
    return labeler, lead, mine, theirs, items


def run_form(labeler, queue, **extra):
    return {"prompt": labeler.prompt_id, "endpoint": labeler.endpoint_id, "queue": queue.pk, "limit": 100} | extra


def test_only_leads_and_staff_may_open_the_pages(client, setup):
    labeler, _, mine, _, _ = setup
    urls = [
        reverse("llm-run-new"),
        reverse("llm-run-estimate"),
        reverse("crowd-set-new"),
        reverse("crowd-set-estimate"),
    ]
    assert all(client.get(url).status_code == 302 for url in urls)  # signed out: to the sign-in page
    client.force_login(make_user())
    assert [client.get(url).status_code for url in urls] == [403] * 4
    assert client.post(reverse("llm-run-new"), run_form(labeler, mine)).status_code == 403
    assert not LLMRun.objects.exists()
    client.force_login(lead_with("start_llm_runs"))  # may start runs, may not build crowd sets
    assert client.get(urls[0]).status_code == 200
    assert client.get(urls[2]).status_code == 403


def test_the_estimate_counts_the_selection_its_cache_hits_and_the_cost(client, setup):
    labeler, lead, mine, _, items = setup
    done = llm_runs.start_llm_run(labeler=labeler, item_ids=[items[0].pk])
    llm_runs.process_llm_run(run_id=done.pk, max_seconds=30)
    answered = LLMResult.objects.get(run=done)
    client.force_login(lead)
    page = client.get(reverse("llm-run-estimate"), run_form(labeler, mine), HTTP_HX_REQUEST="true").content.decode()
    assert '<strong id="estimate-items">4 items</strong>' in page
    assert "1 already answered (from cache)" in page and "3 to ask" in page
    tokens = answered.prompt_tokens + answered.completion_tokens
    assert f'<span id="estimate-tokens">{3 * tokens}</span>' in page
    assert "From this endpoint's recent answers." in page
    # Incomplete form: a message, no estimate.
    page = client.get(reverse("llm-run-estimate"), {"queue": mine.pk}).content.decode()
    assert "Complete the form" in page and "estimate-items" not in page


def test_a_lead_may_select_only_queues_they_work(client, setup):
    labeler, lead, _, theirs, _ = setup
    client.force_login(lead)
    response = client.post(reverse("llm-run-new"), run_form(labeler, theirs))
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    no_queue = run_form(labeler, theirs) | {"queue": ""}
    assert client.post(reverse("llm-run-new"), no_queue).status_code == 400  # "every item" is for staff
    assert not LLMRun.objects.exists()


def test_starting_a_run_over_a_category_and_dates_runs_exactly_the_selection(
    client, setup, django_capture_on_commit_callbacks
):
    labeler, lead, mine, _, items = setup
    version = ModelVersion.objects.create(name="text-v1", kind=ModelVersion.Kind.TEXT, architecture="x")
    for item, p in zip(items, [0.9, 0.7, 0.2, 0.95], strict=True):
        Score.objects.create(
            item_id=item.pk, model_version=version, category=spam_category(), probability=p, from_prior=False
        )
    old = items[3]
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=10))
    client.force_login(lead)
    since = (timezone.now() - datetime.timedelta(days=2)).date().isoformat()
    form = run_form(labeler, mine, category=spam_category().pk, since=since)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("llm-run-new"), form)
    run = LLMRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("llm-run", args=[run.pk])
    assert sorted(run.results.values_list("item_id", flat=True)) == sorted([items[0].pk, items[1].pk])
    assert run.requested_by == lead and "scored spam" in run.selection
    assert client.get(response.url).status_code == 200  # the lead sees the run they started
    client.force_login(lead_with("start_llm_runs"))
    assert client.get(response.url).status_code == 403  # another lead does not


def test_an_empty_selection_starts_nothing(client, setup):
    labeler, lead, mine, _, _ = setup
    client.force_login(lead)
    response = client.post(reverse("llm-run-new"), run_form(labeler, mine, since="2999-01-01"))
    assert response.status_code == 400 and "holds no items" in response.content.decode()
    assert not LLMRun.objects.exists()


def test_building_a_crowd_task_set_from_a_selection(client, setup):
    _, lead, mine, theirs, items = setup
    client.force_login(lead)
    form = {
        "name": "Spam wave, k=2",
        "answer_categories": [spam_category().pk],
        "labels_per_item": 2,
        "gold_rate": 0.1,
        "agreement_threshold": 0.8,
        "queue": mine.pk,
        "limit": 3,
        "review_queue": mine.pk,
    }
    page = client.get(reverse("crowd-set-estimate"), form).content.decode()
    assert '<strong id="estimate-items">3 items</strong>' in page and "6 answers needed" in page
    response = client.post(reverse("crowd-set-new"), form)
    task_set = CrowdTaskSet.objects.get()
    assert response.status_code == 302 and response.url == reverse("crowd-set", args=[task_set.pk])
    assert sorted(task_set.tasks.values_list("item_id", flat=True)) == sorted(i.pk for i in items[1:])
    assert task_set.labels_per_item == 2 and task_set.created_by == lead
    page = client.get(response.url).content.decode()
    assert "0 of 6 answers in" in page
    again = client.post(reverse("crowd-set-new"), form)  # the same name: refused, nothing written
    assert again.status_code == 400 and "exists" in again.content.decode()
    refused = client.post(reverse("crowd-set-new"), form | {"name": "other", "review_queue": theirs.pk})
    assert refused.status_code == 400 and CrowdTaskSet.objects.count() == 1
