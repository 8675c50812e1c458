"""The real SmolLM2 server over HTTP: structured output the client accepts, OpenAI-shaped errors.

These tests assert behaviour, never the tiny model's judgement (which is poor).
"""

import json

import httpx
import pytest

from labeling.llm_client import Endpoint, PolicyQuestion, answer_schema, ask

pytestmark = pytest.mark.slow

SCAM = PolicyQuestion(
    category="scam_fraud",
    category_name="Scams and fraud",
    policy="Content that tries to trick people out of money or credentials, e.g. fake prizes or gift cards.",
    max_rationale_chars=120,
)


def test_it_lists_its_model(model_server):
    models = httpx.get(f"{model_server}/models", timeout=10).json()
    assert models["data"][0]["id"] == "SmolLM2-135M-Instruct"


def test_a_schema_guided_answer_passes_the_clients_strict_validation(model_server):
    endpoint = Endpoint(base_url=model_server, model="SmolLM2-135M-Instruct", timeout=120)
    with httpx.Client() as client:
        verdict = ask(client, endpoint, SCAM, "You won a $500 gift card! Send your PIN to claim.", request_key="t1")
    assert isinstance(verdict.verdict, bool)
    assert 0.0 <= verdict.probability <= 1.0
    assert len(verdict.rationale) <= SCAM.max_rationale_chars
    assert verdict.prompt_tokens > 50
    assert verdict.completion_tokens > 0


def test_the_same_request_gets_the_same_answer(model_server):
    body = {
        "messages": [{"role": "user", "content": "Is 'free crypto, DM me' a scam?"}],
        "response_format": {"type": "json_schema", "json_schema": {"schema": answer_schema(SCAM)}},
    }
    first = httpx.post(f"{model_server}/chat/completions", json=body, timeout=120).json()
    second = httpx.post(f"{model_server}/chat/completions", json=body, timeout=120).json()
    content = first["choices"][0]["message"]["content"]
    assert content == second["choices"][0]["message"]["content"]
    assert set(json.loads(content)) == {"category", "verdict", "probability", "rationale"}


def test_a_free_answer_without_a_schema_is_text(model_server):
    body = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    answer = httpx.post(f"{model_server}/chat/completions", json=body, timeout=120).json()
    assert answer["choices"][0]["message"]["content"].strip()
    assert answer["usage"]["completion_tokens"] <= 8


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b'{"messages": "hi"}', 400),
        (b'{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema"}}', 400),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", '
            b'"json_schema": {"schema": {"type": "array"}}}}',
            400,
        ),
    ],
)
def test_bad_requests_get_a_400_with_an_openai_style_error(model_server, body, status):
    response = httpx.post(f"{model_server}/chat/completions", content=body, timeout=30)
    assert response.status_code == status
    assert response.json()["error"]["message"]
