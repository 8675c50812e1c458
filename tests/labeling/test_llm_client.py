"""The client against a real loopback endpoint that misbehaves in every way the issue lists."""

import httpx
import pytest

from labeling.llm_client import (
    Endpoint,
    Example,
    LLMCallError,
    PolicyQuestion,
    answer_schema,
    ask,
    backoff_seconds,
    build_messages,
    validate_answer,
)

SPAM = PolicyQuestion(
    category="spam",
    category_name="Spam",
    policy="Unsolicited bulk commercial messages.",
    examples=(Example("Buy cheap pills now", True, "Bulk advertising."),),
    max_rationale_chars=200,
)


def _ask(fake_endpoint, mode: str, text: str = "hello", timeout: float = 2.0):
    endpoint = Endpoint(base_url=f"{fake_endpoint.base_url}/{mode}/v1", model="fake", timeout=timeout)
    with httpx.Client() as client:
        return ask(client, endpoint, SPAM, text, request_key=f"{mode}-{text}")


def test_a_valid_answer_comes_back_with_tokens_and_latency(fake_endpoint):
    verdict = _ask(fake_endpoint, "ok", "VIOLATION: send me your bank details")
    assert verdict.verdict is True
    assert verdict.probability == 0.9
    assert verdict.rationale.startswith("The message")
    assert verdict.tokens == 120
    assert verdict.latency_ms >= 0


@pytest.mark.parametrize(
    ("mode", "reason", "retryable"),
    [
        ("malformed", "invalid_json", True),
        ("empty", "empty_answer", True),
        ("unknown-category", "schema_violation", True),
        ("out-of-range", "schema_violation", True),
        ("long-rationale", "schema_violation", True),
        ("wrong-type", "schema_violation", True),
        ("429", "http_429", True),
        ("500", "http_5xx", True),
        ("nonexistent-path", "http_4xx", False),
    ],
)
def test_each_bad_answer_is_refused_with_its_reason(fake_endpoint, mode, reason, retryable):
    with pytest.raises(LLMCallError) as caught:
        _ask(fake_endpoint, mode)
    assert caught.value.reason == reason
    assert caught.value.retryable is retryable


def test_the_refusal_names_the_field_that_broke_the_schema(fake_endpoint):
    with pytest.raises(LLMCallError) as caught:
        _ask(fake_endpoint, "out-of-range")
    assert caught.value.message.startswith("probability:")
    assert caught.value.tokens == 120  # charged by the endpoint even though refused
    with pytest.raises(LLMCallError) as caught:
        _ask(fake_endpoint, "unknown-category")
    assert caught.value.message.startswith("category:")
    with pytest.raises(LLMCallError) as caught:
        _ask(fake_endpoint, "long-rationale")
    assert caught.value.message.startswith("rationale:")


def test_a_429_passes_on_the_endpoints_retry_after(fake_endpoint):
    with pytest.raises(LLMCallError) as caught:
        _ask(fake_endpoint, "429")
    assert caught.value.retry_after == 1.0
    assert backoff_seconds(1, base=0.1, retry_after=caught.value.retry_after) == 1.0


def test_a_slow_endpoint_times_out(fake_endpoint):
    with pytest.raises(LLMCallError) as caught:
        _ask(fake_endpoint, "slow", timeout=0.3)
    assert caught.value.reason == "timeout"


def test_an_endpoint_that_is_down_is_unreachable():
    endpoint = Endpoint(base_url="http://127.0.0.1:9/v1", model="none", timeout=1.0)
    with httpx.Client() as client, pytest.raises(LLMCallError) as caught:
        ask(client, endpoint, SPAM, "hello", request_key="down")
    assert caught.value.reason == "unreachable"


@pytest.mark.parametrize(
    "content",
    [
        '{"category": "spam", "verdict": true, "probability": -0.1, "rationale": "x"}',
        '{"category": "spam", "verdict": true, "probability": 0.5}',
        '{"category": "spam", "verdict": true, "probability": 0.5, "rationale": "x", "extra": 1}',
        '["spam", true]',
        '{"category": "spam", "verdict": true, "probability": NaN, "rationale": "x"}',
    ],
)
def test_validation_refuses_answers_outside_the_schema(content):
    with pytest.raises(LLMCallError):
        validate_answer(content, SPAM)


def test_backoff_grows_and_is_capped():
    assert [backoff_seconds(a, base=1, cap=5) for a in (1, 2, 3, 4)] == [1, 2, 4, 5]


def test_the_examples_are_sent_as_earlier_turns_and_the_schema_pins_the_category():
    messages = build_messages(SPAM, "the item")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"].endswith("the item")
    assert answer_schema(SPAM)["properties"]["category"]["enum"] == ["spam"]
