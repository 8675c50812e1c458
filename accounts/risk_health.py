"""Health of account risk model versions: their risk against the reviewers' case verdicts, and drift.

The content models' monitoring (``learning.monitoring``) over cases instead of item labels, with its
settings, statistics and alert rule (``health_verdict``), so a risk version is judged as a content version is:

* live precision and recall at risk >= 0.5 (``risk_experiments.THRESHOLD``), per case type and micro-averaged,
  and average precision, over cases decided in the last ``MONITOR_HISTORY_DAYS`` that the version scored (as
  the active version, ``model_risk``, or as the shadow, ``shadow_risk``); an alert under
  ``MONITOR_PRECISION_FLOOR`` once ``MONITOR_MIN_SUPPORT`` decided cases were at or over the threshold;
* drift: the population stability index of the risks of cases opened in the last ``MONITOR_WINDOW_DAYS``
  against the version's first ``MONITOR_DRIFT_BASELINE_DAYS`` of cases, per case type (10 bins);
  an alert over ``MONITOR_DRIFT_THRESHOLD`` when both sides hold ``MONITOR_MIN_SUPPORT`` cases.

A case keeps the risk of the versions that scored it last (a rescore after a promotion overwrites it), so a
retired version's figures fade as its cases are rescored.

Computing reads every case the version scored (one query, but its rows grow with the cases), so it runs on a
worker: ``refresh_all`` (the beat's ``check-risk-model-health``, every ``MONITOR_INTERVAL_SECONDS`` like the
content models' check), ``refresh_health`` on demand and after a promotion. It stores one ``RiskModelHealth``
row per version (the figures, a per-day series over the history, when computed, since when in its state);
pages read those rows only (``monitored``).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AccountCase, RiskModelHealth, RiskModelVersion
from accounts.risk_experiments import THRESHOLD
from learning import stats
from learning.models import ModelHealth
from learning.monitoring import health_verdict

MONITORED = (RiskModelVersion.Status.ACTIVE, RiskModelVersion.Status.SHADOW)


@dataclass(frozen=True)
class CaseTypeHealth:
    case_type: str
    decided: int
    flagged: int  # decided cases at or over the threshold
    precision: float | None
    recall: float | None
    average_precision: float | None
    psi: float | None
    reference_n: int
    live_n: int


@dataclass(frozen=True)
class RiskHealth:
    version: RiskModelVersion
    state: str  # learning.models.ModelHealth.State: ok, alert, insufficient
    reasons: list[str]
    precision: float | None
    recall: float | None
    decided: int
    case_types: list[CaseTypeHealth]
    max_psi: float | None
    # One point per day of the history (by the day a case was decided): decided, precision, recall, avg precision.
    series: list[dict]


def _scored(version: RiskModelVersion):  # noqa: ANN202 - (case_type, risk, violation, opened_at, closed_at) rows
    cases = AccountCase.objects.filter(Q(model_version=version) | Q(shadow_version=version))
    for case_type, model_id, model_risk, shadow_risk, violation, opened, closed in cases.values_list(
        "case_type", "model_version_id", "model_risk", "shadow_risk", "violation", "opened_at", "closed_at"
    ):
        risk = model_risk if model_id == version.pk else shadow_risk
        if risk is not None:
            yield case_type, risk, violation, opened, closed


def version_health(version: RiskModelVersion, *, now: datetime | None = None) -> RiskHealth:
    now = now or timezone.now()
    history_since = now - timedelta(days=settings.MONITOR_HISTORY_DAYS)
    live_since = now - timedelta(days=settings.MONITOR_WINDOW_DAYS)
    baseline_end = version.created_at + timedelta(days=settings.MONITOR_DRIFT_BASELINE_DAYS)
    decided: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    by_day: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    live: dict[str, list[float]] = defaultdict(list)
    reference: dict[str, list[float]] = defaultdict(list)
    for case_type, risk, violation, opened, closed in _scored(version):
        if violation is not None and closed is not None and closed >= history_since:
            decided[case_type].append((risk, violation))
            by_day[closed.date().isoformat()].append((risk, violation))
        if opened >= live_since:
            live[case_type].append(risk)
        if opened < baseline_end and baseline_end <= live_since:  # the baseline is over before the live window
            reference[case_type].append(risk)
    rows, total = [], stats.Counts()
    for case_type in sorted(set(decided) | set(live) | set(version.case_types)):
        pairs = decided.get(case_type, [])
        scores, truths = [r for r, _ in pairs], [bool(v) for _, v in pairs]
        counts = stats.confusion(scores, truths, THRESHOLD)
        total += counts
        ref, now_scores = reference.get(case_type, []), live.get(case_type, [])
        psi = (
            stats.population_stability_index(stats.histogram(ref), stats.histogram(now_scores))
            if ref and now_scores
            else None
        )
        rows.append(
            CaseTypeHealth(
                case_type, len(pairs), counts.tp + counts.fp, counts.precision, counts.recall,
                stats.average_precision(scores, truths), psi, len(ref), len(now_scores),
            )
        )  # fmt: skip
    # The content monitoring's report shape, so the same alert rule judges both kinds of model.
    report = {
        "overall": {"flagged": total.tp + total.fp, "precision": total.precision},
        "drift": {
            "reference": f"its first {settings.MONITOR_DRIFT_BASELINE_DAYS} days of cases",
            "categories": {r.case_type: {"psi": r.psi, "reference_n": r.reference_n, "live_n": r.live_n} for r in rows},
        },
    }
    state, reasons = health_verdict(
        report,
        precision_floor=settings.MONITOR_PRECISION_FLOOR,
        drift_threshold=settings.MONITOR_DRIFT_THRESHOLD,
        min_support=settings.MONITOR_MIN_SUPPORT,
    )
    psis = [r.psi for r in rows if r.psi is not None]
    return RiskHealth(
        version, state, reasons, total.precision, total.recall, total.n, rows, max(psis) if psis else None,
        _series(by_day, now=now),
    )  # fmt: skip


def _series(by_day: dict[str, list[tuple[float, bool]]], *, now: datetime) -> list[dict]:
    start = (now - timedelta(days=settings.MONITOR_HISTORY_DAYS - 1)).date()
    points = []
    for offset in range(settings.MONITOR_HISTORY_DAYS):
        day = (start + timedelta(days=offset)).isoformat()
        scores, truths = [r for r, _ in by_day.get(day, [])], [bool(v) for _, v in by_day.get(day, [])]
        counts = stats.confusion(scores, truths, THRESHOLD)
        points.append({
            "day": day, "decided": len(scores), "precision": counts.precision, "recall": counts.recall,
            "average_precision": stats.average_precision(scores, truths),
        })  # fmt: skip
    return points


def refresh_health(version: RiskModelVersion, *, now: datetime | None = None) -> RiskModelHealth:
    """Recompute one version's health and store it (one row per version; ``state_since`` moves on a change)."""
    now = now or timezone.now()
    health = version_health(version, now=now)
    worst = max(((r.case_type, r.psi) for r in health.case_types if r.psi is not None), key=lambda p: p[1],
                default=("", None))  # fmt: skip
    details = {
        "window_days": settings.MONITOR_WINDOW_DAYS,
        "history_days": settings.MONITOR_HISTORY_DAYS,
        "threshold": THRESHOLD,
        "case_types": [vars(row) for row in health.case_types],
        "series": health.series,
    }
    with transaction.atomic():
        row = RiskModelHealth.objects.select_for_update().filter(version=version).first()
        if row is None:
            row = RiskModelHealth(version=version, state_since=now)
        elif row.state != health.state:
            row.state_since = now
        row.state, row.reasons, row.precision, row.recall = (
            health.state,
            health.reasons,
            health.precision,
            health.recall,
        )
        row.decided, (row.drift_case_type, row.drift_psi) = health.decided, worst
        row.details, row.computed_at = details, now
        row.save()
    return row


