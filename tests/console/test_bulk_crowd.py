"""Bulk "add to a crowd task set" (console.bulk_crowd): refused whole without both permissions or over an item the
user may not see; each item added through labeling's own service, one bad item failing alone; progress; no undo."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from classifiers.models import PolicyCategory
from console import bulk, bulk_crowd, tasks
from console.models import BulkAction, BulkActionItem
from labeling import crowd
from labeling.models import CrowdTask, CrowdTaskSet
from tests.console.conftest import grant
from tests.factories import enqueue, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def builder(lead):
    return grant(lead, "build_crowd_task_sets")


@pytest.fixture
def task_set(db):
    spam = PolicyCategory.objects.get(slug="spam")
    return crowd.create_task_set(name="Is it spam?", categories=[spam], item_ids=[])


def _ids(items):
    return [i.pk for i in items]


def test_each_item_becomes_a_task_of_the_set_and_a_bad_one_fails_alone(team, builder, task_set):
    imageless = make_item(image="items/a.png")  # a crowd task shows only text: an image alone cannot join
    type(imageless).objects.filter(pk=imageless.pk).update(text="")
    enqueue(imageless, team["queue"])
    already = team["items"][0]
    CrowdTask.objects.create(task_set=task_set, item=already)
    items = [*team["items"], imageless]
    started = bulk_crowd.start_bulk_crowd(user=builder, item_ids=_ids(items), task_set_id=task_set.pk)
    assert (started.kind, started.target_task_set_id, started.total) == ("crowd", task_set.pk, 4)
    assert tasks.run_bulk_action(started.pk) == 4  # the worker's task sends a crowd action to bulk_crowd
    done = BulkAction.objects.get(pk=started.pk)
    assert (done.state, done.processed, done.succeeded, done.failed) == ("done", 4, 2, 2)
    assert set(task_set.tasks.values_list("item_id", flat=True)) == set(_ids(team["items"]))
    reasons = dict(BulkActionItem.objects.filter(outcome="failed").values_list("item_id", "reason"))
    assert reasons == {already.pk: "Already in this task set.", imageless.pk: reasons[imageless.pk]}
    assert "no text" in reasons[imageless.pk]
    assert AuditEvent.objects.filter(action="crowd_task.added").count() == 2
    # Redelivered: nothing is added twice.
    assert tasks.run_bulk_action(started.pk) == 4 and task_set.tasks.count() == 3


def test_without_the_crowd_permission_or_over_a_hidden_item_nothing_is_done(team, lead, task_set):
    with pytest.raises(bulk.BulkRefused, match="build crowd task sets"):
        bulk_crowd.start_bulk_crowd(user=lead, item_ids=_ids(team["items"]), task_set_id=task_set.pk)
    builder = grant(lead, "build_crowd_task_sets")
    with pytest.raises(bulk.BulkRefused, match="not in a queue you may see"):
        bulk_crowd.start_bulk_crowd(
            user=builder, item_ids=[*_ids(team["items"]), team["hidden"].pk], task_set_id=task_set.pk
        )
    assert not BulkAction.objects.exists() and task_set.tasks.count() == 0


def test_a_closed_or_missing_task_set_is_a_clear_400(team, builder, task_set):
    CrowdTaskSet.objects.filter(pk=task_set.pk).update(state=CrowdTaskSet.State.CLOSED)
    with pytest.raises(bulk.BulkInvalid, match="is closed"):
        bulk_crowd.start_bulk_crowd(user=builder, item_ids=_ids(team["items"]), task_set_id=task_set.pk)
    with pytest.raises(bulk.BulkInvalid, match="Choose the crowd task set"):
        bulk_crowd.start_bulk_crowd(user=builder, item_ids=_ids(team["items"]), task_set_id=None)
    assert not BulkAction.objects.exists()


def test_a_set_closed_mid_run_leaves_the_rest_alone_with_the_reason(team, builder, task_set):
    started = bulk_crowd.start_bulk_crowd(user=builder, item_ids=_ids(team["items"]), task_set_id=task_set.pk)
    CrowdTaskSet.objects.filter(pk=task_set.pk).update(state=CrowdTaskSet.State.CLOSED)
    done = bulk_crowd.run_bulk_crowd(bulk_action_id=started.pk)
    assert (done.succeeded, done.failed) == (0, 3)
    assert set(BulkActionItem.objects.values_list("reason", flat=True)) == {"The task set is closed or gone."}


def test_the_pages_confirm_with_count_and_sample_then_start_and_show_progress(client, team, builder, task_set):
    client.force_login(builder)
    ids = [str(i.pk) for i in team["items"]]
    search = client.get(reverse("console-search")).content.decode()
    assert 'name="task_set"' in search and "Is it spam?" in search
    confirm = client.post(
        reverse("console-bulk-confirm"), {"item": ids, "kind": "crowd", "task_set": task_set.pk}
    ).content.decode()
    assert "Add 3 items to a crowd task set?" in confirm and "Is it spam?" in confirm
    assert "cheap followers offer number" in confirm  # the sample
    started = client.post(
        reverse("console-bulk-start"), {"items": ",".join(ids), "kind": "crowd", "task_set": task_set.pk}
    )
    action = BulkAction.objects.get()
    assert started.status_code == 302 and started["Location"] == reverse("console-bulk", args=[action.pk])
    bulk_crowd.run_bulk_crowd(bulk_action_id=action.pk)  # what the worker does
    progress = client.get(reverse("console-bulk", args=[action.pk])).content.decode()
    assert "3 of 3 processed, 3 added, 0 left alone" in progress and "Undo" not in progress
    undo = client.post(reverse("console-bulk-undo", args=[action.pk]), follow=True).content.decode()
    assert "not undone" in undo and task_set.tasks.count() == 3


def test_the_pages_refuse_a_lead_without_the_crowd_permission_and_a_hidden_item(client, team, lead, task_set):
    client.force_login(lead)
    ids = [str(i.pk) for i in team["items"]]
    assert 'name="task_set"' not in client.get(reverse("console-search")).content.decode()
    confirm = client.post(reverse("console-bulk-confirm"), {"item": ids, "kind": "crowd", "task_set": task_set.pk})
    start = client.post(
        reverse("console-bulk-start"), {"items": ",".join(ids), "kind": "crowd", "task_set": task_set.pk}
    )
    assert confirm.status_code == 403 and start.status_code == 403
    builder = grant(lead, "build_crowd_task_sets")
    client.force_login(builder)
    hidden = client.post(
        reverse("console-bulk-start"),
        {"items": ",".join([*ids, str(team["hidden"].pk)]), "kind": "crowd", "task_set": task_set.pk},
    )
    assert hidden.status_code == 403 and not BulkAction.objects.exists() and task_set.tasks.count() == 0
    anonymous = client.__class__().post(reverse("console-bulk-start"), {"items": ids[0], "kind": "crowd"})
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


def test_the_console_and_the_labeling_page_share_one_rule_for_building_task_sets(lead):
    # Staff build task sets on labeling's page without the permission; the console's bulk action must agree.
    assert not crowd.may_build_task_sets(lead)
    lead.is_staff = True
    lead.save(update_fields=["is_staff"])
    assert crowd.may_build_task_sets(lead)
