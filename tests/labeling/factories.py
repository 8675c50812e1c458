"""Builders for labeling tests: endpoints pointing at the loopback servers, prompts, labelers."""

from decimal import Decimal

from classifiers.models import PolicyCategory
from labeling import llm_runs
from labeling.models import LLMEndpoint


def make_endpoint(base_url: str, **fields) -> LLMEndpoint:
    fields.setdefault("name", f"endpoint {base_url} {LLMEndpoint.objects.count()}")
    fields.setdefault("model", "fake-model")
    fields.setdefault("concurrency", 2)
    fields.setdefault("timeout_seconds", 2.0)
    fields.setdefault("max_attempts", 2)
    fields.setdefault("price_per_million_prompt_tokens", Decimal("1.0"))
    fields.setdefault("price_per_million_completion_tokens", Decimal("2.0"))
    return LLMEndpoint.objects.create(base_url=base_url, **fields)


def spam_category() -> PolicyCategory:
    return PolicyCategory.objects.get(slug="spam")


def make_llm_labeler(base_url: str, **endpoint_fields):
    prompt = llm_runs.create_prompt_version(
        category=spam_category(),
        policy_text="Spam: unsolicited bulk commercial messages.",
        examples=[{"text": "Buy pills", "violates": True, "rationale": "Bulk advertising."}],
        max_rationale_chars=200,
    )
    endpoint = make_endpoint(base_url, **endpoint_fields)
    return llm_runs.llm_labeler_for(prompt=prompt, endpoint=endpoint)
