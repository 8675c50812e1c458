"""The id of the request (or task) being served in this thread: the thread that ties log lines together.

It lives in this leaf app so that every app can read it and keep it with work that outlives the request:
webhooks stores it on an event, so that retries sent later by beat's sweeper log under the id of the request
that caused the event. ``ops.request_id`` sets it (middleware, Celery signals) and puts it in log lines.
"""

import contextvars
import re
import uuid

# The Celery message header that carries the id from the sender to the task (ops.request_id reads it).
MESSAGE_HEADER = "request_id"
# An id from outside is kept only if it is short and plain: it goes into every log line.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{8,64}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request or task being served in this thread, or None outside both."""
    return _request_id.get()


def bind_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def unbind_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def forget_request_id() -> None:
    """Clear the id where a token cannot be reset (bound in another context, such as a thread pool)."""
    _request_id.set(None)


def acceptable_request_id(value: str | None) -> str | None:
    return value if value and _ACCEPTABLE.fullmatch(value) else None
