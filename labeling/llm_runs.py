"""LLM labelers: prompt versions, bulk runs with progress, the concurrent worker loop, the token budget, the cache.

A run writes one pending ``LLMResult`` per item up front, so progress is a count and a lost message loses
nothing (the sweeper re-sends runs that stalled). The worker loop keeps ``endpoint.concurrency`` requests in
flight from a thread pool; only HTTP happens in the threads, every database write happens in the calling thread:
each result is written whole, in small batches, and only over ``pending`` (a redelivered message rewrites nothing).
Tokens are reserved against the endpoint's daily budget before a request and corrected after it; when the budget
is spent, or the endpoint keeps failing, the run stops with the reason and its remaining items stay pending.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta

import httpx
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from audit.services import record_event
from classifiers.models import PolicyCategory
from intake.models import Item
from labeling import llm_client
from labeling.endpoint_slots import NoSlot, endpoint_slot
from labeling.models import EndpointUsage, Labeler, LLMEndpoint, LLMResult, LLMRun, PolicyPrompt, PromptPreview
from queues.models import RoutingRule
from webhooks.services import emit

logger = logging.getLogger(__name__)

PROCESS_RUN_TASK = "labeling.tasks.process_llm_run"
REROUTE_TASK = "queues.tasks.reroute_pending"
# A request's tokens are not known before it is answered; this much is reserved, then corrected.
ESTIMATED_TOKENS_PER_REQUEST = 600
# This many items in a row failing on the endpoint's side (down, timing out, 5xx) stops the run: asking on would
# only mark the whole backlog failed.
ENDPOINT_FAILURES_TO_STOP = 5
ENDPOINT_REASONS = {"unreachable", "timeout", "http_5xx", "http_429"}
# Every slot of the endpoint stayed taken by other workers for a whole slice: the item was not asked.
NO_SLOT = "no_slot"
# Answered results are written together once this many are waiting or the oldest has waited this long: each
# write holds the dispatching thread, so fewer, larger ones keep the endpoint's slots busier.
FLUSH_RESULTS = 32
FLUSH_SECONDS = 1.0
# A preview runs on an llm worker (the admin's page polls for it) and stops asking after this long.
PREVIEW_SECONDS = 120
PREVIEW_TEXT_CHARS = 300
PREVIEW_TASK = "labeling.tasks.run_prompt_preview"


class BudgetSpent(Exception):
    pass


# --- prompts and labelers ---------------------------------------------------------------------------------------
def create_prompt_version(
    *, category: PolicyCategory, policy_text: str, examples: list[dict], max_rationale_chars: int = 500, user=None
) -> PolicyPrompt:
    """A new version of ``category``'s prompt (versions are never edited, so results stay explainable)."""
    with transaction.atomic():
        PolicyCategory.objects.select_for_update().get(pk=category.pk)  # versions are numbered one at a time
        latest = PolicyPrompt.objects.filter(category=category).aggregate(v=Max("version"))["v"] or 0
        prompt = PolicyPrompt(
            category=category,
            version=latest + 1,
            policy_text=policy_text,
            examples=examples,
            max_rationale_chars=max_rationale_chars,
            created_by=user,
        )
        prompt.full_clean()
        prompt.save()
        record_event(action="llm_prompt.created", target=prompt, actor=user, after={"version": prompt.version})
    return prompt


def make_prompt_default(*, prompt: PolicyPrompt, user=None) -> None:
    with transaction.atomic():
        PolicyPrompt.objects.filter(category=prompt.category_id, is_default=True).update(is_default=False)
        PolicyPrompt.objects.filter(pk=prompt.pk).update(is_default=True)
        record_event(action="llm_prompt.made_default", target=prompt, actor=user, after={"version": prompt.version})


def llm_labeler_for(*, prompt: PolicyPrompt, endpoint: LLMEndpoint) -> Labeler:
    """The labeler that is this prompt version on this endpoint's model (created on first use)."""
    name = f"llm:{endpoint.model}:{prompt.category.slug}:v{prompt.version}"
    try:
        with transaction.atomic():
            labeler, _ = Labeler.objects.get_or_create(
                prompt=prompt,
                endpoint=endpoint,
                model_name=endpoint.model,
                defaults={"kind": Labeler.Kind.LLM, "name": name},
            )
    except IntegrityError:  # created by a concurrent call
        labeler = Labeler.objects.get(prompt=prompt, endpoint=endpoint, model_name=endpoint.model)
    return labeler


