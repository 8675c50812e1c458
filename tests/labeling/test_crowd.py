"""Crowd task sets: k distinct labelers, blind, gold mixed in, one answer each, Dawid-Skene, disputes to a moderator."""

import random

import pytest

from classifiers.models import PolicyCategory
from labeling import crowd
from labeling.models import CrowdAssignment, CrowdTask, Labeler
from queues.models import Decision, GoldItem, QueueEntry
from tests.factories import make_item, make_queue, make_user

pytestmark = pytest.mark.django_db


def crowd_user():
    user = make_user()
    user.groups.add(crowd.crowd_group())
    return user


def _task_set(items, **fields):
    categories = list(PolicyCategory.objects.filter(slug__in=["spam", "scam_fraud"]))
    fields.setdefault("gold_rate", 0.0)
    return crowd.create_task_set(
        name=f"set {random.random()}", categories=categories, item_ids=[i.pk for i in items], **fields
    )


def test_each_task_goes_to_k_distinct_labelers_and_never_twice_to_one():
    task_set = _task_set([make_item() for _ in range(3)], labels_per_item=2)
    labelers = [crowd_user() for _ in range(4)]
    for labeler in labelers:
        while (assignment := crowd.next_assignment(task_set=task_set, user=labeler)) is not None:
            crowd.record_answer(task_id=assignment.task_id, user=labeler, answer="none")
    per_task = {t.pk: list(t.assignments.values_list("labeler_id", flat=True)) for t in task_set.tasks.all()}
    assert all(len(users) == 2 and len(set(users)) == 2 for users in per_task.values())
    assert CrowdAssignment.objects.filter(answered_at__isnull=True).count() == 0


def test_an_open_assignment_is_served_again_until_answered():
    task_set = _task_set([make_item(), make_item()])
    labeler = crowd_user()
    first = crowd.next_assignment(task_set=task_set, user=labeler)
    assert crowd.next_assignment(task_set=task_set, user=labeler).pk == first.pk


def test_an_answer_to_a_task_not_assigned_is_refused_and_a_second_answer_conflicts():
    task_set = _task_set([make_item()])
    owner, stranger = crowd_user(), crowd_user()
    assignment = crowd.next_assignment(task_set=task_set, user=owner)
    with pytest.raises(crowd.NotAssigned):
        crowd.record_answer(task_id=assignment.task_id, user=stranger, answer="spam")
    with pytest.raises(crowd.InvalidAnswer):
        crowd.record_answer(task_id=assignment.task_id, user=owner, answer="hate")
    crowd.record_answer(task_id=assignment.task_id, user=owner, answer="spam")
    with pytest.raises(crowd.AlreadyAnswered):
        crowd.record_answer(task_id=assignment.task_id, user=owner, answer="none")
    assignment.refresh_from_db()
    assert assignment.answer == "spam"
    assert CrowdTask.objects.get(pk=assignment.task_id).answers_count == 1
    assert Labeler.objects.filter(kind=Labeler.Kind.CROWD, user=owner).exists()


def test_gold_items_are_mixed_in_at_the_sets_rate_with_their_known_answer():
    gold_item = make_item(text="a known scam")
    gold = GoldItem.objects.create(item=gold_item, expected_action=Decision.Action.REMOVE)
    gold.expected_categories.set(PolicyCategory.objects.filter(slug="scam_fraud"))
    task_set = _task_set([make_item()], gold_rate=0.5)
    gold_task = task_set.tasks.get(item=gold_item)
    assert gold_task.gold_answer == "scam_fraud"
    always = random.Random(0)
    always.random = lambda: 0.0  # under the rate: serve gold first
    assignment = crowd.next_assignment(task_set=task_set, user=crowd_user(), rng=always)
    assert assignment.task_id == gold_task.pk


