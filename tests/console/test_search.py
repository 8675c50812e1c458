from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from console.forms import SearchCriteria, SearchForm
from console.selectors import invisible_item_ids, search_authors, search_items, viewer_for
from intake.models import Author, Item
from queues.models import Decision
from tests.factories import enqueue, make_item, make_queue, make_user


def _ids(user, **criteria):
    return [row.pk for row in search_items(viewer=viewer_for(user), criteria=SearchCriteria(**criteria)).rows]


def test_text_search_finds_items_by_words_only_in_the_users_queues(team, lead):
    found = _ids(lead, text="followers")
    assert found == sorted((i.pk for i in team["items"]), reverse=True)
    assert team["hidden"].pk not in found
    assert _ids(lead, text="unicorns") == []


def test_an_admin_sees_items_of_every_queue(team):
    admin = make_user(username="admin")
    admin.is_superuser = True
    admin.save()
    assert team["hidden"].pk in _ids(admin, text="followers")


def test_identifiers_match_exactly_external_id_ticket_and_author(team, lead):
    item = team["items"][0]
    author = Author.objects.create(source="tests", external_id="acct-77", handle="SpamKing")
    Item.objects.filter(pk=item.pk).update(ticket_id="ZD-1234", author=author)
    assert _ids(lead, text=item.external_id) == [item.pk]
    assert _ids(lead, text="ZD-1234") == [item.pk]
    assert _ids(lead, text="acct-77") == [item.pk]
    assert _ids(lead, text="spamking") == [item.pk]
    assert item.pk in _ids(lead, text=str(item.pk))  # its text may hold the number too
    assert [a.pk for a in search_authors(viewer=viewer_for(lead), text="kin")] == [author.pk]
    # An author known only through another team's items is not shown.
    stranger = Author.objects.create(source="x", external_id="9", handle="kinder")
    Item.objects.filter(pk=team["hidden"].pk).update(author=stranger)
    assert [a.handle for a in search_authors(viewer=viewer_for(lead), text="kin")] == ["SpamKing"]


def test_filters_narrow_by_state_risk_date_decision_and_reviewer(team, lead):
    first, second, third = team["items"]
    assert _ids(lead, risk_min=0.65) == [third.pk]
    assert _ids(lead, risk_max=0.55) == [first.pk]
    Decision.objects.create(item=second, reviewer=lead, action=Decision.Action.REMOVE)
    assert _ids(lead, decision="remove") == [second.pk]
    assert _ids(lead, reviewer="lead") == [second.pk]
    assert _ids(lead, reviewer="someone-else") == []
    Item.objects.filter(pk=first.pk).update(state=Item.State.DECIDED)
    assert _ids(lead, state="decided") == [first.pk]
    Item.objects.filter(pk=third.pk).update(created_at=timezone.now() - timedelta(days=3))
    today = timezone.localdate()
    assert third.pk not in _ids(lead, created_from=today)
    assert _ids(lead, created_to=today - timedelta(days=2)) == [third.pk]
    assert _ids(lead, queue_id=team["other"].pk) == []  # not one of the lead's queues


def test_pages_are_keyset_pages_newest_first(lead):
    queue = make_queue(members=[lead])
    items = [make_item(text=f"page test {n}") for n in range(5)]
    for item in items:
        enqueue(item, queue)
    first = search_items(viewer=viewer_for(lead), criteria=SearchCriteria(text="page"), size=2)
    assert [r.pk for r in first.rows] == [items[4].pk, items[3].pk]
    second = search_items(
        viewer=viewer_for(lead), criteria=SearchCriteria(text="page"), before=first.next_before, size=2
    )
    assert [r.pk for r in second.rows] == [items[2].pk, items[1].pk]
    last = search_items(
        viewer=viewer_for(lead), criteria=SearchCriteria(text="page"), before=second.next_before, size=2
    )
    assert [r.pk for r in last.rows] == [items[0].pk] and last.next_before is None


