"""The labeling API: readable with decisions:read, each label naming its labeler; others refused."""

import pytest
from rest_framework.test import APIClient

from classifiers.models import PolicyCategory
from labeling import crowd, llm_runs
from tests.factories import make_item, make_token, make_user
from tests.labeling.factories import make_llm_labeler
from tests.labeling.test_labeler_table import _decide, _overturn

pytestmark = pytest.mark.django_db

URLS = ["/api/v1/labeling/llm-runs", "/api/v1/labeling/llm-results", "/api/v1/labeling/task-sets",
        "/api/v1/labeling/crowd-answers"]  # fmt: skip


def _client(scopes):
    client = APIClient()
    _, secret = make_token(scopes=scopes)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.mark.parametrize("url", URLS)
def test_each_list_needs_decisions_read(url):
    assert _client(["decisions:read"]).get(url).status_code == 200
    assert _client(["items:read"]).get(url).status_code == 403
    assert APIClient().get(url).status_code == 401
    assert _client(["decisions:read"]).post(url, {}).status_code in (403, 405)


def test_llm_results_and_crowd_answers_say_which_labeler_made_them(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    item = make_item(text="VIOLATION")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[item.pk])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    worker = make_user(username="crowd-7")
    worker.groups.add(crowd.crowd_group())
    task_set = crowd.create_task_set(
        name="api", categories=list(PolicyCategory.objects.filter(slug="spam")), item_ids=[item.pk], gold_rate=0
    )
    assignment = crowd.next_assignment(task_set=task_set, user=worker)
    crowd.record_answer(task_id=assignment.task_id, user=worker, answer="spam")
    client = _client(["decisions:read"])
    [result] = client.get("/api/v1/labeling/llm-results").json()["results"]
    assert result["labeler"]["kind"] == "llm"
    assert result["labeler"]["prompt_version"] == labeler.prompt.version
    assert (result["item_id"], result["verdict"], result["probability"]) == (item.pk, True, 0.9)
    [answer] = client.get("/api/v1/labeling/crowd-answers").json()["results"]
    assert answer["labeler"] == {"kind": "crowd", "name": "crowd:crowd-7"}
    assert answer["answer"] == "spam"
    [listed_run] = client.get("/api/v1/labeling/llm-runs").json()["results"]
    assert listed_run["progress"]["done"] == 1


def test_labels_in_the_labels_api_say_which_labeler_made_each():
    moderator, senior = make_user(username="mo"), make_user(username="sam")
    decision = _decide(make_item(), moderator, spam=True)
    _decide(make_item(), moderator, spam=False)
    _overturn(decision, senior, spam=False)
    rows = _client(["decisions:read"]).get("/api/v1/labels").json()["results"]
    assert sorted((row["labeler"]["kind"], row["labeler"]["name"]) for row in rows) == [
        ("moderator", "mo"),
        ("qa", "sam"),
    ]
