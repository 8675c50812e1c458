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
retired version's figures fade as its cases are rescored; computed when a page asks (no periodic row):
one query over the window's cases of the version.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import AccountCase, RiskModelVersion
from accounts.risk_experiments import THRESHOLD
from learning import stats
from learning.monitoring import health_verdict


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
    live: dict[str, list[float]] = defaultdict(list)
    reference: dict[str, list[float]] = defaultdict(list)
    for case_type, risk, violation, opened, closed in _scored(version):
        if violation is not None and closed is not None and closed >= history_since:
            decided[case_type].append((risk, violation))
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
        version, state, reasons, total.precision, total.recall, total.n, rows, max(psis) if psis else None
    )


def monitored() -> list[RiskHealth]:
    """The active and shadow versions' health, newest first (what the home page's model card lists)."""
    versions = RiskModelVersion.objects.filter(
        status__in=[RiskModelVersion.Status.ACTIVE, RiskModelVersion.Status.SHADOW]
    ).order_by("-created_at", "-pk")
    return [version_health(v) for v in versions]
