"""Celery signal receivers: carry the request id, count task outcomes per queue, and keep heartbeats.

Connected once in ``OpsConfig.ready`` (every web and worker process loads the app registry).
"""

from typing import Any

from celery import current_app as celery_app
from celery import signals

from ops import request_id
from ops.heartbeats import process_state, start_heartbeat


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
        (signals.worker_process_init, _start_worker_process),
        (signals.worker_ready, _start_worker_process),
    ]
    for signal, receiver in pairs:
        signal.connect(receiver, weak=False, dispatch_uid=f"ops.{signal.name}")
        _receivers.append(receiver)