def question_for(prompt: PolicyPrompt) -> llm_client.PolicyQuestion:
    return llm_client.PolicyQuestion(
        category=prompt.category.slug,
        category_name=prompt.category.name,
        policy=prompt.policy_text,
        examples=tuple(
            llm_client.Example(e["text"], e["violates"], e.get("rationale", "")) for e in prompt.examples or []
        ),
        max_rationale_chars=prompt.max_rationale_chars,
    )


def endpoint_config(endpoint: LLMEndpoint) -> llm_client.Endpoint:
    return llm_client.Endpoint(
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=os.environ.get(endpoint.api_key_env, "") if endpoint.api_key_env else "",
        timeout=endpoint.timeout_seconds,
    )


# --- runs -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunEstimate:
    """What a run over a selection would ask, spend and take, before it is started.

    Per-request tokens and latency come from the endpoint's own answered requests (medians of the last
    ``ESTIMATE_HISTORY``); with no history, the reservation estimate and the endpoint's timeout stand in, and
    ``from_history`` says so. Items whose text this prompt version and model already answered come from the
    cache: no tokens, no time.
    """

    items: int
    cached: int
    to_ask: int
    tokens_per_request: int
    tokens: int
    cost: float
    seconds: float
    budget_left_today: int
    from_history: bool

    @property
    def within_budget(self) -> bool:
        return self.tokens <= self.budget_left_today


ESTIMATE_HISTORY = 200


def estimate_run(*, prompt: PolicyPrompt, endpoint: LLMEndpoint, item_ids: list[int]) -> RunEstimate:
    hashes = [llm_client.content_hash(t) for t in Item.objects.filter(pk__in=item_ids).values_list("text", flat=True)]
    answered = set(
        LLMResult.objects.filter(
            labeler__prompt=prompt,
            labeler__model_name=endpoint.model,
            content_hash__in=set(hashes),
            state=LLMResult.State.DONE,
        ).values_list("content_hash", flat=True)
    )
    cached = sum(1 for h in hashes if h in answered)
    to_ask = len(hashes) - cached
    history = list(
        LLMResult.objects.filter(labeler__endpoint=endpoint, state=LLMResult.State.DONE, cached_from__isnull=True)
        .order_by("-finished_at")
        .values_list("prompt_tokens", "completion_tokens", "latency_ms")[:ESTIMATE_HISTORY]
    )
    if history:
        prompt_tokens = int(statistics.median(h[0] for h in history))
        completion_tokens = int(statistics.median(h[1] for h in history))
        latency = statistics.median(h[2] for h in history) / 1000
    else:
        prompt_tokens, completion_tokens, latency = ESTIMATED_TOKENS_PER_REQUEST, 0, endpoint.timeout_seconds
    used = EndpointUsage.objects.filter(endpoint=endpoint, day=timezone.now().date()).values_list("tokens", flat=True)
    return RunEstimate(
        items=len(hashes),
        cached=cached,
        to_ask=to_ask,
        tokens_per_request=prompt_tokens + completion_tokens,
        tokens=to_ask * (prompt_tokens + completion_tokens),
        cost=float(endpoint.cost_of(prompt_tokens, completion_tokens) * to_ask),
        seconds=to_ask * latency / endpoint.concurrency,
        budget_left_today=max(0, endpoint.daily_token_budget - (used.first() or 0)),
        from_history=bool(history),
    )