def test_dawid_skene_soft_labels_and_disputed_items_go_to_a_moderator():
    queue = make_queue()
    clear, split = make_item(text="clear"), make_item(text="split")
    task_set = _task_set([clear, split], labels_per_item=4, review_queue=queue, agreement_threshold=0.9)
    labelers = [crowd_user() for _ in range(4)]
    answers = {clear.pk: ["spam", "spam", "spam", "spam"], split.pk: ["spam", "none", "scam_fraud", "none"]}
    for index, labeler in enumerate(labelers):
        while (assignment := crowd.next_assignment(task_set=task_set, user=labeler)) is not None:
            crowd.record_answer(
                task_id=assignment.task_id, user=labeler, answer=answers[assignment.task.item_id][index]
            )
    result = crowd.aggregate_task_set(task_set_id=task_set.pk)
    assert (result.tasks, result.answers) == (2, 8)
    clear_task, split_task = task_set.tasks.get(item=clear), task_set.tasks.get(item=split)
    assert clear_task.label == "spam" and clear_task.confidence > 0.9 and clear_task.agreement == 1.0
    assert abs(sum(split_task.soft_label.values()) - 1.0) < 1e-3
    assert split_task.agreement == 0.5 and split_task.sent_to_review
    entry = QueueEntry.objects.get(item=split, queue=queue)
    assert entry.status == QueueEntry.Status.PENDING
    assert "crowd disagreed" in entry.note
    assert not QueueEntry.objects.filter(item=clear).exists()
    # Aggregating again sends nothing twice.
    crowd.aggregate_task_set(task_set_id=task_set.pk)
    assert QueueEntry.objects.filter(item=split, queue=queue).count() == 1


def test_only_crowd_labelers_see_task_sets_and_only_those_named():
    task_set = _task_set([make_item()])
    named_set = _task_set([make_item()])
    insider, outsider, moderator = crowd_user(), crowd_user(), make_user()
    named_set.labelers.set([insider])
    assert set(crowd.task_sets_for(insider)) == {task_set, named_set}
    assert set(crowd.task_sets_for(outsider)) == {task_set}
    assert list(crowd.task_sets_for(moderator)) == []


def test_a_slot_held_too_long_without_an_answer_goes_to_someone_else():
    task_set = _task_set([make_item()], labels_per_item=1)
    walked_away, next_one = crowd_user(), crowd_user()
    held = crowd.next_assignment(task_set=task_set, user=walked_away)
    assert crowd.next_assignment(task_set=task_set, user=next_one) is None
    CrowdAssignment.objects.filter(pk=held.pk).update(assigned_at=held.assigned_at - crowd.ASSIGNMENT_HOLD)
    assert crowd.next_assignment(task_set=task_set, user=next_one).task_id == held.task_id


def test_a_complete_set_whose_aggregation_message_was_lost_is_swept_once_quiet(
    django_capture_on_commit_callbacks, caplog, request
):
    """The last answer is saved even with the broker really unreachable; the sweeper sends the set to
    aggregation once no answer has come for two minutes, and not again after it was aggregated."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.intake.test_broker_down import broker_unreachable

    task_set = _task_set([make_item(), make_item()], labels_per_item=1)
    unfinished = _task_set([make_item()], labels_per_item=2)
    labeler = crowd_user()
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        while (assignment := crowd.next_assignment(task_set=task_set, user=labeler)) is not None:
            crowd.record_answer(task_id=assignment.task_id, user=labeler, answer="spam")
        crowd.record_answer(
            task_id=crowd.next_assignment(task_set=unfinished, user=labeler).task_id, user=labeler, answer="none"
        )
    assert "in on_commit()" in caplog.text
    sent = request.getfixturevalue("sent_tasks")
    assert crowd.sweep_unaggregated_task_sets() == 0  # answers are fresh: the message may still be on its way
    CrowdAssignment.objects.update(answered_at=timezone.now() - timedelta(minutes=3))
    assert crowd.sweep_unaggregated_task_sets() == 1  # the unfinished set waits for its second answer
    assert sent[crowd.AGGREGATE_TASK] == [task_set.pk]
    crowd.aggregate_task_set(task_set_id=task_set.pk)
    assert crowd.sweep_unaggregated_task_sets() == 0
