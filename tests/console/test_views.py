from django.urls import reverse

from console.models import BulkAction, SavedFilter
from queues.models import Decision
from tests.factories import enqueue, make_item, make_user


def test_the_search_page_lists_matches_from_the_users_queues(client, team, lead):
    client.force_login(lead)
    response = client.get(reverse("console-search"), {"q": "followers"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="result"') == 3
    assert "another team" not in body
    assert 'name="item"' in body  # a lead can select rows for bulk actions


def test_a_member_without_the_permission_searches_but_gets_no_bulk_controls(client, team):
    member = make_user()
    team["queue"].members.add(member)
    client.force_login(member)
    body = client.get(reverse("console-search"), {"q": "followers"}).content.decode()
    assert body.count('class="result"') == 3 and 'name="item"' not in body


def test_anonymous_users_are_sent_to_sign_in_and_wrong_methods_refused(client, lead):
    assert client.get(reverse("console-search")).status_code == 302
    client.force_login(lead)
    assert client.post(reverse("console-search")).status_code == 405
    assert client.get(reverse("console-bulk-start")).status_code == 405


def test_bad_filter_values_are_named_not_failed(client, lead):
    client.force_login(lead)
    response = client.get(reverse("console-search"), {"risk_min": "high", "score_min": "0.7", "score_max": "0.2"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Enter a number." in body and "Must not be below score ≥." in body


def test_more_results_come_as_an_htmx_fragment(client, lead):
    from queues.models import Queue

    queue = Queue.objects.create(name="Big", slug="big")
    queue.members.add(lead)
    for n in range(55):
        enqueue(make_item(text=f"bulk word {n}"), queue)
    client.force_login(lead)
    first = client.get(reverse("console-search"), {"q": "bulk"}).content.decode()
    assert first.count('class="result"') == 50 and "More results" in first
    before = first.split("before=")[1].split('"')[0]
    more = client.get(reverse("console-search"), {"q": "bulk", "before": before}, HTTP_HX_REQUEST="true")
    assert more.content.decode().count('class="result"') == 5 and "<html" not in more.content.decode()


def test_a_saved_filter_is_kept_per_user_and_a_stale_one_says_so(client, team, lead):
    client.force_login(lead)
    response = client.post(reverse("console-save-filter"), {"name": "Spam wave", "q": "followers", "state": "queued"})
    saved = SavedFilter.objects.get(user=lead)
    assert response.status_code == 302 and saved.params == {"q": "followers", "state": "queued"}
    assert client.get(reverse("console-search"), {"saved": saved.pk}).content.decode().count('class="result"') == 3
    # Another user's saved filter is not theirs to read.
    client.force_login(make_user())
    assert client.get(reverse("console-search"), {"saved": saved.pk}).status_code == 404
    client.force_login(lead)
    SavedFilter.objects.filter(pk=saved.pk).update(params={"q": "x", "category": "deleted-category"})
    stale = client.get(reverse("console-search"), {"saved": saved.pk})
    assert stale.status_code == 200
    assert "no longer fits" in stale.content.decode() and "deleted-category" in stale.content.decode()


def test_the_confirmation_states_the_count_and_a_sample_and_decides_nothing(client, team, lead):
    client.force_login(lead)
    ids = [str(i.pk) for i in team["items"]]
    response = client.post(
        reverse("console-bulk-confirm"), {"item": ids, "action": "remove", "category": "spam", "scope": "selected"}
    )
    body = response.content.decode()
    assert response.status_code == 200 and "Decide 3 items" in body and "cheap followers offer" in body
    assert not BulkAction.objects.exists()


def test_a_whole_filter_can_be_chosen(client, team, lead):
    client.force_login(lead)
    response = client.post(reverse("console-bulk-confirm"), {"q": "number 1", "action": "remove", "scope": "filter"})
    assert "Decide 1 item" in response.content.decode()


def test_a_bulk_action_over_a_hidden_item_is_refused_whole_with_403(client, team, lead):
    client.force_login(lead)
    ids = [*(str(i.pk) for i in team["items"]), str(team["hidden"].pk)]
    confirm = client.post(reverse("console-bulk-confirm"), {"item": ids, "action": "remove", "category": "spam"})
    start = client.post(reverse("console-bulk-start"), {"items": ",".join(ids), "action": "remove", "category": "spam"})
    assert confirm.status_code == 403 and start.status_code == 403
    assert "not in a queue you may see" in start.content.decode()
    assert not BulkAction.objects.exists() and not Decision.objects.exists()


def test_a_member_without_the_permission_is_refused_with_403(client, team):
    member = make_user()
    team["queue"].members.add(member)
    client.force_login(member)
    ids = ",".join(str(i.pk) for i in team["items"])
    assert client.post(reverse("console-bulk-start"), {"items": ids, "action": "no_violation"}).status_code == 403
    assert not BulkAction.objects.exists()


def test_bad_selections_and_verdicts_are_400(client, team, lead):
    client.force_login(lead)
    assert client.post(reverse("console-bulk-start"), {"items": "1,x", "action": "remove"}).status_code == 400
    ids = ",".join(str(i.pk) for i in team["items"])
    refused = client.post(reverse("console-bulk-start"), {"items": ids, "action": "remove"})
    assert refused.status_code == 400 and "needs at least one policy category" in refused.content.decode()


def test_starting_shows_progress_and_only_to_its_owner(client, team, lead):
    client.force_login(lead)
    ids = ",".join(str(i.pk) for i in team["items"])
    response = client.post(reverse("console-bulk-start"), {"items": ids, "action": "no_violation"})
    started = BulkAction.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("console-bulk", args=[started.pk])
    page = client.get(response["Location"])
    assert "0 of 3 processed" in page.content.decode() and 'hx-trigger="every 1s"' in page.content.decode()
    client.force_login(make_user())
    assert client.get(response["Location"]).status_code == 404
    assert client.post(reverse("console-bulk-undo", args=[started.pk])).status_code == 404


def test_with_the_broker_down_a_bulk_action_starts_and_the_sweeper_sends_it_later(
    client, team, lead, django_capture_on_commit_callbacks, caplog, request
):
    """The action is saved before its message is sent: a broker that is really unreachable is logged, not an
    error page for an action that exists; the sweeper sends it once no worker has started it for two minutes."""
    from datetime import timedelta

    from django.utils import timezone

    from console import bulk
    from tests.intake.test_broker_down import broker_unreachable

    client.force_login(lead)
    ids = ",".join(str(i.pk) for i in team["items"])
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("console-bulk-start"), {"items": ids, "action": "no_violation"})
    started = BulkAction.objects.get()
    assert response.status_code == 302 and started.state == "pending"
    assert "in on_commit()" in caplog.text
    sent_tasks = request.getfixturevalue("sent_tasks")  # the broker is back; record what the sweeper sends
    assert bulk.sweep_pending_bulk_actions() == 0  # just started: its message may still be on its way
    BulkAction.objects.filter(pk=started.pk).update(created_at=timezone.now() - timedelta(minutes=3))
    assert bulk.sweep_pending_bulk_actions() == 1
    assert sent_tasks[bulk.RUN_TASK] == [started.pk]
    bulk.run_bulk_action(bulk_action_id=started.pk)
    assert bulk.sweep_pending_bulk_actions() == 0  # running or done: nothing to re-send
    assert Decision.objects.count() == 3
