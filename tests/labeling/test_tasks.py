"""Labeling's Celery work: sent by name after commit, on the llm queue, and the tasks call the services."""

import pytest
from django.core.management import call_command

from classifiers.models import PolicyCategory
from labeling import crowd, llm_runs, tasks
from labeling.models import LLMRun
from moderation_site.celery_app import app
from tests.factories import enqueue, make_item, make_queue
from tests.labeling.factories import make_llm_labeler
from tests.labeling.test_crowd import crowd_user
from webhooks.models import WebhookEvent, WebhookSubscription

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name",
    ["labeling.tasks.process_llm_run", "labeling.tasks.requeue_stalled_llm_runs", "labeling.tasks.aggregate_task_set"],
)
def test_labeling_tasks_go_to_the_llm_queue_never_the_scoring_one(name):
    assert app.amqp.router.route({}, name)["queue"].name == "llm"


def test_a_run_is_sent_to_the_workers_once_committed(fake_endpoint, sent_tasks, django_capture_on_commit_callbacks):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    with django_capture_on_commit_callbacks(execute=True):
        run = llm_runs.start_llm_run(labeler=labeler, item_ids=[make_item().pk])
        assert sent_tasks == {}
    assert sent_tasks["labeling.tasks.process_llm_run"] == [run.pk]
    assert tasks.process_llm_run(run.pk) == "done"
    assert LLMRun.objects.get(pk=run.pk).state == LLMRun.State.DONE


def test_a_slice_that_runs_out_of_time_sends_the_run_again(
    fake_endpoint, sent_tasks, django_capture_on_commit_callbacks
):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[make_item().pk, make_item().pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert llm_runs.process_llm_run(run_id=run.pk, max_seconds=0) == "continues"
    assert sent_tasks["labeling.tasks.process_llm_run"] == [run.pk]


def test_a_stalled_run_is_sent_again_by_the_sweeper(fake_endpoint, sent_tasks):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[make_item().pk])
    LLMRun.objects.filter(pk=run.pk).update(created_at=run.created_at.replace(year=2020))
    assert tasks.requeue_stalled_llm_runs() == 1
    assert sent_tasks["labeling.tasks.process_llm_run"] == [run.pk]


def test_the_last_answer_of_a_set_sends_it_to_aggregation(sent_tasks, django_capture_on_commit_callbacks):
    task_set = crowd.create_task_set(
        name="one", categories=list(PolicyCategory.objects.filter(slug="spam")), item_ids=[make_item().pk], gold_rate=0
    )
    task_set.labels_per_item = 1
    task_set.save()
    labeler = crowd_user()
    assignment = crowd.next_assignment(task_set=task_set, user=labeler)
    with django_capture_on_commit_callbacks(execute=True):
        crowd.record_answer(task_id=assignment.task_id, user=labeler, answer="spam")
    assert sent_tasks["labeling.tasks.aggregate_task_set"] == [task_set.pk]
    assert tasks.aggregate_task_set(task_set.pk) == 0


def test_finished_runs_and_aggregated_sets_are_webhook_events(fake_endpoint):
    WebhookSubscription.objects.create(
        url="https://example.com/hook", event_types=["llm_run.finished", "crowd_task_set.aggregated"]
    )
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[make_item(text="secret words").pk])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    event = WebhookEvent.objects.get(type="llm_run.finished")
    assert (event.payload["run"], event.payload["state"], event.payload["done"]) == (run.pk, "done", 1)
    assert "secret words" not in str(event.payload)
    task_set = crowd.create_task_set(
        name="hooked",
        categories=list(PolicyCategory.objects.filter(slug="spam")),
        item_ids=[make_item().pk],
        gold_rate=0,
    )
    labeler_user = crowd_user()
    assignment = crowd.next_assignment(task_set=task_set, user=labeler_user)
    crowd.record_answer(task_id=assignment.task_id, user=labeler_user, answer="spam")
    crowd.aggregate_task_set(task_set_id=task_set.pk)
    assert WebhookEvent.objects.get(type="crowd_task_set.aggregated").payload["task_set"] == task_set.pk


def test_prelabel_starts_a_run_over_a_queues_pending_items(fake_endpoint, sent_tasks, capsys):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    llm_runs.make_prompt_default(prompt=labeler.prompt)
    queue = make_queue()
    pending = [make_item(), make_item()]
    for item in pending:
        enqueue(item, queue)
    make_item()  # not in the queue
    call_command("prelabel", category="spam", endpoint=labeler.endpoint.name, queue=queue.slug)
    run = LLMRun.objects.get()
    assert sorted(run.results.values_list("item_id", flat=True)) == sorted(i.pk for i in pending)
    assert f"LLM run {run.pk}: 2 items" in capsys.readouterr().out