def start_llm_run(*, labeler: Labeler, item_ids: list[int], user=None, selection: str = "") -> LLMRun:
    """A run of ``labeler`` over ``item_ids`` (unknown ids are skipped), queued for the ``llm`` workers."""
    items = Item.objects.filter(pk__in=item_ids).values_list("pk", "text")
    with transaction.atomic():
        run = LLMRun.objects.create(labeler=labeler, requested_by=user, selection=selection[:300])
        LLMResult.objects.bulk_create(
            LLMResult(run=run, labeler=labeler, item_id=pk, content_hash=llm_client.content_hash(text))
            for pk, text in items
        )
        record_event(action="llm_run.started", target=run, actor=user, after={"items": len(items)})
        transaction.on_commit(lambda: current_app.signature(PROCESS_RUN_TASK, args=[run.pk]).delay(), robust=True)
    return run


@dataclass(frozen=True)
class RunProgress:
    total: int
    done: int
    failed: int
    pending: int
    cached: int
    tokens: int
    cost: float

    @property
    def percent(self) -> float:
        return 100.0 * (self.done + self.failed) / self.total if self.total else 100.0


def run_progress(run: LLMRun) -> RunProgress:
    counts = run.results.aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(state=LLMResult.State.DONE)),
        failed=Count("id", filter=Q(state=LLMResult.State.FAILED)),
        cached=Count("id", filter=Q(cached_from__isnull=False)),
        tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
        cost=Sum("cost"),
    )
    return RunProgress(
        total=counts["total"],
        done=counts["done"],
        failed=counts["failed"],
        pending=counts["total"] - counts["done"] - counts["failed"],
        cached=counts["cached"],
        tokens=counts["tokens"] or 0,
        cost=float(counts["cost"] or 0),
    )


def _answer_from_cache(run: LLMRun) -> int:
    """Results whose text was already answered by the same prompt version and model: copied, not asked again."""
    labeler = run.labeler
    pending = dict(run.results.filter(state=LLMResult.State.PENDING).values_list("id", "content_hash"))
    if not pending:
        return 0
    hits: dict[str, LLMResult] = {}
    answered = LLMResult.objects.filter(
        labeler__prompt=labeler.prompt_id,
        labeler__model_name=labeler.model_name,
        content_hash__in=set(pending.values()),
        state=LLMResult.State.DONE,
        cached_from__isnull=True,
    ).order_by("-finished_at")
    for hit in answered:
        hits.setdefault(hit.content_hash, hit)
    copied = 0
    with transaction.atomic():
        for result_id, digest in pending.items():
            hit = hits.get(digest)
            if hit is not None:
                copied += LLMResult.objects.filter(pk=result_id, state=LLMResult.State.PENDING).update(
                    state=LLMResult.State.DONE,
                    verdict=hit.verdict,
                    probability=hit.probability,
                    rationale=hit.rationale,
                    cached_from=hit,
                    finished_at=timezone.now(),
                )
    return copied


def _reserve_tokens(endpoint: LLMEndpoint, tokens: int) -> None:
    """Take ``tokens`` from today's budget in one conditional UPDATE, so concurrent workers never overspend."""
    day = timezone.now().date()
    EndpointUsage.objects.get_or_create(endpoint=endpoint, day=day)
    taken = EndpointUsage.objects.filter(
        endpoint=endpoint, day=day, tokens__lte=endpoint.daily_token_budget - tokens
    ).update(tokens=F("tokens") + tokens)
    if not taken:
        raise BudgetSpent(f"the daily budget of {endpoint.daily_token_budget} tokens on {endpoint.name} is spent")


def _correct_tokens(endpoint: LLMEndpoint, reserved: int, used: int) -> None:
    if used != reserved:
        EndpointUsage.objects.filter(endpoint=endpoint, day=timezone.now().date()).update(
            tokens=F("tokens") + (used - reserved)
        )


