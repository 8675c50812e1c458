"""Writing one scoring batch in a background thread while the calling thread computes the next one.

Why: between two batches a scoring worker waits on PostgreSQL (storing scores, the items' outcome, the
commit, routing's statements) while the model's threads sit idle. With the previous batch written behind,
that wait overlaps the next batch's inference (onnxruntime releases the GIL while it runs).

What it keeps:
  * at most one write in flight: ``write_behind`` first waits for the previous write, so memory holds the
    batch being written beside the one being computed, never more;
  * the ``with`` block ends only after every write has finished (committed or rolled back), so a task never
    returns, and its message is never acknowledged, before its batches' writes are done;
  * one batch's failed write does not stop the other's: the error is kept, the next batch is still written,
    and the first error is raised once all writes are done (the caller stops taking new batches meanwhile);
  * the thread's own database connection (Django's are per thread) is closed and the thread joined when the
    block ends, whatever happened.
A killed worker loses nothing here: an uncommitted write is rolled back by the database, and its items stay
held under their scoring lease until the sweeper re-queues them.
"""

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

Batch = TypeVar("Batch")


class WriteBehind(Generic[Batch]):
    """Runs ``write(batch)`` (returning how many items it recorded) in one background thread, one at a time."""

    def __init__(self, write: Callable[[Batch], int]) -> None:
        self._write = write
        self._thread: ThreadPoolExecutor | None = None  # started on the first write behind, not before
        self._pending: Future | None = None
        self.written = 0
        self.errors: list[Exception] = []

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    def write_behind(self, batch: Batch) -> None:
        """Write ``batch`` in the background, after the previous write has finished."""
        self.wait()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scoring-writer")
        self._pending = self._thread.submit(self._write, batch)

    def write_now(self, batch: Batch) -> None:
        """Write ``batch`` in this thread, after the previous write has finished."""
        self.wait()
        self.written += self._write(batch)

    def wait(self) -> None:
        """Wait for the write in flight, if any; its error is kept for the end of the block."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            self.written += pending.result()
        except Exception as exc:  # noqa: BLE001 - kept and raised at the end: the other batch is still written
            logger.error("writing a scoring batch failed; its items stay held until their lease runs out: %r", exc)
            self.errors.append(exc)

    def __enter__(self) -> "WriteBehind[Batch]":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:  # noqa: ANN001
        try:
            self.wait()
        finally:
            if self._thread is not None:
                try:
                    # Runs after the last write, in the writer thread: its own connection, not the caller's.
                    self._thread.submit(_close_connections).result()
                finally:
                    self._thread.shutdown(wait=True)
        if self.errors and exc is None:
            raise self.errors[0]


def _close_connections() -> None:
    """Close this thread's database connections; one that broke with its database is gone already."""
    for connection in connections.all(initialized_only=True):
        try:
            connection.close()
        except DatabaseError as exc:
            logger.warning("closing the scoring writer's database connection failed: %r", exc)
