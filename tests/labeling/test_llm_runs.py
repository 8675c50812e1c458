"""Bulk LLM runs against real loopback endpoints: results, cost, cache, failures with reasons, budget, stops."""

from decimal import Decimal

import pytest

from labeling import llm_runs
from labeling.models import EndpointUsage, LLMResult, LLMRun
from tests.factories import make_item
from tests.labeling.factories import make_llm_labeler

pytestmark = pytest.mark.django_db


def _run(labeler, items, **kwargs) -> LLMRun:
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[i.pk for i in items])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30, sleep=kwargs.pop("sleep", lambda s: None), **kwargs)
    run.refresh_from_db()
    return run


def test_a_run_stores_each_verdict_with_tokens_latency_and_cost(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    items = [make_item(text="VIOLATION: wire me $500"), make_item(text="see you at lunch")]
    run = _run(labeler, items)
    assert run.state == LLMRun.State.DONE
    results = {r.item_id: r for r in run.results.all()}
    bad, fine = results[items[0].pk], results[items[1].pk]
    assert (bad.verdict, bad.probability, fine.verdict, fine.probability) == (True, 0.9, False, 0.1)
    assert bad.prompt_tokens == 100 and bad.completion_tokens == 20
    assert bad.cost == Decimal("0.000140")  # 100 x 1.0/M + 20 x 2.0/M
    assert bad.attempts == 1
    assert EndpointUsage.objects.get(endpoint=labeler.endpoint).tokens == 240
    progress = llm_runs.run_progress(run)
    assert (progress.total, progress.done, progress.failed, progress.pending, progress.tokens) == (2, 2, 0, 0, 240)


def test_the_same_text_and_prompt_version_is_answered_from_the_cache(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    item = make_item(text="VIOLATION: cheap watches")
    twin = make_item(text="VIOLATION: cheap watches")
    _run(labeler, [item])
    asked_before = fake_endpoint.requests["ok"]
    second = _run(labeler, [item, twin])
    assert fake_endpoint.requests["ok"] == asked_before
    results = list(second.results.all())
    assert all(r.cached_from_id is not None and r.verdict is True and r.prompt_tokens == 0 for r in results)


def test_one_bad_answer_fails_alone_with_its_reason_and_nothing_half_written(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    good, bad = make_item(text="hello"), make_item(text="BREAK_SCHEMA please")
    run = _run(labeler, [good, bad])
    assert run.state == LLMRun.State.DONE
    failed = run.results.get(item=bad)
    assert failed.state == LLMResult.State.FAILED
    assert failed.failure_reason.startswith("schema_violation: category:")
    assert failed.failure_reason.endswith("(after 2 attempts)")
    assert (failed.verdict, failed.probability, failed.rationale, failed.cost) == (None, None, "", 0)
    assert run.results.get(item=good).state == LLMResult.State.DONE


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("malformed", "invalid_json"),
        ("empty", "empty_answer"),
        ("out-of-range", "schema_violation: probability"),
        ("long-rationale", "schema_violation: rationale"),
        ("500", "http_5xx"),
    ],
)
def test_each_kind_of_bad_answer_is_retried_then_failed_with_the_reason(fake_endpoint, mode, reason):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/{mode}/v1", max_attempts=3)
    slept = []
    run = _run(labeler, [make_item()], sleep=slept.append)
    result = run.results.get()
    assert result.state == LLMResult.State.FAILED
    assert result.failure_reason.startswith(reason)
    assert result.attempts == 3
    assert slept == [0.5, 1.0]  # exponential backoff between the three attempts


def test_a_429_waits_at_least_the_endpoints_retry_after(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/429/v1", max_attempts=2)
    slept = []
    run = _run(labeler, [make_item()], sleep=slept.append)
    assert slept == [1.0]
    assert run.results.get().failure_reason.startswith("http_429")


def test_a_flaky_endpoint_is_retried_until_it_answers(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/flaky/v1", max_attempts=3)
    run = _run(labeler, [make_item(text="VIOLATION")])
    result = run.results.get()
    assert (result.state, result.attempts, result.verdict) == (LLMResult.State.DONE, 3, True)


def test_an_endpoint_that_is_down_stops_the_run_and_leaves_the_rest_pending():
    labeler = make_llm_labeler("http://127.0.0.1:9/v1", concurrency=1, max_attempts=1)
    items = [make_item() for _ in range(8)]
    run = _run(labeler, items)
    assert run.state == LLMRun.State.STOPPED
    assert "failed 5 items in a row" in run.stop_reason
    progress = llm_runs.run_progress(run)
    # It stops after the fifth failure in a row; a request already in flight then may still fail too.
    assert progress.failed in (5, 6) and progress.failed + progress.pending == 8
    assert EndpointUsage.objects.get(endpoint=labeler.endpoint).tokens == 0  # reservations given back


def test_the_daily_token_budget_stops_the_run(fake_endpoint):
    labeler = make_llm_labeler(
        f"{fake_endpoint.base_url}/ok/v1",
        concurrency=1,
        daily_token_budget=llm_runs.ESTIMATED_TOKENS_PER_REQUEST + 100,
    )
    run = _run(labeler, [make_item() for _ in range(3)])
    assert run.state == LLMRun.State.STOPPED
    assert "budget" in run.stop_reason
    progress = llm_runs.run_progress(run)
    assert (progress.done, progress.pending) == (1, 2)
    assert EndpointUsage.objects.get(endpoint=labeler.endpoint).tokens == 120


def test_a_slow_endpoint_times_out_within_the_configured_timeout(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/slow/v1", timeout_seconds=0.3, max_attempts=1)
    run = _run(labeler, [make_item()])
    assert run.results.get().failure_reason.startswith("timeout")


def test_a_redelivered_message_for_a_finished_run_changes_nothing(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    run = _run(labeler, [make_item()])
    before = list(run.results.values())
    assert llm_runs.process_llm_run(run_id=run.pk) == "not runnable"
    assert list(run.results.values()) == before


def test_a_stopped_run_resumes_where_it_stopped(fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1", concurrency=1, daily_token_budget=700)
    run = _run(labeler, [make_item() for _ in range(3)])
    assert run.state == LLMRun.State.STOPPED
    labeler.endpoint.daily_token_budget = 10_000
    labeler.endpoint.save()
    llm_runs.resume_llm_run(run=run)
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    run.refresh_from_db()
    assert run.state == LLMRun.State.DONE
    assert llm_runs.run_progress(run).done == 3


def test_prompt_versions_count_up_per_category_and_one_is_default(fake_endpoint):
    first = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1").prompt
    second = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1").prompt
    assert second.version == first.version + 1
    llm_runs.make_prompt_default(prompt=first)
    llm_runs.make_prompt_default(prompt=second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)


def test_the_api_key_is_read_from_the_named_environment_variable_never_stored(monkeypatch, fake_endpoint):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1", api_key_env="LABELING_TEST_KEY")
    monkeypatch.setenv("LABELING_TEST_KEY", "sk-secret")
    assert llm_runs.endpoint_config(labeler.endpoint).api_key == "sk-secret"
    monkeypatch.delenv("LABELING_TEST_KEY")
    assert llm_runs.endpoint_config(labeler.endpoint).api_key == ""
    assert "sk-secret" not in str(list(labeler.endpoint.__class__.objects.values()))
