"""A request id that follows the work: web request -> log lines -> Celery tasks it queued -> their log lines.

The id itself lives in ``audit.request_context`` (a leaf, so that lower apps can keep it with their work).
The id comes from the proxy's ``X-Request-ID`` when it looks like an id (so an operator can match proxy and app
logs), else it is made here. Celery carries it in a message header (``before_task_publish``) and a task restores
it before it runs (``task_prerun``), so a scoring batch or a webhook delivery logs the id of the request that
caused it. Work that no request caused (beat's sweepers) gets an id of its own per task.
"""

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from celery import current_task
from django.http import HttpRequest, HttpResponse

from audit.request_context import (
    MESSAGE_HEADER,
    acceptable_request_id,
    bind_request_id,
    current_request_id,
    forget_request_id,
    new_request_id,
    unbind_request_id,
)

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Bind the request id for the request's duration and answer it in ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = acceptable_request_id(request.headers.get(HEADER)) or new_request_id()
        request.request_id = request_id
        token = bind_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            unbind_request_id(token)
        response[HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` (and, inside a Celery task, ``task_id`` and ``task_name``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        task = _current_task()
        record.task_id = getattr(task.request, "id", None) if task else None
        record.task_name = task.name if task else None
        return True


def _current_task() -> Any:
    # current_task is a proxy: None outside a worker, and a task without an id when called directly.
    return current_task if current_task and getattr(current_task.request, "id", None) else None


# Celery signal receivers (connected in ops.apps).


def add_request_id_to_message(headers: dict | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: a task queued while serving a request carries that request's id."""
    request_id = current_request_id()
    if headers is not None and request_id and MESSAGE_HEADER not in headers:
        headers[MESSAGE_HEADER] = request_id


_task_tokens: dict[str, contextvars.Token] = {}


def bind_request_id_for_task(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    """``task_prerun``: restore the id the message carries, or give the task an id of its own."""
    carried = acceptable_request_id(getattr(task.request, MESSAGE_HEADER, None)) if task is not None else None
    _task_tokens[task_id or ""] = bind_request_id(carried or new_request_id())


def unbind_request_id_after_task(task_id: str | None = None, **kwargs: Any) -> None:
    """``task_postrun``: the next task in this process starts without the last one's id."""
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            unbind_request_id(token)
        except ValueError:  # bound in another context (a thread pool); forget it there
            forget_request_id()
