"""The LLM pages: a run's progress for staff, an item's second opinions for its moderators; output never as HTML."""

import pytest
from django.urls import reverse

from labeling import llm_runs
from tests.factories import enqueue, make_item, make_queue, make_user
from tests.labeling.factories import make_llm_labeler

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled_item(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    item = make_item(text="VIOLATION: pay now")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[item.pk])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    return run, item


def test_the_rationale_is_shown_as_text_never_as_html(client, labelled_item):
    run, item = labelled_item
    client.force_login(make_user(is_staff=True))
    page = client.get(reverse("llm-run", args=[run.pk])).content.decode()
    assert "&lt;b&gt;now&lt;/b&gt;" in page
    assert "<b>now</b>" not in page
    queue = make_queue()
    moderator = make_user()
    queue.members.add(moderator)
    enqueue(item, queue)
    client.force_login(moderator)
    fragment = client.get(reverse("llm-item-opinions", args=[item.pk])).content.decode()
    assert "&lt;b&gt;now&lt;/b&gt;" in fragment and "<b>now</b>" not in fragment
    assert "not a decision" in fragment


def test_the_run_page_is_for_staff_and_its_starter_and_polls_only_while_running(client, labelled_item):
    run, _ = labelled_item
    url = reverse("llm-run", args=[run.pk])
    assert client.get(url).status_code == 302
    client.force_login(make_user())
    assert client.get(url).status_code == 403  # neither staff nor the lead who started it
    client.force_login(make_user(is_staff=True))
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' not in response.content.decode()  # done: no more polling
    assert client.post(url).status_code == 405


def test_second_opinions_are_only_for_moderators_of_the_items_queues(client, labelled_item):
    _, item = labelled_item
    url = reverse("llm-item-opinions", args=[item.pk])
    assert client.get(url).status_code == 302
    client.force_login(make_user())
    assert client.get(url).status_code == 403


def test_an_item_no_llm_has_seen_gets_no_panel_and_the_work_view_asks_for_it(client):
    item = make_item()
    queue = make_queue()
    moderator = make_user()
    queue.members.add(moderator)
    enqueue(item, queue)
    client.force_login(moderator)
    assert client.get(reverse("llm-item-opinions", args=[item.pk])).status_code == 204
    page = client.get(reverse("work", args=[queue.slug]), follow=True).content.decode()
    assert reverse("llm-item-opinions", args=[item.pk]) in page
