"""Real HTTP receivers on loopback for webhook tests, and Celery run in-process."""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from examples.ticketing_bridge import WebhookVerifier, make_handler
from webhooks.models import WebhookSubscription
from webhooks.transport import reset_connection_pool


@dataclass
class Receiver:
    """The ticketing bridge's own webhook endpoint, served from a thread on 127.0.0.1."""

    server: ThreadingHTTPServer
    secret: str
    verifier: WebhookVerifier
    events: list[dict] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_receiver(secret: str, port: int = 0) -> Receiver:
    verifier = WebhookVerifier(secret)
    events: list[dict] = []
    server = serve(ThreadingHTTPServer(("127.0.0.1", port), make_handler(verifier, events.append)))
    return Receiver(server=server, secret=secret, verifier=verifier, events=events)


def serve_handler(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Any other receiver (one that answers 500, redirects, trickles...) on a free loopback port."""
    return serve(ThreadingHTTPServer(("127.0.0.1", 0), handler))


def free_port() -> int:
    """A loopback port nothing listens on (a receiver that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def fresh_connections() -> Iterator[None]:
    # A kept-alive connection was checked against the allow-list of the test that opened it.
    reset_connection_pool()
    yield
    reset_connection_pool()


@pytest.fixture
def allow_loopback(settings) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run in the caller, so a test drives delivery and the sweeper step by step."""
    from moderation_site.celery_app import app

    # Services send tasks by name; a task runs eagerly only once its module is registered, as in a worker.
    app.loader.import_default_modules()
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def subscribe(db, allow_loopback):  # noqa: ANN001, ANN201
    def make(url: str, event_types: list[str] | None = None, **fields) -> WebhookSubscription:
        subscription = WebhookSubscription(url=url, event_types=event_types or ["decision.created"], **fields)
        subscription.full_clean()
        subscription.save()
        return subscription

    return make


@pytest.fixture
def receiver(db) -> Iterator[Receiver]:
    """A running receiver whose secret is the one its subscription will be created with."""
    from webhooks.models import new_secret

    running = start_receiver(new_secret())
    yield running
    running.stop()
