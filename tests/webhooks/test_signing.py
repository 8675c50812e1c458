"""Signatures follow the Standard Webhooks spec; the ticketing bridge's verifier refuses what it must."""

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from examples.ticketing_bridge import InvalidWebhook, ReplayedWebhook, WebhookVerifier
from webhooks.models import new_secret
from webhooks.signing import signature_headers

# The test vector published with the Standard Webhooks specification and its reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers() -> dict[str, str]:
    moment = datetime.fromtimestamp(SPEC_TIMESTAMP, tz=UTC)
    return signature_headers(secret=SPEC_SECRET, message_id=SPEC_ID, timestamp=moment, body=SPEC_BODY)


def verifier(now: float = SPEC_TIMESTAMP) -> WebhookVerifier:
    return WebhookVerifier(SPEC_SECRET, clock=lambda: now)


def test_signing_reproduces_the_specs_reference_signature():
    assert spec_headers() == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_the_bridge_accepts_the_reference_message_once():
    message = verifier().verify(SPEC_BODY.encode(), spec_headers())
    assert (message.id, message.body, message.first_time) == (SPEC_ID, {"test": 2432232314}, True)


def test_the_bridge_refuses_a_tampered_body():
    with pytest.raises(InvalidWebhook, match="no signature matches"):
        verifier().verify(b'{"test": 2432232315}', spec_headers())


def test_the_bridge_refuses_a_signature_made_with_another_secret():
    other = WebhookVerifier(new_secret(), clock=lambda: SPEC_TIMESTAMP)
    with pytest.raises(InvalidWebhook, match="no signature matches"):
        other.verify(SPEC_BODY.encode(), spec_headers())


def test_the_bridge_refuses_a_replay_of_an_accepted_request():
    bridge = verifier()
    bridge.verify(SPEC_BODY.encode(), spec_headers())
    with pytest.raises(ReplayedWebhook):
        bridge.verify(SPEC_BODY.encode(), spec_headers())


def test_a_retry_of_a_processed_message_is_recognised_and_not_processed_again():
    bridge = verifier(now=SPEC_TIMESTAMP + 60)
    bridge.verify(SPEC_BODY.encode(), spec_headers())
    retry_time = datetime.fromtimestamp(SPEC_TIMESTAMP + 30, tz=UTC)
    retry = signature_headers(secret=SPEC_SECRET, message_id=SPEC_ID, timestamp=retry_time, body=SPEC_BODY)
    assert bridge.verify(SPEC_BODY.encode(), retry).first_time is False


@pytest.mark.parametrize("offset", [-301, 301])
def test_the_bridge_refuses_timestamps_more_than_five_minutes_away(offset):
    with pytest.raises(InvalidWebhook, match="5 minutes"):
        verifier(now=SPEC_TIMESTAMP + offset).verify(SPEC_BODY.encode(), spec_headers())


def test_the_bridge_refuses_requests_without_the_signature_headers():
    headers = spec_headers()
    del headers["webhook-signature"]
    with pytest.raises(InvalidWebhook, match="missing"):
        verifier().verify(SPEC_BODY.encode(), headers)


def test_new_secrets_are_32_random_bytes_the_reference_library_accepts():
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret != new_secret()
    body = json.dumps({"type": "decision.created"})
    headers = signature_headers(secret=secret, message_id="msg_1", timestamp=datetime.now(tz=UTC), body=body)
    assert Webhook(secret).verify(body, headers) == {"type": "decision.created"}


def test_the_bridge_prints_first_verdicts_second_opinions_and_overturns_apart():
    from examples.ticketing_bridge import describe

    item = {"source": "helpdesk", "external_id": "T-1"}
    verdict = {"action": "remove", "categories": ["spam"], "reviewer": "mira"}
    first = {"type": "decision.created", "data": item | verdict}
    second = {"type": "decision.created", "data": first["data"] | {"second_review": True, "reviewer": "ada"}}
    overturned = {
        "type": "decision.overturned",
        "data": item
        | {"previous_action": "remove", "action": "no_violation", "categories": [], "overturned_by": "sam"},
    }
    assert describe(first) == "DECISION helpdesk/T-1: remove (spam) by mira"
    assert describe(second) == "SECOND REVIEW helpdesk/T-1: remove (spam) by ada"
    assert describe(overturned) == "OVERTURNED helpdesk/T-1: remove -> no_violation (no category) by sam in QA"
