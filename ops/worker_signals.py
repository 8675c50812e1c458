"""Celery signal receivers: carry the request id, count task outcomes per queue, and keep heartbeats.

Connected once in ``OpsConfig.ready`` (every web and worker process loads the app registry).
"""

import logging
import sys
import time
from typing import Any

from celery import current_app as celery_app
from celery import signals
from django.db import close_old_connections

from ops import request_id
from ops.heartbeats import mark_models_ready, process_state, start_heartbeat

logger = logging.getLogger(__name__)


def consumed_queues() -> list[str]:
    """The queues this worker consumes (``-Q``), or every queue it knows when none was named."""
    queues = celery_app.amqp.queues
    return sorted((queues.consume_from or queues).keys())


def _queue_of(task: Any) -> str:
    info = getattr(getattr(task, "request", None), "delivery_info", None) or {}
    return info.get("routing_key") or info.get("queue") or "unknown"


def _count(outcome: str) -> Any:
    # task_success, task_failure and task_retry all send the task itself, whose request names the queue.
    def receiver(sender: Any = None, **kwargs: Any) -> None:
        process_state().counters.add(queue=_queue_of(sender), outcome=outcome)

    return receiver


def _start_worker_process(**kwargs: Any) -> None:
    """A process that runs tasks starts its heartbeat (prefork children, and the main process of every pool)."""
    start_heartbeat(queues=consumed_queues())


def _prepare_task_process(**kwargs: Any) -> None:
    """``worker_process_init`` (a prefork child, or a solo worker): heartbeat at once, then, on a worker that
    scores, load the models before the first task, and say so in the heartbeat (readiness waits for it)."""
    queues = consumed_queues()
    start_heartbeat(queues=queues)
    if "inference" not in queues:
        return
    # Imported here: the runtime pulls in numpy, which web processes (that also load this module) never need.
    from classifiers.runtime import preload_models

    started = time.monotonic()
    try:
        loaded = preload_models()
    except Exception:  # a model that cannot load now is loaded (or fails) on the first task, as before
        logger.exception("models not preloaded; the first scoring task loads them")
        return
    finally:
        close_old_connections()  # the child's tasks open their own connection
    mark_models_ready()
    # Which heavy libraries the process holds: one whose models run on ONNX Runtime and numpy should hold neither
    # torch nor timm (seconds of every restart; bench/worker_restart.py reads this line). The text model's n-grams
    # and profanity prior need scikit-learn.
    heavy = [name for name in ("torch", "timm", "sklearn", "transformers") if name in sys.modules]
    logger.info(
        "loaded %d model versions in %.1f s (imported: %s); ready to score",
        loaded,
        time.monotonic() - started,
        ", ".join(heavy) or "nothing heavy",
    )


_receivers: list = []


def connect() -> None:
    """Connect every receiver; weak=False because they are closures kept only by the signal."""
    pairs = [
        (signals.before_task_publish, request_id.add_request_id_to_message),
        (signals.task_prerun, request_id.bind_request_id_for_task),
        (signals.task_postrun, request_id.unbind_request_id_after_task),
        (signals.task_success, _count("succeeded")),
        (signals.task_failure, _count("failed")),
        (signals.task_retry, _count("retried")),
        (signals.worker_process_init, _prepare_task_process),
        (signals.worker_ready, _start_worker_process),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, weak=False, dispatch_uid=f"ops.{signal.name}")
        _receivers.append(receiver)
