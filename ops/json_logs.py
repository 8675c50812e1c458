"""Log lines a machine can read: one JSON object per line, with the request id (and task) that caused it.

Used in production (``LOG_FORMAT=json``, the default there); the embedded app keeps plain text for people.
Records say what happened to which ids, never an item's content, so the log is safe to ship to a log store.
"""

import logging

from pythonjsonlogger.json import JsonFormatter

# The fields every line has, in this order; anything passed with ``extra=`` is added after them.
FIELDS = "{asctime}{levelname}{name}{message}{request_id}{task_id}{task_name}{process}"


class ModerationJsonFormatter(JsonFormatter):
    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - logging.config passes its own arguments
        kwargs.setdefault("fmt", FIELDS)
        kwargs.setdefault("style", "{")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("datefmt", "%Y-%m-%dT%H:%M:%S%z")
        super().__init__(*args, **kwargs)


class LibraryChatterFilter(logging.Filter):
    """Drops the INFO and DEBUG lines a library writes through the root logger instead of its own.

    onnxruntime's quantiser does (a line per tensor, about a hundred each time a tuned text encoder is exported);
    no ``LOG_LEVEL`` silences them without silencing the project's own INFO lines. Warnings and errors pass."""

    LIBRARIES = ("/onnxruntime/",)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "root"
            and record.levelno < logging.WARNING
            and any(library in record.pathname.replace("\\", "/") for library in self.LIBRARIES)
        )


def logging_config(*, json_lines: bool, level: str) -> dict:
    """The ``LOGGING`` setting: JSON lines or plain text, both with the request id filter on the handler."""
    formatter = (
        {"()": "ops.json_logs.ModerationJsonFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "ops.request_id.RequestIdLogFilter"},
            "library_chatter": {"()": "ops.json_logs.LibraryChatterFilter"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["library_chatter", "request_id"],
                "formatter": "default",
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }
