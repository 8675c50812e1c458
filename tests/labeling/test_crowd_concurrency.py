"""Many labelers asking at once for the last slot of a task: exactly k get it (real threads, real connections)."""

import threading

import pytest
from django.db import connection

from classifiers.models import PolicyCategory
from labeling import crowd
from labeling.models import CrowdAssignment
from tests.factories import make_item, make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_concurrent_labelers_never_take_more_than_k_slots():
    task_set = crowd.create_task_set(
        name="race",
        categories=list(PolicyCategory.objects.filter(slug="spam")),
        item_ids=[make_item().pk],
        labels_per_item=2,
        gold_rate=0,
    )
    users = []
    for _ in range(8):
        user = make_user()
        user.groups.add(crowd.crowd_group())
        users.append(user)
    start = threading.Barrier(len(users))
    got = []

    def ask(user) -> None:
        try:
            start.wait()
            assignment = crowd.next_assignment(task_set=task_set, user=user)
            if assignment is not None:
                got.append(user.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 2
    assert CrowdAssignment.objects.count() == 2
