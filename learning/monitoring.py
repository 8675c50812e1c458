"""Model monitoring: how a model version's scores hold up against what reviewers decide.

For one version, against current human labels (``Label.objects.current()``, the latest per item
and category): precision, recall and PR-AUC per category and over time, a reliability diagram,
agreement with reviewers (accuracy and Cohen's kappa of the thresholded score against the label),
and drift of its score distribution. ``check_model_health`` (a periodic task) stores the report
and an alert state in ``ModelHealth``, so pages and the API read one row.

Definitions:

* the routing threshold of a category is the lowest ``score.<slug> >=`` (or ``>``) value in the
  active routing rules, or ``MONITOR_DEFAULT_THRESHOLD`` when no rule names the category;
* live precision is micro-averaged over categories, for labels from the last
  ``MONITOR_WINDOW_DAYS``; it alerts under ``MONITOR_PRECISION_FLOOR`` once at least
  ``MONITOR_MIN_SUPPORT`` labelled scores were at or over a threshold;
* drift is the population stability index of the last window's scores (10 equal-width bins) per
  category against a reference: the histograms a training run stored in
  ``ModelVersion.metrics["score_histograms"]`` (``{slug: [10 counts]}``) when present; otherwise
  the version's own first ``MONITOR_DRIFT_BASELINE_DAYS`` of scores. It alerts over
  ``MONITOR_DRIFT_THRESHOLD`` when both sides hold at least ``MONITOR_MIN_SUPPORT`` scores.

Labels exist only for items reviewers saw, so recall is recall among reviewed items, not among
all items: a model that routes a violation past review never gets the label that would count it.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Floor
from django.utils import timezone

from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Item
from learning import stats
from learning.models import ModelHealth
from queues.models import RoutingRule
from review.models import Label

BINS = 10
MONITORED = (ModelVersion.Status.ACTIVE, ModelVersion.Status.SHADOW)


@dataclass(frozen=True)
class Labelled:
    """One category's score from the version on one item, and what the reviewers decided."""

    category: str
    score: float
    truth: bool
    labelled_at: datetime
    item_id: int = 0


def routing_thresholds(slugs: list[str]) -> dict[str, float]:
    """Per category, the lowest score at which an active rule acts on it (the routing threshold)."""
    thresholds: dict[str, float] = {}
    for conditions in RoutingRule.objects.filter(is_active=True).values_list("conditions", flat=True):
        for condition in conditions if isinstance(conditions, list) else []:
            name = str(condition.get("field", ""))
            value = condition.get("value")
            if name.startswith("score.") and condition.get("op") in {">=", ">"} and isinstance(value, int | float):
                slug = name.removeprefix("score.")
                thresholds[slug] = min(float(value), thresholds.get(slug, 1.0))
    return {slug: thresholds.get(slug, settings.MONITOR_DEFAULT_THRESHOLD) for slug in slugs}


def labelled_scores(version: ModelVersion, *, since: datetime, limit: int | None = None) -> list[Labelled]:
    """The version's score beside the latest current label, per (item, category) labelled since ``since``.

    At most the ``limit`` (``MONITOR_MAX_LABELS``) most recent labels are read, so a busy site's
    check stays bounded; the oldest days of the history are then left out.
    """
    probability = Score.objects.filter(
        item_id=OuterRef("item_id"), category_id=OuterRef("category_id"), model_version=version
    ).values("probability")[:1]
    rows = (
        Label.objects.current()
        .filter(created_at__gte=since)
        .order_by("-created_at", "-pk")
        .annotate(score=Subquery(probability))
        .values_list("item_id", "category__slug", "score", "value", "created_at")[
            : limit or settings.MONITOR_MAX_LABELS
        ]
    )
    latest: dict[tuple[int, str], Labelled] = {}
    for item_id, slug, score, value, created_at in rows:
        if score is not None:  # newest first: the first label seen per item and category is the latest
            latest.setdefault((item_id, slug), Labelled(slug, score, value, created_at, item_id))
    return list(latest.values())


