"""A/B experiments between two account risk model versions, split by case, judged by the reviewers' verdicts.

How it works (the content models' experiments, ``learning.experiments``, applied to cases):

* ``start_experiment`` names a shadow candidate and the active version as control; one experiment runs at a
  time (a partial unique index). While it runs, the candidate is the shadow version every case is scored with
  (``risk_versions.case_risk_of``), so both versions score every case of both arms.
* A new case's arm is ``queues.experiment_arms.arm_of(experiment, case)`` (a stable hash; the share is arm b),
  recorded on the case. Arm b's case is ordered in its queue by the candidate's risk, arm a's by the active
  version's (``cases.ordering_risk``).
* ``compare`` gives, per arm, the content experiments' own figures (``learning.experiments.compare_arms``:
  precision at the top of the queue, minutes to decision, violation rate, deadline breaches, B - A with 95 %
  intervals), and for each version over every decided case of the experiment, both arms: precision, recall
  (at risk >= 0.5) and average precision against the reviewers' verdicts.

Promoting any version stops a running experiment (``risk_versions.promote``): its control is gone.
"""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AccountCase, RiskExperiment, RiskModelVersion
from audit.services import record_event
from learning import stats
from learning.experiments import Comparison, Outcome, compare_arms
from queues.experiment_arms import arm_of
from queues.models import QueueEntry

THRESHOLD = 0.5  # a risk at or over it says "this is a <case type>", as in bench/accounts_risk_model.py


class RiskExperimentError(ValueError):
    """The experiment cannot start or stop as asked; the message says why (HTTP 400 / an admin error)."""


def running() -> RiskExperiment | None:
    return RiskExperiment.objects.filter(running=True).select_related("candidate", "control").first()


def _snapshot(experiment: RiskExperiment) -> dict:
    return {
        "candidate": experiment.candidate_id, "control": experiment.control_id, "share": experiment.share,
        "running": experiment.running, "stop_reason": experiment.stop_reason,
    }  # fmt: skip


def start_experiment(
    *, candidate: RiskModelVersion, share: float, actor: AbstractBaseUser | None = None, notes: str = ""
) -> RiskExperiment:
    """Order ``share`` of new cases by ``candidate`` (a shadow version) instead of the active version."""
    if not 0 < share < 1:
        raise RiskExperimentError("share must be between 0 and 1 (exclusive), e.g. 0.2 for 20%.")
    if candidate.status != RiskModelVersion.Status.SHADOW:
        raise RiskExperimentError(f"The candidate must be a shadow version; {candidate.name} is {candidate.status}.")
    control = RiskModelVersion.objects.filter(status=RiskModelVersion.Status.ACTIVE).first()
    if control is None:
        raise RiskExperimentError("There is no active version to compare the candidate with.")
    try:
        with transaction.atomic():
            experiment = RiskExperiment.objects.create(
                candidate=candidate, control=control, share=share, notes=notes, created_by=actor
            )
            record_event(action="risk_experiment.started", target=experiment, actor=actor, after=_snapshot(experiment))
    except IntegrityError as exc:
        raise RiskExperimentError("A risk model experiment is already running; stop it first.") from exc
    return experiment


def stop_experiment(
    experiment: RiskExperiment, *, actor: AbstractBaseUser | None = None, reason: str = "stopped"
) -> RiskExperiment:
    """Stop assigning arms; cases keep theirs, so the comparison stays readable."""
    with transaction.atomic():
        experiment = RiskExperiment.objects.select_for_update().get(pk=experiment.pk)
        if not experiment.running:
            return experiment
        before = _snapshot(experiment)
        experiment.running, experiment.stopped_at, experiment.stop_reason = False, timezone.now(), reason[:200]
        experiment.save(update_fields=["running", "stopped_at", "stop_reason"])
        record_event(action="risk_experiment.stopped", target=experiment, actor=actor, actor_label="" if actor else
                     "risk model promotion", before=before, after=_snapshot(experiment))  # fmt: skip
    return experiment


def assign_arm(case: AccountCase) -> list[str]:
    """Put a newly opened case in the running experiment's arm; returns the fields set (none without one).

    Only a case both versions scored takes part (the candidate may lack the case type): otherwise the arms
    would differ in which cases they hold, not only in the order.
    """
    experiment = running()
    if (
        experiment is None
        or case.model_version_id != experiment.control_id
        or case.shadow_version_id != experiment.candidate_id
    ):
        return []
    case.risk_experiment = experiment
    case.risk_arm = arm_of(experiment.pk, case.pk, experiment.share)
    return ["risk_experiment", "risk_arm"]


@dataclass(frozen=True)
class VersionAgreement:
    """One version's risk against the reviewers' verdicts, over the experiment's decided cases (both arms)."""

    version: RiskModelVersion
    decided: int
    precision: float | None
    recall: float | None
    average_precision: float | None


@dataclass(frozen=True)
class ExperimentReport:
    experiment: RiskExperiment
    arms: Comparison
    versions: list[VersionAgreement]


def _outcome(case: AccountCase, *, deadline_at: datetime | None) -> Outcome:
    candidate = case.risk_arm == QueueEntry.Arm.B
    return Outcome(
        item_id=case.pk,  # the experiment's unit: the case
        arm=case.risk_arm,
        queued=case.queue_id is not None,
        risk=(case.shadow_risk if candidate else case.model_risk) or 0.0,
        enqueued_at=case.opened_at,
        deadline_at=deadline_at,
        decided_at=case.closed_at,
        removed=case.violation,  # "removed" in the content experiment's words: the verdict was a violation
    )


def compare(experiment: RiskExperiment, *, now: datetime | None = None, resamples: int = 1000) -> ExperimentReport:
    cases = list(
        AccountCase.objects.filter(risk_experiment=experiment).select_related("entry").order_by("pk")
    )  # fmt: skip
    outcomes = [_outcome(c, deadline_at=c.entry.deadline_at if c.entry else None) for c in cases]
    arms = compare_arms(outcomes, now=now or timezone.now(), resamples=resamples)
    decided = [c for c in cases if c.violation is not None]
    truths = [bool(c.violation) for c in decided]
    versions = []
    for version, field in ((experiment.control, "model_risk"), (experiment.candidate, "shadow_risk")):
        scores = [getattr(c, field) or 0.0 for c in decided]
        counts = stats.confusion(scores, truths, THRESHOLD)
        versions.append(
            VersionAgreement(
                version, len(decided), counts.precision, counts.recall, stats.average_precision(scores, truths)
            )
        )
    return ExperimentReport(experiment, arms, versions)
