"""Schemathesis against /api/schema/: every operation, every phase, every built-in check, an admin token.

Phases: examples, coverage and fuzzing per operation (``test_every_operation_keeps_to_its_schema``), and
stateful sequences that follow the links schemathesis infers from the schema (an item's id from a list or a
claim into reading and deciding it; an experiment's id into reading and stopping it; a webhook subscription's
id into reading, replacing, changing and deleting it) in ``test_sequences_of_calls_keep_to_the_schema``.
Checks: all of schemathesis's built-in ones, webhook subscriptions included: no 5xx, documented status codes,
content types, headers and bodies, schema-valid requests accepted, schema-invalid ones refused, auth enforced,
a deleted object gone and a created one readable. Webhook deliveries go to a real HTTP receiver on
127.0.0.1 in this process (the operator's WEBHOOK_ALLOWED_NETWORKS lets them through).

Runs in the ordinary suite (``make test``, so in CI) against the WSGI app in this process, on the test
database, derandomized (the same requests every run), with a bounded number of examples; see
bench/RESULTS.md for its coverage and wall time.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from review import claims, decisions
from tests.factories import b64, enqueue, image_bytes, make_item, make_queue, make_token, make_user
from webhooks import services as webhooks
from webhooks.models import Delivery

EXAMPLES = 8  # fuzzed examples per operation, on top of its schema examples and coverage cases
SEQUENCES, STEPS = 40, 6  # stateful phase: scenarios, and calls in each at most


class LoopbackReceiver(BaseHTTPRequestHandler):
    """A webhook receiver: answers 204 to every POST and keeps the event ids it was sent."""

    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(self.headers.get("webhook-id", ""))
        json.loads(body)  # a broken body would make this handler fail, and the delivery with it
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


# Started when the file is collected: the schema's example subscription URL (below) must name its port.
receiver = ThreadingHTTPServer(("127.0.0.1", 0), LoopbackReceiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
RECEIVER_URL = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"

# Loaded when the file is collected (the schema view needs no database), so each operation is a test
# of its own. (schemathesis.pytest.from_fixture would defer it, but does not work with pytest 9.)
# The schema view needs a staff sign-in, which collection has no database for: the same document, generated here.
document = SchemaGenerator().get_schema(request=None, public=True)
for component in ("SubscriptionRequest", "PatchedSubscriptionRequest"):
    # The examples phase subscribes the receiver, so events of the run are delivered somewhere real.
    document["components"]["schemas"][component]["properties"]["url"]["example"] = RECEIVER_URL
# Not the multipart form of POST /items: schemathesis 4.32.5 does not JSON-encode its `payload` part (a oneOf of
# two objects, `encoding: application/json`); a run sent the part as a bare word ("lease_seconds") and counted
# the server's 400 as a mismatch. That form is tested by tests/intake and tests/api/test_json_input.py.
del document["paths"]["/api/v1/items"]["post"]["requestBody"]["content"]["multipart/form-data"]
# The schema's format for an item's image (intake.serializers.ImageBase64Field): base64 of a real image.
schemathesis.openapi.format("image-base64", st.sampled_from([b64(image_bytes(f)) for f in ("PNG", "JPEG", "GIF")]))
schema = schemathesis.openapi.from_dict(document)
schema.app = get_wsgi_application()
schema.location = "/api/schema/"
TOKEN = {"secret": ""}


@schema.auth(refresh_interval=None)
class AdminToken:
    """The admin token of the running test, sent as schemathesis's own auth, so its ignored_auth check knows
    which credentials to take away (a header passed to ``call`` would look generated to it)."""

    def get(self, case, ctx):  # noqa: ANN001, ANN201 - schemathesis's auth provider protocol
        return TOKEN["secret"]

    def set(self, case, data, ctx):  # noqa: ANN001, ANN201
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def in_test_transaction(db, settings):
    """Requests to the WSGI app run inside the test's transaction.

    Django's own test client unhooks ``close_old_connections`` from the request signals; calling the
    WSGI app directly must do the same, or the first request would close the test's connection.
    """
    settings.API_RATE_LIMIT = ""  # generated traffic would otherwise run into the per-token limit
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # the receiver; an operator's setting, as in production
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _decide_one(user) -> None:  # noqa: ANN001
    queue = make_queue(members=[user])
    for _ in range(3):
        enqueue(make_item(), queue)
    claim = claims.claim_next_item(queue=queue, user=user)
    decisions.record_decision(
        entry_id=claim.entry_id, token=claim.token, user=user, action="remove", categories=["spam"]
    )


@pytest.fixture
def admin_token(in_test_transaction) -> str:
    """A token with the admin scope, and data for its requests to find: a queue it works, items, a decision."""
    user = make_user(username="schemathesis")
    _, secret = make_token(scopes=["admin"], user=user)
    _decide_one(user)
    TOKEN["secret"] = secret
    return secret


def _explained(case, response) -> str:  # noqa: ANN001
    return f"{case.operation.label} answered {response.status_code}: {response.text[:600]}"


@schema.parametrize()
@SETTINGS
def test_every_operation_keeps_to_its_schema(case, admin_token):
    response = case.call()
    try:
        case.validate_response(response)
    except BaseException:
        print(_explained(case, response))  # the body, which schemathesis's report leaves out for a 4xx
        raise


def test_sequences_of_calls_keep_to_the_schema(admin_token):
    class Sequences(schema.as_state_machine()):
        def validate_response(self, response, case, **kwargs):  # noqa: ANN001, ANN201
            try:
                super().validate_response(response, case, **kwargs)
            except BaseException:
                print(_explained(case, response))
                raise

    Sequences.run(settings=settings(SETTINGS, max_examples=SEQUENCES, stateful_step_count=STEPS))

    # A subscription to the receiver gets its events: the worker's delivery step, called here (no worker runs
    # in this test's transaction), over a real HTTP connection to 127.0.0.1. (The run's own subscriptions may
    # have been deleted by its sequences, so this one is made afterwards.)
    LoopbackReceiver.received.clear()
    subscription = webhooks.create_subscription(url=RECEIVER_URL, event_types=["decision.created"])
    _decide_one(make_user(username="after-the-run"))
    pending = Delivery.objects.filter(subscription=subscription, state=Delivery.State.PENDING)
    outcomes = [webhooks.deliver(delivery_id=pk) for pk in pending.values_list("pk", flat=True)]
    assert outcomes == [Delivery.State.DELIVERED]
    assert len(LoopbackReceiver.received) == 1
