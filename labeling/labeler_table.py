"""Every labeler measured against the decisions the team trusts: the labeler table and prompt comparisons.

The reference, per (item, category), is the best-trusted human answer there is:

1. a gold item's known answer;
2. a senior's: the current labels of a decision a senior checked in QA (agreed, or overturned and relabelled);
3. for labelers that are not moderators (LLM, crowd, model), also the current label of any human decision:
   human review decisions are the gold for the labelers this app adds.

A moderator is compared only with 1 and 2 (their own decision cannot be their reference): their original labels
on decisions a senior then checked. Per labeler and category: Cohen's kappa, precision and recall of "violates",
and how many (item, category) pairs they were compared on; plus volume, cost and median latency.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from classifiers.models import ModelVersion, PolicyCategory, Score
from labeling.models import CrowdAssignment, Labeler, LLMResult
from quality.agreement import cohen_kappa
from queues.models import Decision, GoldItem
from review.models import Label

Key = tuple[int, str]  # (item id, category slug)
MODEL_THRESHOLD = 0.5
MAX_MODEL_VERSIONS = 5
PERIODS = (7, 30, 90, 365)  # the periods the page offers, in days


@dataclass(frozen=True)
class Agreement:
    compared: int
    kappa: float | None
    precision: float | None
    recall: float | None


def agreement(pairs: list[tuple[bool, bool]]) -> Agreement:
    """(labeler's answer, reference) pairs of "violates": kappa, precision and recall (None when undefined)."""
    said = sum(1 for mine, _ in pairs if mine)
    true = sum(1 for _, ref in pairs if ref)
    hits = sum(1 for mine, ref in pairs if mine and ref)
    return Agreement(
        compared=len(pairs),
        kappa=cohen_kappa(pairs),
        precision=hits / said if said else None,
        recall=hits / true if true else None,
    )


@dataclass
class LabelerRow:
    name: str
    kind: str
    volume: int
    cost: float | None
    median_latency_seconds: float | None
    overall: Agreement
    categories: dict[str, Agreement] = field(default_factory=dict)
    training_weight: float | None = None
    # For an LLM labeler: the newest model version's agreement on exactly the (item, category) pairs this
    # labeler was compared on, so the two read side by side on the same sample.
    model_beside: str = ""
    model_on_same_items: Agreement | None = None


def reference_labels(*, since, with_decisions: bool) -> tuple[dict[Key, bool], dict[Key, str]]:
    """The reference answer per (item, category) and where it came from ("gold", "senior" or "decision")."""
    slugs = list(PolicyCategory.objects.filter(is_active=True).values_list("slug", flat=True))
    reference: dict[Key, bool] = {}
    source: dict[Key, str] = {}
    if with_decisions:
        human = Label.objects.current().filter(created_at__gte=since, decision__automatic=False)
        for item_id, slug, value in human.values_list("item_id", "category__slug", "value"):
            reference[(item_id, slug)], source[(item_id, slug)] = value, "decision"
    senior = Label.objects.current().filter(
        Q(qa_review__isnull=False) | Q(decision__qa_review__isnull=False), created_at__gte=since
    )
    for item_id, slug, value in senior.values_list("item_id", "category__slug", "value"):
        reference[(item_id, slug)], source[(item_id, slug)] = value, "senior"
    for gold in GoldItem.objects.filter(active=True).prefetch_related("expected_categories"):
        expected = {c.slug for c in gold.expected_categories.all()}
        removes = gold.expected_action == Decision.Action.REMOVE
        for slug in slugs:
            reference[(gold.item_id, slug)], source[(gold.item_id, slug)] = removes and slug in expected, "gold"
    return reference, source


def _row(name, kind, answers: dict[Key, bool], reference: dict[Key, bool], **extra) -> LabelerRow:
    by_category: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for key, mine in answers.items():
        if key in reference:
            by_category[key[1]].append((mine, reference[key]))
    pooled = [pair for pairs in by_category.values() for pair in pairs]
    return LabelerRow(
        name=name,
        kind=kind,
        overall=agreement(pooled),
        categories={slug: agreement(pairs) for slug, pairs in sorted(by_category.items())},
        **extra,
    )


def _median(values: Iterable[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def moderator_rows(*, since, reference: dict[Key, bool]) -> list[LabelerRow]:
    labels = Label.objects.filter(
        created_at__gte=since, qa_review__isnull=True, decision__automatic=False, reviewer__isnull=False
    ).values_list("reviewer__username", "item_id", "category__slug", "value")
    answers: dict[str, dict[Key, bool]] = defaultdict(dict)
    for username, item_id, slug, value in labels:
        answers[username][(item_id, slug)] = value
    decisions = Decision.objects.filter(created_at__gte=since, automatic=False, reviewer__isnull=False)
    timing: dict[str, list[float]] = defaultdict(list)
    volume: dict[str, int] = defaultdict(int)
    for username, created, claimed in decisions.values_list("reviewer__username", "created_at", "claimed_at"):
        volume[username] += 1
        if claimed:
            timing[username].append((created - claimed).total_seconds())
    return [
        _row(
            f"moderator:{name}",
            Labeler.Kind.MODERATOR,
            answers.get(name, {}),
            reference,
            volume=volume[name],
            cost=None,
            median_latency_seconds=_median(timing[name]),
        )
        for name in sorted(volume)
    ]


def llm_rows(
    *, since, reference: dict[Key, bool], model: tuple[str, dict[Key, bool]] | None = None
) -> list[LabelerRow]:
    """One row per LLM prompt version; ``model`` (name, answers) is set beside each on the items both labelled."""
    rows = []
    for labeler in Labeler.objects.filter(kind=Labeler.Kind.LLM).select_related("prompt__category"):
        results = LLMResult.objects.filter(labeler=labeler, state=LLMResult.State.DONE, finished_at__gte=since)
        slug = labeler.prompt.category.slug
        answers, costs, latencies = {}, 0.0, []
        for item_id, verdict, cost, latency, cached in results.values_list(
            "item_id", "verdict", "cost", "latency_ms", "cached_from_id"
        ):
            answers[(item_id, slug)] = verdict
            costs += float(cost)
            if cached is None:
                latencies.append(latency / 1000)
        rows.append(
            _row(
                labeler.name,
                Labeler.Kind.LLM,
                answers,
                reference,
                volume=len(answers),
                cost=costs,
                median_latency_seconds=_median(latencies),
                training_weight=labeler.training_weight,
            )
        )
        if model is not None:
            name, model_answers = model
            shared = [k for k in answers if k in reference and k in model_answers]
            rows[-1].model_beside = name
            rows[-1].model_on_same_items = agreement([(model_answers[k], reference[k]) for k in shared])
    return rows


def crowd_rows(*, since, reference: dict[Key, bool]) -> list[LabelerRow]:
    answered = CrowdAssignment.objects.filter(answered_at__gte=since).exclude(answer="")
    set_categories: dict[int, list[str]] = {}
    answers: dict[int, dict[Key, bool]] = defaultdict(dict)
    seconds: dict[int, list[float]] = defaultdict(list)
    for user_id, item_id, set_id, answer, took in answered.values_list(
        "labeler_id", "task__item_id", "task__task_set_id", "answer", "seconds"
    ):
        if set_id not in set_categories:
            set_categories[set_id] = list(
                PolicyCategory.objects.filter(crowd_task_sets=set_id).values_list("slug", flat=True)
            )
        for slug in set_categories[set_id]:
            answers[user_id][(item_id, slug)] = answer == slug
        seconds[user_id].append(took)
    weights = dict(
        Labeler.objects.filter(kind=Labeler.Kind.CROWD, user__in=answers).values_list("user_id", "training_weight")
    )
    names = dict(get_user_model().objects.filter(pk__in=answers).values_list("pk", "username"))
    return [
        _row(
            f"crowd:{names[user_id]}",
            Labeler.Kind.CROWD,
            answers[user_id],
            reference,
            volume=len(seconds[user_id]),
            cost=None,
            median_latency_seconds=_median(seconds[user_id]),
            training_weight=weights.get(user_id),
        )
        for user_id in sorted(answers, key=lambda u: names[u])
    ]


def model_answers(*, since, reference: dict[Key, bool]) -> list[tuple[str, dict[Key, bool]]]:
    """(name, answers) of the newest model versions that are not retired, the active one first, on the reference's
    items."""
    versions = ModelVersion.objects.exclude(status=ModelVersion.Status.RETIRED).order_by("-created_at")
    newest = sorted(versions[:MAX_MODEL_VERSIONS], key=lambda v: v.status != ModelVersion.Status.ACTIVE)
    items = {item_id for item_id, _ in reference}
    found = []
    for version in newest:
        scores = Score.objects.filter(model_version=version, created_at__gte=since, item_id__in=items)
        answers = {
            (item_id, slug): probability >= MODEL_THRESHOLD
            for item_id, slug, probability in scores.values_list("item_id", "category__slug", "probability")
        }
        found.append((f"model:{version.name}", answers))
    return found


def model_rows(*, reference: dict[Key, bool], models: list[tuple[str, dict[Key, bool]]]) -> list[LabelerRow]:
    rows = []
    for name, answers in models:
        rows.append(
            _row(
                name,
                Labeler.Kind.MODEL,
                answers,
                reference,
                volume=len({item for item, _ in answers}),
                cost=None,
                median_latency_seconds=None,
            )
        )
    return rows


@dataclass(frozen=True)
class LabelerTable:
    days: int
    reference_counts: dict[str, int]
    rows: list[LabelerRow]
    reference: dict[Key, bool] = field(default_factory=dict, repr=False, compare=False)


def labeler_table(*, days: int = 90) -> LabelerTable:
    """Every labeler of the last ``days`` days against the reference (see the module's docstring)."""
    since = timezone.now() - timedelta(days=days)
    broad, source = reference_labels(since=since, with_decisions=True)
    # Seniors and gold override decisions in ``broad``, so the strict reference is what is left without them.
    strict = {key: value for key, value in broad.items() if source[key] != "decision"}
    counts: dict[str, int] = defaultdict(int)
    for origin in source.values():
        counts[origin] += 1
    models = model_answers(since=since, reference=broad)
    rows = (
        moderator_rows(since=since, reference=strict)
        + llm_rows(since=since, reference=broad, model=models[0] if models else None)
        + crowd_rows(since=since, reference=broad)
        + model_rows(reference=broad, models=models)
    )
    return LabelerTable(days=days, reference_counts=dict(counts), rows=rows, reference=broad)


@dataclass(frozen=True)
class PromptComparison:
    category: str
    older: str
    newer: str
    shared_items: int
    same_verdict: float | None  # share of shared items where both versions say the same
    older_agreement: Agreement
    newer_agreement: Agreement


def prompt_comparisons(*, days: int = 90, reference: dict[Key, bool] | None = None) -> list[PromptComparison]:
    """Per category and model: the newest prompt version against the one before, on the items both labelled.

    ``reference`` is the broad reference of the same period, when the caller has it already."""
    since = timezone.now() - timedelta(days=days)
    if reference is None:
        reference, _ = reference_labels(since=since, with_decisions=True)
    by_series: dict[tuple[str, str], list[Labeler]] = defaultdict(list)
    for labeler in Labeler.objects.filter(kind=Labeler.Kind.LLM).select_related("prompt__category"):
        by_series[(labeler.prompt.category.slug, labeler.model_name)].append(labeler)
    comparisons = []
    for (slug, _model), labelers in sorted(by_series.items()):
        if len(labelers) < 2:
            continue
        older, newer = sorted(labelers, key=lambda lab: lab.prompt.version)[-2:]
        verdicts = [
            dict(
                LLMResult.objects.filter(labeler=lab, state=LLMResult.State.DONE, finished_at__gte=since).values_list(
                    "item_id", "verdict"
                )
            )
            for lab in (older, newer)
        ]
        shared = sorted(set(verdicts[0]) & set(verdicts[1]))
        same = sum(verdicts[0][i] == verdicts[1][i] for i in shared)
        graded = [i for i in shared if (i, slug) in reference]
        comparisons.append(
            PromptComparison(
                category=slug,
                older=older.name,
                newer=newer.name,
                shared_items=len(shared),
                same_verdict=same / len(shared) if shared else None,
                older_agreement=agreement([(verdicts[0][i], reference[(i, slug)]) for i in graded]),
                newer_agreement=agreement([(verdicts[1][i], reference[(i, slug)]) for i in graded]),
            )
        )
    return comparisons


# --- cached for the page ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedTable:
    table: LabelerTable
    comparisons: list[PromptComparison]
    computed_at: datetime
    seconds: float  # what computing it took


def cache_key(days: int) -> str:
    return f"labeling:labeler-table:v1:{days}"


def compute_and_cache(*, days: int) -> CachedTable:
    """Compute the table and the prompt comparisons for ``days`` and keep them for ``LABELER_TABLE_CACHE_SECONDS``."""
    started = time.perf_counter()
    table = labeler_table(days=days)
    comparisons = prompt_comparisons(days=days, reference=table.reference)
    # The reference was only needed to compute: the cached copy keeps the figures.
    table = LabelerTable(days=table.days, reference_counts=table.reference_counts, rows=table.rows)
    cached = CachedTable(table, comparisons, timezone.now(), time.perf_counter() - started)
    cache.set(cache_key(days), cached, settings.LABELER_TABLE_CACHE_SECONDS)
    return cached


def cached_labeler_table(*, days: int) -> CachedTable:
    """The table as computed at most ``LABELER_TABLE_CACHE_SECONDS`` ago (the beat refreshes the common periods).

    Every figure reads every label of the period, which is seconds with a few hundred thousand labels: the page
    shows a recent copy with its age instead of scanning them on each request.
    """
    cached = cache.get(cache_key(days))
    return cached if cached is not None else compute_and_cache(days=days)
