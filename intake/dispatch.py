"""Asking the workers to score items: Celery messages sent by task name once the transaction commits.

By name, because scoring (``queues.scoring`` and its task) is a layer above intake. A message that is
lost costs only time: the item waits in ``received`` and the scoring sweeper re-sends it.
"""

from collections.abc import Iterable

from celery import current_app
from django.conf import settings
from django.db import transaction

SCORE_ITEMS_TASK = "queues.tasks.score_items"


def enqueue_scoring(item_ids: Iterable[int]) -> None:
    """Queue scoring of ``item_ids`` once the current transaction commits, in micro-batch sized messages."""
    ids = list(item_ids)
    size = settings.SCORING_BATCH_SIZE
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        transaction.on_commit(lambda chunk=chunk: current_app.signature(SCORE_ITEMS_TASK, args=[chunk]).delay())
