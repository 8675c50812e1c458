"""Asking the workers to score items: Celery messages sent by task name once the transaction commits.

By name, because scoring (``queues.scoring`` and its task) is a layer above intake. A message that is
lost costs only time: the item waits in ``received`` and the scoring sweeper re-sends it. So a broker that
is down must not fail the request that saved the items: the send is tried once, without Celery's publish
retries (they would hold the request for seconds), and a failure is logged, not raised. Readiness and the
metrics show the broker outage (ops).
"""

import logging
from collections.abc import Iterable

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

SCORE_ITEMS_TASK = "queues.tasks.score_items"


def send_scoring(item_ids: list[int]) -> bool:
    """Send one scoring message now; False (logged) when the broker cannot take it."""
    try:
        current_app.signature(SCORE_ITEMS_TASK, args=[item_ids]).apply_async(retry=False)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweeper sends it later, the items are saved
        logger.warning(
            "scoring of %d items not queued (%s); the sweeper queues them once the broker answers",
            len(item_ids),
            type(exc).__name__,
        )
        return False
    return True


def enqueue_scoring(item_ids: Iterable[int]) -> None:
    """Queue scoring of ``item_ids`` once the current transaction commits, in micro-batch sized messages."""
    ids = list(item_ids)
    size = settings.SCORING_BATCH_SIZE
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        transaction.on_commit(lambda chunk=chunk: send_scoring(chunk))
