"""The labeler filter: items labelled by a moderator, a crowd worker or an LLM labeler, on the page, in the API
and in the selector, over the queues the user may see only."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from classifiers.models import PolicyCategory
from console import selectors
from console.forms import SearchCriteria, SearchForm
from console.selectors import search_items, viewer_for
from labeling import crowd
from labeling.models import CrowdAssignment, LLMResult, LLMRun
from queues.models import Decision, Queue
from review.models import Label
from tests.factories import enqueue, make_item, make_token, make_user
from tests.labeling.factories import make_llm_labeler

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(team, lead):
    """Item 0 labelled by the moderator ana, item 1 answered by the crowd worker bo, item 2 by an LLM labeler;
    the other team's item labelled by all three (the lead may not see it)."""
    ana, bo = make_user(username="ana"), make_user(username="bo")
    spam = PolicyCategory.objects.get(slug="spam")
    first, second, third = team["items"]
    hidden = team["hidden"]
    for item in (first, hidden):
        decision = Decision.objects.create(item=item, reviewer=ana, action=Decision.Action.REMOVE)
        Label.objects.create(item=item, category=spam, value=True, decision=decision, reviewer=ana)
    task_set = crowd.create_task_set(name="Spam or not", categories=[spam], item_ids=[first.pk, second.pk, hidden.pk])
    for task in task_set.tasks.exclude(item=first):
        CrowdAssignment.objects.create(task=task, labeler=bo, answer="spam", answered_at=timezone.now())
    CrowdAssignment.objects.create(task=task_set.tasks.get(item=first), labeler=bo)  # handed out, not answered
    labeler = make_llm_labeler("http://127.0.0.1:9/v1")
    run = LLMRun.objects.create(labeler=labeler)
    for item, state in ((third, "done"), (hidden, "done"), (first, "failed")):
        LLMResult.objects.create(run=run, labeler=labeler, item=item, content_hash=str(item.pk), state=state)
    return {"ana": ana, "bo": bo, "llm": labeler.name, "items": team["items"]}


def _ids(user, labeler: str) -> list[int]:
    form = SearchForm({"labeler": labeler}, queues=viewer_for(user).queues)
    assert form.is_valid(), form.errors
    return [row.pk for row in search_items(viewer=viewer_for(user), criteria=form.criteria()).rows]


def test_each_kind_of_labeler_finds_only_what_it_labelled_in_the_users_queues(labelled, lead):
    first, second, third = labelled["items"]
    assert _ids(lead, "moderator:ana") == [first.pk]
    assert _ids(lead, "crowd:bo") == [second.pk]  # the unanswered assignment on the first item is no label
    assert _ids(lead, labelled["llm"]) == [third.pk]  # the failed result on the first item is no label
    assert _ids(lead, "moderator:bo") == []
    assert _ids(lead, "llm:nobody") == []


def test_an_admin_sees_the_other_teams_items_a_labeler_labelled(labelled, team):
    admin = make_user(username="admin")
    admin.is_superuser = True
    admin.save()
    assert _ids(admin, "moderator:ana") == [team["hidden"].pk, labelled["items"][0].pk]
    assert _ids(admin, labelled["llm"]) == [team["hidden"].pk, labelled["items"][2].pk]


def test_the_filter_combines_with_text_and_other_filters(labelled, lead):
    first = labelled["items"][0]
    criteria = SearchCriteria(text="number 0", labeler_kind="moderator", labeler_name="ana", decision="remove")
    assert [r.pk for r in search_items(viewer=viewer_for(lead), criteria=criteria).rows] == [first.pk]
    criteria = SearchCriteria(labeler_kind="moderator", labeler_name="ana", state="decided")
    assert search_items(viewer=viewer_for(lead), criteria=criteria).rows == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("moderator:", "Name the labeler"),
        ("robot:x", "Start with moderator:, crowd: or llm:"),
        ("ana", "Start with moderator:, crowd: or llm:"),  # a bare name: which kind of labels?
        ("llm: ", "Name"),
    ],
)
def test_a_labeler_that_does_not_parse_is_named(value, message, team):
    form = SearchForm({"labeler": value}, queues=())
    assert not form.is_valid() and message in form.errors["labeler"][0]


def test_a_labelers_page_walks_their_labels_window_by_window(lead, monkeypatch):
    """A labeler whose labels are on old items: the page is found through their labels, and paging is exact."""
    monkeypatch.setattr(selectors, "DECISION_WINDOW", 3)
    monkeypatch.setattr(selectors, "DECISION_WINDOWS", 2)
    queue = Queue.objects.create(name="Windows", slug="windows")
    queue.members.add(lead)
    ana, categories = make_user(username="ana"), list(PolicyCategory.objects.order_by("pk")[:2])
    items = [make_item(text=f"windowed {n}") for n in range(14)]
    for n, item in enumerate(items):
        enqueue(item, queue)
        if n % 3 == 0:
            decision = Decision.objects.create(item=item, reviewer=ana, action=Decision.Action.REMOVE)
            for category in categories:  # two labels per item: the windows must not count an item twice
                Label.objects.create(item=item, category=category, value=True, decision=decision, reviewer=ana)
    expected = [i.pk for n, i in reversed(list(enumerate(items))) if n % 3 == 0]
    pages, before = [], None
    criteria = SearchCriteria(labeler_kind="moderator", labeler_name="ana")
    while True:
        page = search_items(viewer=viewer_for(lead), criteria=criteria, before=before, size=2)
        pages += [row.pk for row in page.rows]
        if page.next_before is None:
            break
        before = page.next_before
    assert pages == expected


def test_the_page_filters_by_labeler_in_at_most_five_queries(client, labelled, lead):
    client.force_login(lead)
    client.get(reverse("console-search"))  # fills the access cache, as any earlier request would
    with CaptureQueriesContext(connection) as plain:
        client.get(reverse("console-search"))
    with CaptureQueriesContext(connection) as filtered:
        response = client.get(reverse("console-search"), {"labeler": "crowd:bo"})
    page = response.content.decode()
    assert response.status_code == 200 and f"#{labelled['items'][1].pk}" in page
    assert f"#{labelled['items'][0].pk}" not in page
    # 3 without a filter; a labeler with fewer labels than a first window reads its labels once more (two more).
    assert len(plain) == 3 and len(filtered) <= 5
    bad = client.get(reverse("console-search"), {"labeler": "robot:x"})
    assert bad.status_code == 200 and "Start with moderator:, crowd: or llm:" in bad.content.decode()


def test_the_api_takes_the_same_filter_and_names_a_bad_one(labelled, lead):
    _, secret = make_token(scopes=["items:read"], user=lead)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    body = api.get("/api/v1/items/search", {"labeler": labelled["llm"]}).json()
    assert [r["id"] for r in body["results"]] == [labelled["items"][2].pk]
    bad = api.get("/api/v1/items/search", {"labeler": "robot:x"})
    assert bad.status_code == 400 and "labeler" in bad.content.decode()
