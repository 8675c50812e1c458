"""At most ``endpoint.concurrency`` requests in flight to one LLM endpoint, across every worker process.

Each worker's thread pool already holds no more than that many requests, but two workers (or two runs, or a run
and a preview) would each send that many. The slots are a semaphore in Redis: a sorted set per endpoint whose
members are the requests holding a slot, scored by when their lease ends. Taking a slot is one Lua script (drop
expired leases, count, add if below the limit), so two workers never both take the last one; a worker that dies
holding a slot loses it when its lease ends (the request's timeout plus a margin). Waiting is polling with a
short sleep: nothing here is fast enough for a wake-up signal to matter against a model's seconds per request.

Without Redis (the embedded set-up: one process, SQLite, filesystem broker), a process-wide semaphore per endpoint
does the same job for the only process there is.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

LEASE_MARGIN_SECONDS = 30
POLL_SECONDS = (0.005, 0.03)  # a random sleep in this range between tries, so waiters do not move in lockstep

ACQUIRE = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""


class NoSlot(Exception):
    """No slot came free within the wait."""


_local_slots: dict[int, threading.BoundedSemaphore] = {}
_local_lock = threading.Lock()
_client: redis.Redis | None = None


def _redis() -> redis.Redis | None:
    global _client
    url = settings.LLM_SLOTS_REDIS_URL
    if not url:
        return None
    if _client is None:
        _client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return _client


def slot_key(endpoint_id: int) -> str:
    return f"labeling:llm-slots:{endpoint_id}"


@contextmanager
def endpoint_slot(endpoint_id: int, *, limit: int, lease_seconds: float, wait_seconds: float) -> Iterator[None]:
    """Hold one of the endpoint's ``limit`` slots for the block; ``NoSlot`` if none frees within ``wait_seconds``."""
    client = _redis()
    if client is None:
        with _local_lock:
            semaphore = _local_slots.setdefault(endpoint_id, threading.BoundedSemaphore(limit))
        if not semaphore.acquire(timeout=wait_seconds):
            raise NoSlot(f"no free slot on endpoint {endpoint_id} within {wait_seconds:g} s")
        try:
            yield
        finally:
            semaphore.release()
        return
    key, token = slot_key(endpoint_id), uuid.uuid4().hex
    lease_ms = int((lease_seconds + LEASE_MARGIN_SECONDS) * 1000)
    acquire = client.register_script(ACQUIRE)
    deadline = time.monotonic() + wait_seconds
    while not acquire(keys=[key], args=[limit, lease_ms, token]):
        if time.monotonic() > deadline:
            raise NoSlot(f"no free slot on endpoint {endpoint_id} within {wait_seconds:g} s")
        time.sleep(random.uniform(*POLL_SECONDS))
    try:
        yield
    finally:
        client.zrem(key, token)


def slots_in_use(endpoint_id: int) -> int | None:
    """Leases currently held (Redis only; None in the embedded set-up)."""
    client = _redis()
    if client is None:
        return None
    key = slot_key(endpoint_id)
    client.zremrangebyscore(key, "-inf", int(time.time() * 1000))
    return int(client.zcard(key))
