"""Readiness follows a worker process's model loading at once, not at the end of a heartbeat period."""

import time

import pytest

from ops import heartbeats
from ops.models import Heartbeat

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # as the other ops worker tests


def _row() -> Heartbeat | None:
    return Heartbeat.objects.filter(name=heartbeats.process_name()).first()


def _wait_for(condition, seconds: float) -> float:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def test_the_heartbeat_reports_models_ready_as_soon_as_they_are_loaded(settings):
    settings.OPS_HEARTBEAT_SECONDS = 60  # a period far longer than the test: only beat_now can write in time
    state = heartbeats.process_state()
    try:
        heartbeats.start_heartbeat(queues=["inference"])
        _wait_for(lambda: _row() is not None, 10)
        time.sleep(0.3)
        assert _row().models_ready is False  # started, models not loaded yet: not ready
        heartbeats.mark_models_ready()
        _wait_for(lambda: _row().models_ready, 5)  # seconds, where the period would have taken a minute
    finally:
        if state.heartbeat is not None:
            state.heartbeat.stop()
            state.heartbeat.join(timeout=10)
            assert not state.heartbeat.is_alive()
        state.heartbeat, state.models_ready = None, False