def refresh_all(*, now: datetime | None = None) -> int:
    """Periodic: refresh every active and shadow version's stored health; returns how many are in alert."""
    alerts = 0
    for version in RiskModelVersion.objects.filter(status__in=MONITORED):
        alerts += refresh_health(version, now=now).state == ModelHealth.State.ALERT
    return alerts


def monitored() -> list[tuple[RiskModelVersion, RiskModelHealth | None]]:
    """Active and shadow versions with their stored health (None before the first check), alerts first, then
    newest first: one query, whatever the number of cases (the home page's and the model list's card)."""
    versions = RiskModelVersion.objects.filter(status__in=MONITORED).select_related("health").order_by("-created_at")
    rows = [(version, getattr(version, "health", None)) for version in versions]
    return sorted(rows, key=lambda row: row[1] is None or row[1].state != ModelHealth.State.ALERT)


def health_for_metrics() -> list[tuple[str, str, str, str, float | None, float | None]]:
    """(version, kind, status, state, precision, drift PSI) per monitored risk version, for ``/metrics``.

    ``ops`` reads this through ``OPS_MODEL_HEALTH_SOURCES`` (a peer app may not import ``accounts``), so the
    content models' alert metric and Prometheus rule cover the risk models too, as ``kind="account_risk"``.
    """
    rows = RiskModelHealth.objects.select_related("version").filter(version__status__in=MONITORED)
    return [
        (row.version.name, "account_risk", row.version.status, row.state, row.precision, row.drift_psi) for row in rows
    ]
