"""Asking an OpenAI-compatible endpoint for one policy verdict, and refusing any answer that is not exactly right.

No ORM here: the service passes plain values in and stores what comes back. The request asks for structured
output (``response_format`` with a JSON schema); the answer is validated strictly against the same schema with
``jsonschema`` whatever the endpoint claims to support, because a model may ignore the schema. Every way an
answer can be wrong raises ``LLMCallError`` with a short machine-readable reason and a message a person can read;
``retryable`` says whether asking again may help (it may for an outage or a malformed answer from a sampling
model, it will not for a 401).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass, field

import httpx
import jsonschema

MAX_RATIONALE_CHARS = 500
MAX_ERROR_BODY_CHARS = 200


@dataclass(frozen=True)
class Example:
    text: str
    violates: bool
    rationale: str


@dataclass(frozen=True)
class PolicyQuestion:
    """What the labeler asks about one category: the policy text and a few worked examples."""

    category: str
    category_name: str
    policy: str
    examples: tuple[Example, ...] = ()
    max_rationale_chars: int = MAX_RATIONALE_CHARS


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # up to and including /v1
    model: str
    api_key: str = ""
    timeout: float = 30.0
    max_tokens: int = 300


@dataclass(frozen=True)
class Verdict:
    verdict: bool
    probability: float
    rationale: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class LLMCallError(Exception):
    reason: str  # unreachable, timeout, http_429, http_5xx, http_4xx, invalid_json, empty_answer, schema_violation
    message: str
    retryable: bool = True
    retry_after: float | None = None
    tokens: int = 0  # tokens the endpoint charged even though the answer was refused
    latency_ms: int = 0
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def content_hash(text: str) -> str:
    """The cache key's content half: the same text asked with the same prompt version is asked once."""
    return hashlib.sha256(text.encode()).hexdigest()


def answer_schema(question: PolicyQuestion) -> dict:
    """The JSON schema the answer must follow (sent to the endpoint, and checked on the way back)."""
    return {
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": [question.category]},
            "verdict": {"type": "boolean"},
            "probability": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string", "maxLength": question.max_rationale_chars},
        },
        "required": ["category", "verdict", "probability", "rationale"],
        "additionalProperties": False,
    }


@functools.lru_cache(maxsize=256)
def _validator(question: PolicyQuestion) -> jsonschema.Draft202012Validator:
    """Compiled once per question: a bulk run validates thousands of answers against the same schema."""
    return jsonschema.Draft202012Validator(answer_schema(question))


def build_messages(question: PolicyQuestion, text: str) -> list[dict]:
    system = (
        "You label user content for a Trust & Safety team against one policy. "
        f'Policy "{question.category_name}" ({question.category}):\n{question.policy}\n'
        "Answer with JSON: the category, verdict (true if the content violates the policy), the probability that "
        f"it does (0 to 1), and a rationale of at most {question.max_rationale_chars} characters."
    )
    messages = [{"role": "system", "content": system}]
    for example in question.examples:
        messages.append({"role": "user", "content": f"Content:\n{example.text}"})
        answer = {
            "category": question.category,
            "verdict": example.violates,
            "probability": 0.95 if example.violates else 0.05,
            "rationale": example.rationale,
        }
        messages.append({"role": "assistant", "content": json.dumps(answer)})
    messages.append({"role": "user", "content": f"Content:\n{text}"})
    return messages


def validate_answer(content: str, question: PolicyQuestion) -> tuple[bool, float, str]:
    """The verdict, probability and rationale in ``content``, or ``LLMCallError`` naming what is wrong."""
    if not content or not content.strip():
        raise LLMCallError("empty_answer", "the endpoint answered with no content")
    try:
        answer = json.loads(content)
    except ValueError as exc:
        raise LLMCallError("invalid_json", f"the answer is not JSON ({exc.msg} at {exc.pos})") from None
    error = jsonschema.exceptions.best_match(_validator(question).iter_errors(answer))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "answer"
        detail = error.message if len(error.message) <= MAX_ERROR_BODY_CHARS else error.message[:MAX_ERROR_BODY_CHARS]
        raise LLMCallError("schema_violation", f"{where}: {detail}")
    probability = float(answer["probability"])
    if probability != probability:  # NaN passes "minimum"/"maximum" in some validators; never here
        raise LLMCallError("schema_violation", "probability: not a number")
    return answer["verdict"], probability, answer["rationale"]


def ask(client: httpx.Client, endpoint: Endpoint, question: PolicyQuestion, text: str, *, request_key: str) -> Verdict:
    """One request for one verdict. Raises ``LLMCallError``; never returns a half-checked answer."""
    body = {
        "model": endpoint.model,
        "messages": build_messages(question, text),
        "temperature": 0,
        "max_tokens": endpoint.max_tokens,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "policy_verdict", "strict": True, "schema": answer_schema(question)},
        },
    }
    headers = {"X-Request-Key": request_key}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    started = time.perf_counter()
    try:
        response = client.post(
            endpoint.base_url.rstrip("/") + "/chat/completions", json=body, headers=headers, timeout=endpoint.timeout
        )
    except httpx.TimeoutException:
        raise LLMCallError("timeout", f"no answer within {endpoint.timeout:g} s") from None
    except httpx.TransportError as exc:
        raise LLMCallError("unreachable", f"could not reach the endpoint ({type(exc).__name__})") from None
    latency_ms = int((time.perf_counter() - started) * 1000)
    if response.status_code != 200:
        raise _http_error(response, latency_ms)
    try:
        payload = response.json()
        content = payload["choices"][0]["message"]["content"]
        usage = payload.get("usage") or {}
        prompt_tokens, completion_tokens = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    except (ValueError, KeyError, IndexError, TypeError):
        message = "the response is not an OpenAI chat completion"
        raise LLMCallError("invalid_json", message, latency_ms=latency_ms) from None
    try:
        verdict, probability, rationale = validate_answer(content or "", question)
    except LLMCallError as exc:
        exc.tokens, exc.latency_ms = prompt_tokens + completion_tokens, latency_ms
        raise
    return Verdict(verdict, probability, rationale, prompt_tokens, completion_tokens, latency_ms)


def _http_error(response: httpx.Response, latency_ms: int) -> LLMCallError:
    status = response.status_code
    snippet = response.text[:MAX_ERROR_BODY_CHARS]
    if status == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
        return LLMCallError("http_429", "rate limited by the endpoint", retry_after=retry_after, latency_ms=latency_ms)
    if status >= 500:
        return LLMCallError("http_5xx", f"HTTP {status}: {snippet}", latency_ms=latency_ms)
    # 4xx other than 429: our request or our key is wrong; asking again changes nothing.
    return LLMCallError("http_4xx", f"HTTP {status}: {snippet}", retryable=False, latency_ms=latency_ms)


def backoff_seconds(attempt: int, *, base: float = 0.5, cap: float = 30.0, retry_after: float | None = None) -> float:
    """Exponential backoff before attempt ``attempt + 1``; the endpoint's Retry-After wins when it is longer."""
    delay = min(cap, base * (2 ** (attempt - 1)))
    return max(delay, min(cap, retry_after)) if retry_after else delay