class TokenWallet:
    """Budget reserved from the database a block at a time, handed out per request, settled when results are stored.

    One UPDATE per block instead of two per request keeps the database out of the way of the endpoint's
    throughput; what a block held but no request used is given back at the end.
    """

    def __init__(self, endpoint: LLMEndpoint, block_requests: int) -> None:
        self.endpoint = endpoint
        self.block = block_requests * ESTIMATED_TOKENS_PER_REQUEST
        self.held = 0  # reserved in the database, not yet handed to a request
        self.unsettled = 0  # actual minus estimated tokens of answered requests, not yet written

    def take(self) -> int:
        if self.held < ESTIMATED_TOKENS_PER_REQUEST:
            try:
                _reserve_tokens(self.endpoint, self.block)
                self.held += self.block
            except BudgetSpent:
                _reserve_tokens(self.endpoint, ESTIMATED_TOKENS_PER_REQUEST)  # the last few requests of the day
                self.held += ESTIMATED_TOKENS_PER_REQUEST
        self.held -= ESTIMATED_TOKENS_PER_REQUEST
        return ESTIMATED_TOKENS_PER_REQUEST

    def spent(self, estimated: int, used: int) -> None:
        self.unsettled += used - estimated

    def settle(self, *, closing: bool = False) -> None:
        give_back = self.held if closing else 0
        _correct_tokens(self.endpoint, 0, self.unsettled - give_back)
        self.unsettled = 0
        self.held -= give_back


@dataclass
class Outcome:
    result_id: int
    verdict: llm_client.Verdict | None
    error: llm_client.LLMCallError | None
    attempts: int
    tokens: int  # every attempt's tokens, refused answers included


def ask_in_slot(
    slots: SlotConfig,
    client: httpx.Client,
    endpoint: llm_client.Endpoint,
    question: llm_client.PolicyQuestion,
    text: str,
    *,
    request_key: str,
) -> llm_client.Verdict:
    """One request while holding one of the endpoint's slots (``endpoint_slots``): the limit holds across workers."""
    try:
        with endpoint_slot(
            slots.endpoint_id, limit=slots.limit, lease_seconds=endpoint.timeout, wait_seconds=slots.wait_seconds
        ):
            return llm_client.ask(client, endpoint, question, text, request_key=request_key)
    except NoSlot as exc:
        raise llm_client.LLMCallError(NO_SLOT, str(exc), retryable=False) from None


@dataclass(frozen=True)
class SlotConfig:
    endpoint_id: int
    limit: int
    wait_seconds: float

    @classmethod
    def of(cls, endpoint: LLMEndpoint, wait_seconds: float) -> SlotConfig:
        return cls(endpoint.pk, endpoint.concurrency, wait_seconds)


def _ask_with_retries(
    client: httpx.Client,
    endpoint: llm_client.Endpoint,
    question: llm_client.PolicyQuestion,
    result_id: int,
    text: str,
    max_attempts: int,
    sleep: Callable[[float], None],
    slots: SlotConfig,
) -> Outcome:
    """Runs in a pool thread: HTTP only, no database. A slot is held per attempt, never while backing off."""
    tokens = 0
    for attempt in range(1, max_attempts + 1):
        try:
            verdict = ask_in_slot(slots, client, endpoint, question, text, request_key=f"result-{result_id}")
            return Outcome(result_id, verdict, None, attempt, tokens + verdict.tokens)
        except llm_client.LLMCallError as error:
            tokens += error.tokens
            if not error.retryable or attempt == max_attempts:
                return Outcome(result_id, None, error, attempt, tokens)
            sleep(
                llm_client.backoff_seconds(attempt, base=settings.LLM_RETRY_BASE_SECONDS, retry_after=error.retry_after)
            )
    raise AssertionError("unreachable")


def _store(endpoint: LLMEndpoint, outcome: Outcome) -> None:
    """Write one outcome whole, only over a pending result."""
    now = timezone.now()
    pending = LLMResult.objects.filter(pk=outcome.result_id, state=LLMResult.State.PENDING)
    if outcome.verdict is not None:
        v = outcome.verdict
        pending.update(
            state=LLMResult.State.DONE,
            verdict=v.verdict,
            probability=v.probability,
            rationale=v.rationale,
            prompt_tokens=v.prompt_tokens,
            completion_tokens=v.completion_tokens,
            latency_ms=v.latency_ms,
            cost=endpoint.cost_of(v.prompt_tokens, v.completion_tokens),
            attempts=outcome.attempts,
            finished_at=now,
        )
        return
    error = outcome.error
    if error.reason == NO_SLOT:
        return  # other workers held every slot: not the item's fault, it stays pending for the next slice
    pending.update(
        state=LLMResult.State.FAILED,
        failure_reason=f"{error} (after {outcome.attempts} attempt{'s' if outcome.attempts > 1 else ''})"[:300],
        latency_ms=error.latency_ms,
        attempts=outcome.attempts,
        finished_at=now,
    )


