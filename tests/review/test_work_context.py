from datetime import UTC, datetime, timedelta

import pytest

from queues.models import QueueEntry
from review.work_context import deadline_in_words, duration_in_words, work_context
from tests.factories import enqueue, make_item, make_queue

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=25), "25 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=2, minutes=30), "2 h 30 min"),
        (timedelta(hours=14, minutes=30), "14 h"),
        (timedelta(days=1), "1 day"),
        (timedelta(days=1, hours=4), "1 day 4 h"),
        (timedelta(days=5, hours=4), "5 days"),
    ],
)
def test_durations_read_as_people_say_them(delta, words):
    assert duration_in_words(delta) == words


def test_deadlines_read_in_words_not_as_timedelta_strings():
    assert deadline_in_words(NOW + timedelta(hours=3), NOW) == "in 3 h"
    assert deadline_in_words(NOW - timedelta(minutes=20), NOW) == "overdue by 20 min"
    assert deadline_in_words(NOW + timedelta(seconds=20), NOW) == "due now"
    assert deadline_in_words(NOW + timedelta(days=1), NOW) == "in 1 day"  # not "1 day, 0:00:00"


@pytest.mark.django_db
def test_the_context_names_the_queue_items_left_and_the_escalation_chain():
    first, second, seniors = make_queue(name="Scams & fraud"), make_queue(name="Leads"), make_queue(name="Legal")
    item = make_item()
    enqueue(item, first, status=QueueEntry.Status.MOVED)
    QueueEntry.objects.filter(item=item).update(enqueued_at=NOW - timedelta(hours=2))
    moved = enqueue(item, second, status=QueueEntry.Status.MOVED)
    QueueEntry.objects.filter(pk=moved.pk).update(enqueued_at=NOW - timedelta(hours=1))
    entry = enqueue(item, seniors, selection=QueueEntry.Selection.ESCALATED, status=QueueEntry.Status.CLAIMED)
    for _ in range(2):
        enqueue(make_item(), seniors)
    entry.deadline_at = NOW + timedelta(minutes=30)
    context = work_context(entry, now=NOW)
    assert context.queue_name == "Legal" and context.items_left == 2
    assert context.deadline_words == "in 30 min" and not context.overdue
    assert context.escalation_chain == ["Scams & fraud", "Leads"]
