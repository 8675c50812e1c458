"""An endpoint's concurrency is a limit across runs and worker processes, held in Redis (labeling.endpoint_slots)."""

import multiprocessing
import os
import threading
import time

import pytest
import redis
from django.conf import settings

from labeling import endpoint_slots, llm_runs
from labeling.models import LLMResult
from scripts.fake_llm_server import start_in_thread
from tests.factories import make_item
from tests.labeling.factories import make_llm_labeler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_slots():
    if not settings.LLM_SLOTS_REDIS_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must provide REDIS_URL (scripts/with-services.sh starts it)")
        pytest.skip("needs a Redis server (REDIS_URL)")
    endpoint_slots._client = None
    client = redis.Redis.from_url(settings.LLM_SLOTS_REDIS_URL)
    for key in client.scan_iter("labeling:llm-slots:*"):
        client.delete(key)
    return client


@pytest.fixture
def slow_endpoint():
    server = start_in_thread(delay=0.25)
    yield server
    server.shutdown()


def _run_in_thread(run_id: int, errors: list) -> threading.Thread:
    def work() -> None:
        from django.db import connection

        try:
            llm_runs.process_llm_run(run_id=run_id, max_seconds=60)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=work)


def test_two_runs_on_one_endpoint_together_never_exceed_its_concurrency(redis_slots, slow_endpoint):
    # Each run has its own pool of `concurrency` threads, as two workers would: without the shared slots the
    # endpoint would see 2 x 3 requests at once.
    labeler = make_llm_labeler(f"{slow_endpoint.base_url}/ok/v1", concurrency=3)
    runs = [
        llm_runs.start_llm_run(labeler=labeler, item_ids=[make_item(text=f"run {r} item {n}").pk for n in range(12)])
        for r in range(2)
    ]
    errors: list = []
    threads = [_run_in_thread(run.pk, errors) for run in runs]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    assert not errors
    assert LLMResult.objects.filter(state=LLMResult.State.DONE).count() == 24
    assert slow_endpoint.max_in_flight == 3
    # 24 requests of 0.25 s, 3 at a time, take at least 2 s; 6 at a time would have taken 1 s.
    assert elapsed >= 24 * 0.25 / 3 * 0.95
    assert endpoint_slots.slots_in_use(labeler.endpoint_id) == 0  # every slot given back


def _hold_slots(url: str, rounds: int, queue) -> None:  # noqa: ANN001 - a multiprocessing queue
    """In a separate process: take a slot, note how many are held (a Redis counter), let it go; report the most."""
    client = redis.Redis.from_url(url)
    most = 0
    from django.conf import settings as child_settings

    child_settings.LLM_SLOTS_REDIS_URL = url
    endpoint_slots._client = None
    for _ in range(rounds):
        with endpoint_slots.endpoint_slot(999, limit=2, lease_seconds=5, wait_seconds=30):
            held = client.incr("labeling:test-holders")
            most = max(most, held)
            time.sleep(0.02)
            client.decr("labeling:test-holders")
    queue.put(most)


def test_the_limit_holds_across_processes(redis_slots):
    redis_slots.delete("labeling:test-holders")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_hold_slots, args=(settings.LLM_SLOTS_REDIS_URL, 15, queue)) for _ in range(4)]
    for process in processes:
        process.start()
    most = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=10)
    assert max(most) == 2  # four processes, two slots: never three at once, and the two were used together
    assert endpoint_slots.slots_in_use(999) == 0


def test_a_dead_holders_slot_frees_when_its_lease_ends(redis_slots, monkeypatch):
    monkeypatch.setattr(endpoint_slots, "LEASE_MARGIN_SECONDS", 0)
    redis_slots.zadd(endpoint_slots.slot_key(998), {"crashed-worker": int(time.time() * 1000) + 300})
    with (
        pytest.raises(endpoint_slots.NoSlot),
        endpoint_slots.endpoint_slot(998, limit=1, lease_seconds=1, wait_seconds=0.1),
    ):
        pass
    time.sleep(0.35)
    with endpoint_slots.endpoint_slot(998, limit=1, lease_seconds=1, wait_seconds=0.1):
        assert endpoint_slots.slots_in_use(998) == 1