def process_llm_run(
    *, run_id: int, max_seconds: float | None = None, sleep: Callable[[float], None] = time.sleep
) -> str:
    """Label a run's pending items until done, stopped, or ``max_seconds`` pass (then the rest is re-sent).

    Answered results are written in small batches, each in one transaction with the budget they used, so the
    database costs little per item and a crash loses at most the answers of one batch (they stay pending).
    """
    claimed = LLMRun.objects.filter(pk=run_id, state__in=[LLMRun.State.PENDING, LLMRun.State.RUNNING]).update(
        state=LLMRun.State.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return "not runnable"
    run = LLMRun.objects.select_related("labeler__prompt__category", "labeler__endpoint").get(pk=run_id)
    endpoint = run.labeler.endpoint
    _answer_from_cache(run)
    question = question_for(run.labeler.prompt)
    config = endpoint_config(endpoint)
    slice_seconds = settings.LLM_RUN_SLICE_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + slice_seconds
    wallet = TokenWallet(endpoint, endpoint.concurrency)
    slots = SlotConfig.of(endpoint, wait_seconds=max(1.0, slice_seconds))
    stop_reason = ""
    endpoint_failures = 0
    pending = _pending_texts(run)
    answered: list[Outcome] = []
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal last_flush
        with transaction.atomic():
            for outcome in answered:
                _store(endpoint, outcome)
            wallet.settle()
        answered.clear()
        last_flush = time.monotonic()

    with httpx.Client() as client, ThreadPoolExecutor(max_workers=endpoint.concurrency) as pool:
        in_flight: dict[Future, int] = {}

        def refill() -> None:
            nonlocal stop_reason
            while len(in_flight) < endpoint.concurrency and time.monotonic() < deadline and not stop_reason:
                try:
                    result_id, text = next(pending)
                except StopIteration:
                    return
                try:
                    estimated = wallet.take()
                except BudgetSpent as exc:
                    stop_reason = str(exc)
                    return
                future = pool.submit(
                    _ask_with_retries, client, config, question, result_id, text, endpoint.max_attempts, sleep, slots
                )
                in_flight[future] = estimated

        refill()
        while in_flight:
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                outcome = future.result()
                wallet.spent(in_flight.pop(future), outcome.tokens)
                answered.append(outcome)
                endpoint_failed = outcome.error is not None and outcome.error.reason in ENDPOINT_REASONS
                endpoint_failures = endpoint_failures + 1 if endpoint_failed else 0
                if endpoint_failures >= ENDPOINT_FAILURES_TO_STOP and not stop_reason:
                    stop_reason = f"the endpoint failed {endpoint_failures} items in a row (last: {outcome.error})"
            refill()  # before writing: the endpoint's free slots should not wait for the database
            if len(answered) >= FLUSH_RESULTS or time.monotonic() - last_flush > FLUSH_SECONDS:
                flush()
        flush()
    wallet.settle(closing=True)
    return _finish_slice(run, stop_reason)


def _pending_texts(run: LLMRun) -> Iterator[tuple[int, str]]:
    rows = run.results.filter(state=LLMResult.State.PENDING).order_by("id").values_list("id", "item__text")
    yield from rows.iterator(chunk_size=200)


def _finish_slice(run: LLMRun, stop_reason: str) -> str:
    left = run.results.filter(state=LLMResult.State.PENDING).exists()
    if stop_reason:
        with transaction.atomic():
            if LLMRun.objects.filter(pk=run.pk, state=LLMRun.State.RUNNING).update(
                state=LLMRun.State.STOPPED, stop_reason=stop_reason[:300], finished_at=timezone.now()
            ):
                _emit_finished(run, LLMRun.State.STOPPED, stop_reason)
        logger.warning("LLM run %s stopped: %s", run.pk, stop_reason)
        return "stopped"
    if left:
        transaction.on_commit(lambda: current_app.signature(PROCESS_RUN_TASK, args=[run.pk]).delay(), robust=True)
        return "continues"
    with transaction.atomic():
        if LLMRun.objects.filter(pk=run.pk, state=LLMRun.State.RUNNING).update(
            state=LLMRun.State.DONE, finished_at=timezone.now()
        ):
            _emit_finished(run, LLMRun.State.DONE, "")
    if run.labeler.prompt.is_default and _rules_read_llm():
        # New llm.<category> facts: pending items are routed again under the rules that read them.
        transaction.on_commit(lambda: current_app.signature(REROUTE_TASK).delay(), robust=True)
    return "done"


def _emit_finished(run: LLMRun, state: str, reason: str) -> None:
    """``llm_run.finished`` for webhook subscribers: counts and the labeler, never any content."""
    progress = run_progress(run)
    labeler = run.labeler
    emit(
        event_type="llm_run.finished",
        payload={
            "run": run.pk,
            "state": state,
            "stop_reason": reason,
            "labeler": {"name": labeler.name, "model": labeler.model_name, "prompt_version": labeler.prompt.version},
            "category": labeler.prompt.category.slug,
            "items": progress.total,
            "done": progress.done,
            "failed": progress.failed,
            "pending": progress.pending,
            "tokens": progress.tokens,
        },
    )


def _rules_read_llm() -> bool:
    rules = RoutingRule.objects.filter(is_active=True).values_list("conditions", flat=True)
    return any(str(c.get("field", "")).startswith("llm.") for conditions in rules for c in conditions or [])


def resume_llm_run(*, run: LLMRun, user=None) -> None:
    """Send a stopped run's pending items again (after the budget renews or the endpoint is back)."""
    with transaction.atomic():
        if LLMRun.objects.filter(pk=run.pk, state=LLMRun.State.STOPPED).update(
            state=LLMRun.State.PENDING, stop_reason=""
        ):
            record_event(action="llm_run.resumed", target=run, actor=user)
            transaction.on_commit(lambda: current_app.signature(PROCESS_RUN_TASK, args=[run.pk]).delay(), robust=True)


def requeue_stalled_runs(*, stalled_after: timedelta = timedelta(minutes=10)) -> int:
    """Re-send runs that say pending or running but have written nothing for a while (lost message, killed worker)."""
    cutoff = timezone.now() - stalled_after
    stalled = (
        LLMRun.objects.filter(state__in=[LLMRun.State.PENDING, LLMRun.State.RUNNING], created_at__lt=cutoff)
        .annotate(last=Max("results__finished_at"))
        .filter(Q(last__isnull=True) | Q(last__lt=cutoff))
    )
    ids = list(stalled.values_list("pk", flat=True))
    for run_id in ids:
        current_app.signature(PROCESS_RUN_TASK, args=[run_id]).delay()
    return len(ids)


def request_preview(
    *,
    category: PolicyCategory,
    endpoint: LLMEndpoint,
    policy_text: str,
    examples: list[dict],
    max_rationale_chars: int,
    items: int,
    user=None,
) -> PromptPreview:
    """A preview of a draft prompt on the ``items`` newest items, asked on an ``llm`` worker."""
    item_ids = list(Item.objects.exclude(text="").order_by("-created_at").values_list("pk", flat=True)[:items])
    with transaction.atomic():
        preview = PromptPreview.objects.create(
            requested_by=user,
            endpoint=endpoint,
            category=category,
            policy_text=policy_text,
            examples=examples,
            max_rationale_chars=max_rationale_chars,
            item_ids=item_ids,
        )
        transaction.on_commit(lambda: current_app.signature(PREVIEW_TASK, args=[preview.pk]).delay(), robust=True)
    return preview


# A preview no worker has answered after this long never will (its message was lost, or no llm worker runs):
# the page stops polling and says so, instead of spinning for ever.
PREVIEW_ABANDONED_AFTER = timedelta(seconds=PREVIEW_SECONDS + 180)


def give_up_unanswered_preview(preview: PromptPreview) -> PromptPreview:
    """``preview``, marked failed with the reason when it is still pending past ``PREVIEW_ABANDONED_AFTER``."""
    if preview.state != PromptPreview.State.PENDING or timezone.now() - preview.created_at < PREVIEW_ABANDONED_AFTER:
        return preview
    minutes = round(PREVIEW_ABANDONED_AFTER.total_seconds() / 60)
    PromptPreview.objects.filter(pk=preview.pk, state=PromptPreview.State.PENDING).update(
        state=PromptPreview.State.FAILED,
        failure_reason=f"No worker answered within {minutes} minutes (is an llm worker running?); ask again.",
        finished_at=timezone.now(),
    )
    preview.refresh_from_db()
    return preview


def run_preview(*, preview_id: int) -> str:
    """The worker's half: ask about each item (within ``PREVIEW_SECONDS``), store the answers, whole, once."""
    preview = PromptPreview.objects.select_related("endpoint", "category").get(pk=preview_id)
    if preview.state != PromptPreview.State.PENDING:
        return preview.state
    draft = PolicyPrompt(
        category=preview.category,
        policy_text=preview.policy_text,
        examples=preview.examples,
        max_rationale_chars=preview.max_rationale_chars,
    )
    items = Item.objects.in_bulk(preview.item_ids)
    ordered = [items[pk] for pk in preview.item_ids if pk in items]
    answers = []
    try:
        asked = preview_prompt(prompt=draft, endpoint=preview.endpoint, items=ordered)
    except Exception as exc:  # the page polls until the state changes: it must not wait for ever
        PromptPreview.objects.filter(pk=preview.pk, state=PromptPreview.State.PENDING).update(
            state=PromptPreview.State.FAILED, failure_reason=f"{type(exc).__name__}: {exc}"[:300]
        )
        raise
    for item, answer in asked:
        row = {"item": item.pk, "text": item.text[:PREVIEW_TEXT_CHARS]}
        if isinstance(answer, llm_client.LLMCallError):
            row["error"] = str(answer)
        else:
            row |= {"verdict": answer.verdict, "probability": answer.probability, "rationale": answer.rationale}
        answers.append(row)
    PromptPreview.objects.filter(pk=preview.pk, state=PromptPreview.State.PENDING).update(
        state=PromptPreview.State.DONE, answers=answers, finished_at=timezone.now()
    )
    return "done"


def preview_prompt(*, prompt: PolicyPrompt, endpoint: LLMEndpoint, items: list[Item]) -> list[tuple[Item, object]]:
    """Ask the endpoint about a few items without storing anything: (item, Verdict or LLMCallError) pairs.

    For the admin's preview before a prompt version is saved or made the default; runs on a worker
    (``run_preview``), bounded to a handful of items and ``PREVIEW_SECONDS``, each request in one of the endpoint's
    slots. It spends little of the budget; it is still charged to it.
    """
    question, config = question_for(prompt), endpoint_config(endpoint)
    slots = SlotConfig.of(endpoint, wait_seconds=PREVIEW_SECONDS)
    answers: list[tuple[Item, object]] = []
    deadline = time.monotonic() + PREVIEW_SECONDS
    with httpx.Client() as client:
        for item in items:
            if time.monotonic() > deadline:
                message = f"not asked: the preview's {PREVIEW_SECONDS} s were used up"
                answers.append((item, llm_client.LLMCallError("skipped", message, retryable=False)))
                continue
            try:
                _reserve_tokens(endpoint, ESTIMATED_TOKENS_PER_REQUEST)
            except BudgetSpent as exc:
                answers.append((item, llm_client.LLMCallError("budget", str(exc), retryable=False)))
                continue
            try:
                verdict = ask_in_slot(slots, client, config, question, item.text, request_key=f"preview-{item.pk}")
                _correct_tokens(endpoint, ESTIMATED_TOKENS_PER_REQUEST, verdict.tokens)
                answers.append((item, verdict))
            except llm_client.LLMCallError as error:
                _correct_tokens(endpoint, ESTIMATED_TOKENS_PER_REQUEST, error.tokens)
                answers.append((item, error))
    return answers
