"""Schemathesis against /api/schema/: every operation, generated requests, a valid admin token.

Each response must be no 5xx, carry a status code and content type the schema documents, and match
the documented body schema. Runs in the ordinary suite (``make test``, so in CI) against the WSGI app
in this process, on the test database; the number of examples per operation is bounded to keep the
whole file to about a minute on two cores.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from review import claims, decisions
from tests.factories import enqueue, make_item, make_queue, make_token, make_user

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 8


# Loaded when the file is collected (the schema view needs no database), so each operation is a test
# of its own. (schemathesis.pytest.from_fixture would defer it, but does not work with pytest 9.)
# The schema view needs a staff sign-in, which collection has no database for: the same document, generated here.
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = get_wsgi_application()
schema.location = "/api/schema/"
# The webhooks app's operations do not document their 400 and 404 answers yet; until they do, they are
# held to every check but that one (drop this to hold them to all).
UNDOCUMENTED_STATUSES_PREFIX = "/api/v1/webhooks/"


@pytest.fixture
def in_test_transaction(db, settings):
    """Requests to the WSGI app run inside the test's transaction.

    Django's own test client unhooks ``close_old_connections`` from the request signals; calling the
    WSGI app directly must do the same, or the first request would close the test's connection.
    """
    settings.API_RATE_LIMIT = ""  # generated traffic would otherwise run into the per-token limit
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_header(in_test_transaction) -> dict[str, str]:
    """A token with the admin scope, and data for its requests to find: a queue it works, items, a decision."""
    user = make_user(username="schemathesis")
    _, secret = make_token(scopes=["admin"], user=user)
    queue = make_queue(members=[user])
    for _ in range(3):
        enqueue(make_item(), queue)
    claim = claims.claim_next_item(queue=queue, user=user)
    decisions.record_decision(
        entry_id=claim.entry_id, token=claim.token, user=user, action="remove", categories=["spam"]
    )
    return {"Authorization": f"Bearer {secret}"}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_keeps_to_its_schema(case, admin_header):
    checks = CHECKS
    if case.path.startswith(UNDOCUMENTED_STATUSES_PREFIX):
        checks = [check for check in CHECKS if check is not status_code_conformance]
    case.call_and_validate(headers=admin_header, checks=checks)
