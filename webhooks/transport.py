"""Sending one webhook: POST without redirects, under a total time limit, only to allowed addresses.

httpcore (the engine under httpx) takes a pluggable network backend. Ours resolves the host once,
refuses the connection if any resolved address is not allowed (``webhooks.destinations``), and
connects to the address it checked, so DNS cannot answer differently between check and connect.
The URL keeps its host name: the Host header, TLS SNI and certificate checks all use it. httpcore
never follows redirects, so a 3xx is just a failed attempt. Every socket operation is bounded by
what is left of ``WEBHOOK_TIMEOUT``, so a receiver that trickles bytes cannot hold a worker.
"""

import contextvars
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx
from django.conf import settings

from webhooks.destinations import allowed_networks, refusal_reason

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("webhook_deadline", default=None)


class DestinationRefused(httpcore.ConnectError):
    """The URL's host resolves to an address webhooks may not reach."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    excerpt: str


def _bounded(timeout: float | None) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    # Never 0: a zero socket timeout means non-blocking, not "already late".
    remaining = max(deadline - time.monotonic(), 0.001)
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:  # noqa: ANN001
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, check every address, connect to a checked address."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        allowed = allowed_networks()
        for address in addresses:
            reason = refusal_reason(ipaddress.ip_address(address), allowed)
            if reason:
                # Refuse the host if any of its addresses is refused: which one a retry would pick is not ours to know.
                raise DestinationRefused(f"{host} resolves to {address}, {reason}; webhooks go to public addresses")
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(address, port, _bounded(timeout), local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream)
        raise error

    def connect_unix_socket(self, path: str, timeout=None, socket_options=None) -> httpcore.NetworkStream:  # noqa: ANN001
        raise DestinationRefused("webhooks are not sent to Unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


_pool: httpcore.ConnectionPool | None = None
_pool_lock = threading.Lock()


def connection_pool() -> httpcore.ConnectionPool:
    """One pool per process: deliveries to the same receiver reuse a kept-alive connection."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = httpcore.ConnectionPool(
                network_backend=GuardedBackend(), max_connections=20, keepalive_expiry=30, retries=0
            )
        return _pool


def reset_connection_pool() -> None:
    """Close kept-alive connections (tests change the allow-list; a kept connection was checked under the old one)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
        _pool = None


def post(url: str, *, body: bytes, headers: dict[str, str], excerpt_bytes: int = 1024) -> Answer:
    """POST ``body`` to ``url`` and return the status and the start of the response body.

    Raises an ``httpcore`` exception (``DestinationRefused`` among them) when no answer came back.
    """
    parsed = httpx.URL(url)  # IDNA-encodes the host; httpcore wants bytes ready for the wire
    target = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path)
    total = settings.WEBHOOK_TIMEOUT
    timeouts = {"connect": settings.WEBHOOK_CONNECT_TIMEOUT, "read": total, "write": total, "pool": total}
    token = _deadline.set(time.monotonic() + total)
    try:
        with connection_pool().stream(
            "POST", target, headers=list(headers.items()), content=body, extensions={"timeout": timeouts}
        ) as response:
            received = b""
            for chunk in response.iter_stream():
                received += chunk
                if len(received) >= excerpt_bytes:
                    break  # the rest is not read; httpcore drops the connection instead of reusing it
    finally:
        _deadline.reset(token)
    return Answer(status_code=response.status, excerpt=received[:excerpt_bytes].decode("utf-8", "replace"))