def first_item_id(at: datetime) -> int | None:
    """The id of the first item that arrived at or after ``at`` (ids grow with arrival)."""
    return Item.objects.filter(created_at__gte=at).order_by("created_at").values_list("pk", flat=True).first()


def score_histograms(version: ModelVersion, *, start: datetime, end: datetime) -> dict[str, list[int]]:
    """Per category, counts of the version's scores of items that arrived in [start, end), over 10 bins.

    Items are selected by id range (from the index on arrival time), so the database reads the
    scores through the (item, version, category) index instead of every score the version made.
    """
    histograms: dict[str, list[int]] = defaultdict(lambda: [0] * BINS)
    low, high = first_item_id(start), first_item_id(end)
    if low is None:
        return {}
    scores = Score.objects.filter(model_version=version, item_id__gte=low)
    if high is not None:
        scores = scores.filter(item_id__lt=high)
    rows = (
        scores.annotate(bucket=Floor(F("probability") * BINS))
        .values_list("category__slug", "bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    for slug, bucket, n in rows:
        histograms[slug][min(max(int(bucket), 0), BINS - 1)] += n
    return dict(histograms)


def drift_reference(version: ModelVersion, *, now: datetime) -> tuple[str, dict[str, list[int]], datetime | None]:
    """What live scores are compared with, its histograms, and when an own-scores baseline ends.

    See the module docstring: the training run's stored histograms, else the version's first days.
    """
    stored = (version.metrics or {}).get("score_histograms")
    if isinstance(stored, dict) and stored:
        label = f"training snapshot {version.training_snapshot}" if version.training_snapshot else "training data"
        return label, {slug: list(counts) for slug, counts in stored.items() if len(counts) == BINS}, None
    # The version scores items that arrive after it was registered; its first scored item starts the baseline.
    registered = first_item_id(version.created_at)
    first = (
        Score.objects.filter(model_version=version, item_id__gte=registered or 0)
        .order_by("item_id")
        .values_list("created_at", flat=True)
        .first()
    )
    if first is None:
        return "no scores yet", {}, None
    end = first + timedelta(days=settings.MONITOR_DRIFT_BASELINE_DAYS)
    label = f"its first {settings.MONITOR_DRIFT_BASELINE_DAYS} days of scores (from {first:%Y-%m-%d})"
    return label, score_histograms(version, start=first, end=min(end, now)), end


def _metrics(rows: list[Labelled], thresholds: dict[str, float]) -> dict:
    tp = fp = fn = tn = 0
    for row in rows:
        flagged = row.score >= thresholds.get(row.category, settings.MONITOR_DEFAULT_THRESHOLD)
        tp += flagged and row.truth
        fp += flagged and not row.truth
        fn += row.truth and not flagged
        tn += not row.truth and not flagged
    counts = stats.Counts(tp, fp, fn, tn)
    return {
        "labelled": len(rows),
        "positives": sum(1 for row in rows if row.truth),
        "flagged": counts.tp + counts.fp,
        "precision": counts.precision,
        "recall": counts.recall,
        "accuracy": counts.accuracy,
        "kappa": counts.kappa,
        "pr_auc": stats.average_precision([row.score for row in rows], [row.truth for row in rows]),
    }


def build_report(
    rows: list[Labelled],
    *,
    thresholds: dict[str, float],
    now: datetime,
    window_days: int,
    history_days: int,
    reference_label: str = "",
    reference: dict[str, list[int]] | None = None,
    live: dict[str, list[int]] | None = None,
    baseline_name: str = "",
    baseline_rows: list[Labelled] | None = None,
) -> dict:
    """The monitoring report as plain JSON-able data. Pure: every fact comes in as an argument.

    ``rows`` cover ``history_days``; the headline figures, per-category table and calibration use
    the last ``window_days``; the series has one point per day of the history. ``baseline_rows``
    (the active version's scores, for a shadow or candidate version) are compared on exactly the
    items and categories the window's rows cover, so both models answer the same questions.
    """
    window_start = now - timedelta(days=window_days)
    recent = [row for row in rows if row.labelled_at >= window_start]
    by_category: dict[str, list[Labelled]] = defaultdict(list)
    for row in recent:
        by_category[row.category].append(row)
    reference, live = reference or {}, live or {}
    drift = {}
    for slug in sorted(set(reference) | set(live)):
        ref, cur = reference.get(slug, [0] * BINS), live.get(slug, [0] * BINS)
        drift[slug] = {
            "psi": stats.population_stability_index(ref, cur),
            "reference": ref,
            "live": cur,
            "reference_n": sum(ref),
            "live_n": sum(cur),
        }
    categories = []
    for slug in sorted(set(by_category) | set(drift)):
        categories.append(
            {
                "slug": slug,
                "threshold": thresholds.get(slug, settings.MONITOR_DEFAULT_THRESHOLD),
                **_metrics(by_category.get(slug, []), thresholds),
                "psi": drift.get(slug, {}).get("psi"),
            }
        )
    days: dict[str, list[Labelled]] = defaultdict(list)
    for row in rows:
        days[row.labelled_at.date().isoformat()] += [row]
    start_day = (now - timedelta(days=history_days - 1)).date()
    series = []
    for offset in range(history_days):
        day = (start_day + timedelta(days=offset)).isoformat()
        figures = _metrics(days.get(day, []), thresholds)
        series.append({"day": day, **{k: figures[k] for k in ("labelled", "precision", "recall", "pr_auc")}})
    calibration = [
        vars(b) for b in stats.calibration_bins([r.score for r in recent], [r.truth for r in recent], bins=BINS)
    ]
    compared = None
    if baseline_rows is not None:
        asked = {(row.item_id, row.category) for row in recent}
        same = [row for row in baseline_rows if (row.item_id, row.category) in asked]
        both = {(row.item_id, row.category) for row in same}
        mine = [row for row in recent if (row.item_id, row.category) in both]
        compared = {
            "name": baseline_name,
            "version": _metrics(mine, thresholds),
            "baseline": _metrics(same, thresholds),
        }
    return {
        "computed_at": now.isoformat(),
        "compared_with_active": compared,
        "window_days": window_days,
        "window_start": window_start.isoformat(),
        "overall": _metrics(recent, thresholds),
        "categories": categories,
        "series": series,
        "calibration": calibration,
        "drift": {"reference": reference_label, "categories": drift},
    }


def health_verdict(
    report: dict, *, precision_floor: float, drift_threshold: float, min_support: int
) -> tuple[str, list[str]]:
    """``(state, reasons)`` from a report: alert on low live precision or drift, else ok or insufficient."""
    reasons, alert, judged = [], False, False
    overall = report["overall"]
    if overall["flagged"] >= min_support and overall["precision"] is not None:
        judged = True
        if overall["precision"] < precision_floor:
            alert = True
            reasons.append(
                f"Live precision at the routing thresholds is {overall['precision']:.2f}, under the floor "
                f"{precision_floor:.2f} ({overall['flagged']} labelled items at or over a threshold)."
            )
    else:
        reasons.append(f"Precision not judged: {overall['flagged']} labelled items at or over a threshold, "
                       f"{min_support} needed.")  # fmt: skip
    for slug, drift in sorted(report["drift"]["categories"].items()):
        if drift["psi"] is None or min(drift["reference_n"], drift["live_n"]) < min_support:
            continue
        judged = True
        if drift["psi"] > drift_threshold:
            alert = True
            reasons.append(
                f"Scores for {slug} drifted from {report['drift']['reference'] or 'the reference'}: "
                f"PSI {drift['psi']:.2f} over {drift_threshold:.2f}."
            )
    if alert:
        return ModelHealth.State.ALERT, reasons
    return (ModelHealth.State.OK if judged else ModelHealth.State.INSUFFICIENT), reasons


def model_report(version: ModelVersion, *, now: datetime | None = None) -> dict:
    """Gather the facts for ``version`` from the database and build its report."""
    now = now or timezone.now()
    window = timedelta(days=settings.MONITOR_WINDOW_DAYS)
    rows = labelled_scores(version, since=now - timedelta(days=settings.MONITOR_HISTORY_DAYS))
    slugs = list(PolicyCategory.objects.values_list("slug", flat=True))
    reference_label, reference, baseline_end = drift_reference(version, now=now)
    live = score_histograms(version, start=now - window, end=now + timedelta(seconds=1))
    drift_note = ""
    if baseline_end is not None and now - window < baseline_end:
        # The version's own first days are the reference: a live window overlapping them compares them with
        # themselves, so drift is judged only once the window starts after the baseline ends.
        live = {}
        drift_note = (
            f"Drift is judged from {baseline_end + window:%Y-%m-%d %H:%M}, once the live window is past the baseline."
        )
    active = (
        ModelVersion.objects.filter(kind=version.kind, status=ModelVersion.Status.ACTIVE).exclude(pk=version.pk).first()
    )
    report = build_report(
        rows, thresholds=routing_thresholds(slugs), now=now, window_days=settings.MONITOR_WINDOW_DAYS,
        history_days=settings.MONITOR_HISTORY_DAYS, reference_label=reference_label, reference=reference, live=live,
        baseline_name=active.name if active else "",
        baseline_rows=labelled_scores(active, since=now - window) if active else None,
    )  # fmt: skip
    report["drift"]["note"] = drift_note
    return report


def refresh_model_health(*, version: ModelVersion, now: datetime | None = None) -> ModelHealth:
    """Recompute one version's report and alert state and store them (one row per version)."""
    now = now or timezone.now()
    report = model_report(version, now=now)
    state, reasons = health_verdict(
        report,
        precision_floor=settings.MONITOR_PRECISION_FLOOR,
        drift_threshold=settings.MONITOR_DRIFT_THRESHOLD,
        min_support=settings.MONITOR_MIN_SUPPORT,
    )
    overall = report["overall"]
    worst = max(
        ((slug, d["psi"]) for slug, d in report["drift"]["categories"].items() if d["psi"] is not None),
        key=lambda pair: pair[1],
        default=("", None),
    )
    with transaction.atomic():
        health = ModelHealth.objects.select_for_update().filter(model_version=version).first()
        if health is None:
            health = ModelHealth(model_version=version, state_since=now)
        elif health.state != state:
            health.state_since = now
        health.state, health.reasons = state, reasons
        health.precision, health.precision_support = overall["precision"], overall["flagged"]
        health.recall, health.pr_auc = overall["recall"], overall["pr_auc"]
        health.drift_category, health.drift_psi = worst
        health.drift_reference = report["drift"]["reference"][:200]
        health.details, health.computed_at = report, now
        health.window_start = now - timedelta(days=settings.MONITOR_WINDOW_DAYS)
        health.save()
    return health


def refresh_all_model_health() -> int:
    """Periodic: refresh every active and shadow version; returns how many are in alert."""
    alerts = 0
    for version in ModelVersion.objects.filter(status__in=MONITORED):
        alerts += refresh_model_health(version=version).state == ModelHealth.State.ALERT
    return alerts


def monitored_versions() -> list[tuple[ModelVersion, ModelHealth | None]]:
    """Active and shadow versions with their stored health (None before the first check), alerts first."""
    versions = list(ModelVersion.objects.filter(status__in=MONITORED).select_related("health").order_by("kind", "pk"))
    rows = [(version, getattr(version, "health", None)) for version in versions]
    return sorted(rows, key=lambda row: (row[1] is None or row[1].state != ModelHealth.State.ALERT, row[0].kind))