def test_the_form_names_what_does_not_fit(team):
    data = {"score_min": "0.9", "risk_min": "2", "risk_max": "1", "category": "no-such"}
    form = SearchForm(data, queues=[team["queue"]])
    assert not form.is_valid()
    assert "category" in form.errors and "risk_max" in form.errors


def test_invisible_items_are_named(team, lead):
    assert invisible_item_ids(viewer_for(lead), [team["items"][0].pk, team["hidden"].pk, 10**9]) == [
        team["hidden"].pk,
        10**9,
    ]


def test_decision_filters_page_through_decided_items_window_by_window(lead, monkeypatch):
    from console import selectors
    from queues.models import Queue

    monkeypatch.setattr(selectors, "DECISION_WINDOW", 3)  # several windows with a handful of rows
    monkeypatch.setattr(selectors, "DECISION_WINDOWS", 2)  # and the plain query finishing the page
    queue = Queue.objects.create(name="Windows", slug="windows")
    queue.members.add(lead)
    items = [make_item(text=f"windowed {n}") for n in range(12)]
    for n, item in enumerate(items):
        enqueue(item, queue)
        if n % 2:
            Decision.objects.create(item=item, reviewer=lead, action=Decision.Action.REMOVE)
            Decision.objects.create(item=item, reviewer=lead, action=Decision.Action.REMOVE)  # duplicates too
    removed = [i.pk for i in reversed(items) if items.index(i) % 2]
    pages, before = [], None
    while True:
        page = search_items(viewer=viewer_for(lead), criteria=SearchCriteria(decision="remove"), before=before, size=2)
        pages += [row.pk for row in page.rows]
        if page.next_before is None:
            break
        before = page.next_before
    assert pages == removed
    only_text = SearchCriteria(decision="remove", text="windowed 3")  # matches one decided item, far down
    assert [r.pk for r in search_items(viewer=viewer_for(lead), criteria=only_text).rows] == [items[3].pk]


def _search_vector(item) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_vector::text FROM queues_item WHERE id = %s", [item.pk])
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the search vector is PostgreSQL's")
def test_the_search_vector_is_written_once_an_item_leaves_scoring_and_items_without_one_are_still_found(db):
    # Console migration 0009: the scoring pipeline's updates carry no vector (each would re-index the whole
    # text); routing or deciding the item fills it, a later change of text refreshes it.
    admin = make_user(username="admin")
    admin.is_superuser = True
    admin.save()
    item = make_item(text="a zebra sells followers")
    for state in (Item.State.RECEIVED, Item.State.SCORING, Item.State.SCORED):
        Item.objects.filter(pk=item.pk).update(state=state)
        assert _search_vector(item) is None
        assert _ids(admin, text="zebra") == [item.pk]  # found by its text all the same
    Item.objects.filter(pk=item.pk).update(state=Item.State.QUEUED)
    assert "'zebra'" in _search_vector(item)
    assert _ids(admin, text="zebra") == [item.pk]
    Item.objects.filter(pk=item.pk).update(text="a giraffe sells followers")
    assert _ids(admin, text="zebra") == [] and _ids(admin, text="giraffe") == [item.pk]
    # Sent back to scoring with new text: the old text's vector goes, and routing writes the new one.
    Item.objects.filter(pk=item.pk).update(state=Item.State.RECEIVED, text="a llama sells followers")
    assert _search_vector(item) is None
    assert _ids(admin, text="giraffe") == [] and _ids(admin, text="llama") == [item.pk]
    Item.objects.filter(pk=item.pk).update(state=Item.State.QUEUED)
    assert "'llama'" in _search_vector(item) and "'giraffe'" not in _search_vector(item)
    decided = make_item(text="an okapi, decided on arrival", state=Item.State.DECIDED)
    assert "'okapi'" in _search_vector(decided)
    assert _ids(admin, text="okapi") == [decided.pk]
