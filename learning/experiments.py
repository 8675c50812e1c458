"""A/B experiments: a share of new items is routed by a candidate model's scores; the arms are compared.

How it works:

* ``start_experiment`` puts the candidate in ``shadow`` status (the workers score every new item
  with active and shadow versions, so the candidate's scores exist when an item is routed; no
  separate ``ab`` status is needed) and records an audited ``Experiment`` row. One experiment runs
  per kind at a time (a database constraint).
* An item's arm is ``sha256("<experiment id>:<item id>") < share``: stable, so re-routing an item
  repeats its arm, and independent between experiments. Only items of the experiment's kind
  (text for a text model) that the candidate scored take part: an item the candidate could not
  score is out of the experiment in both arms alike, so the arms stay comparable.
* Routing (``queues.enqueue``) uses the candidate's scores for that kind for arm B and the active
  version's for arm A, and records the arm and experiment on the ``QueueEntry``.
* ``compare_arms`` is pure: per arm, precision at the top of the queue, time to decision, removal
  rate and deadline breaches, and B - A with a confidence interval (``learning.stats``).

Promoting the candidate, or activating any other version of the kind, stops the experiment
(``stop_experiments_after_activation``, on the ``model_version_activated`` signal)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from audit.services import record_event
from classifiers.models import Experiment, ModelVersion, Score
from classifiers.services import RegistryError, set_model_version_status
from learning import stats
from queues.experiment_arms import arm_of
from queues.models import Decision, QueueEntry

FINAL_ACTIONS = (Decision.Action.REMOVE, Decision.Action.NO_VIOLATION)


class ExperimentError(ValueError):
    """An experiment change that is not allowed; the message says why and ``field`` names the input."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def start_experiment(
    *, candidate: ModelVersion, share: float, actor: AbstractBaseUser | None = None, notes: str = ""
) -> Experiment:
    """Start routing ``share`` of new items of the candidate's kind by its scores; puts it in shadow first."""
    if not 0 < share < 1:
        raise ExperimentError("share must be between 0 and 1 (exclusive), e.g. 0.2 for 20%.", field="share")
    if candidate.status == ModelVersion.Status.ACTIVE:
        raise ExperimentError("The candidate is already the active version; there is nothing to compare.",
                              field="candidate")  # fmt: skip
    active = ModelVersion.objects.filter(kind=candidate.kind, status=ModelVersion.Status.ACTIVE).first()
    try:
        with transaction.atomic():
            if candidate.status != ModelVersion.Status.SHADOW:
                set_model_version_status(version=candidate, status=ModelVersion.Status.SHADOW, actor=actor)
            experiment = Experiment.objects.create(
                kind=candidate.kind, candidate=candidate, control=active, share=share, notes=notes, created_by=actor
            )
            record_event(action="experiment.started", target=experiment, actor=actor, after=_snapshot(experiment))
    except IntegrityError as exc:
        raise ExperimentError(f"An experiment on {candidate.kind} models is already running; stop it first.",
                              field="candidate") from exc  # fmt: skip
    except RegistryError as exc:
        raise ExperimentError(str(exc), field="candidate") from exc
    return experiment


def stop_experiment(
    *, experiment: Experiment, actor: AbstractBaseUser | None = None, actor_label: str = "", reason: str = "stopped"
) -> Experiment:
    """Stop routing by the candidate. Entries keep their arms, so the comparison stays readable."""
    with transaction.atomic():
        experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
        if experiment.stopped_at is not None:
            return experiment
        before = _snapshot(experiment)
        experiment.stopped_at, experiment.stop_reason = timezone.now(), reason[:200]
        experiment.save(update_fields=["stopped_at", "stop_reason"])
        record_event(
            action="experiment.stopped", target=experiment, actor=actor, actor_label=actor_label,
            before=before, after=_snapshot(experiment),
        )  # fmt: skip
    return experiment


def stop_experiments_after_activation(*, version_id: int, kind: str) -> int:
    """A version became active: an experiment of that kind compares against a control that is gone."""
    stopped = 0
    for experiment in Experiment.objects.filter(kind=kind, stopped_at__isnull=True):
        promoted = experiment.candidate_id == version_id
        stop_experiment(
            experiment=experiment,
            actor_label="model activation",
            reason="the candidate was promoted" if promoted else f"model version {version_id} became active",
        )
        stopped += 1
    return stopped


def _snapshot(experiment: Experiment) -> dict:
    return {
        "kind": experiment.kind,
        "candidate": experiment.candidate_id,
        "control": experiment.control_id,
        "share": experiment.share,
        "started_at": experiment.started_at.isoformat() if experiment.started_at else None,
        "stopped_at": experiment.stopped_at.isoformat() if experiment.stopped_at else None,
        "stop_reason": experiment.stop_reason,
    }


@dataclass(frozen=True)
class Outcome:
    """What became of one item in an experiment."""

    item_id: int
    arm: str
    queued: bool  # reached a review queue (auto-decided items did not)
    risk: float = 0.0  # its risk when routed: the rank the arm's model gave it
    enqueued_at: datetime | None = None
    deadline_at: datetime | None = None
    decided_at: datetime | None = None  # the first human decision (remove or no violation)
    removed: bool | None = None  # None while undecided
    automatic: bool = False  # decided by a routing rule, not a person


@dataclass(frozen=True)
class ArmSummary:
    arm: str
    items: int
    queued: int
    human_decided: int
    top_k: int
    precision_at_top: stats.Estimate
    minutes_to_decision: stats.Estimate
    removal_rate: stats.Estimate
    deadline_breaches: stats.Estimate


@dataclass(frozen=True)
class Comparison:
    a: ArmSummary
    b: ArmSummary
    differences: dict[str, stats.Estimate] = field(default_factory=dict)  # B - A per metric

    @property
    def rows(self) -> list[tuple[str, str, stats.Estimate, stats.Estimate, stats.Estimate]]:
        """(key, label, arm A, arm B, B - A) for display."""
        labels = [
            ("precision_at_top", "Precision at the top of the queue"),
            ("minutes_to_decision", "Median minutes to decision"),
            ("removal_rate", "Removal rate"),
            ("deadline_breaches", "Deadline breaches"),
        ]
        return [(k, label, getattr(self.a, k), getattr(self.b, k), self.differences[k]) for k, label in labels]


def top_of_queue(outcomes: Sequence[Outcome], *, k: int) -> list[Outcome]:
    """The ``k`` human-decided items the arm's model ranked riskiest (ties: oldest item first)."""
    decided = [o for o in outcomes if o.queued and o.removed is not None and not o.automatic]
    return sorted(decided, key=lambda o: (-o.risk, o.item_id))[:k]


def _minutes(outcome: Outcome) -> float:
    assert outcome.decided_at is not None and outcome.enqueued_at is not None
    return (outcome.decided_at - outcome.enqueued_at).total_seconds() / 60


def _breached(outcome: Outcome, now: datetime) -> bool | None:
    """True past the deadline, False decided in time, None while it may still be decided in time."""
    if outcome.deadline_at is None:
        return None
    if outcome.decided_at is not None:
        return outcome.decided_at > outcome.deadline_at
    return True if now > outcome.deadline_at else None


def _summarise(arm: str, outcomes: Sequence[Outcome], *, k: int, now: datetime, resamples: int, seed: int) -> tuple:
    human = [o for o in outcomes if o.queued and o.removed is not None and not o.automatic]
    top = top_of_queue(outcomes, k=k)
    decided = [o for o in outcomes if o.removed is not None]
    judged = [b for b in (_breached(o, now) for o in outcomes if o.queued) if b is not None]
    minutes = [_minutes(o) for o in human if o.decided_at and o.enqueued_at]
    summary = ArmSummary(
        arm=arm,
        items=len(outcomes),
        queued=sum(1 for o in outcomes if o.queued),
        human_decided=len(human),
        top_k=len(top),
        precision_at_top=stats.wilson_interval(sum(1 for o in top if o.removed), len(top)),
        minutes_to_decision=stats.bootstrap_median(minutes, resamples=resamples, seed=seed),
        removal_rate=stats.wilson_interval(sum(1 for o in decided if o.removed), len(decided)),
        deadline_breaches=stats.wilson_interval(sum(judged), len(judged)),
    )
    return summary, top, decided, judged, minutes


def compare_arms(
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    top_fraction: float = 0.2,
    top_k: int | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Per arm and B - A, each with a 95% confidence interval.

    * precision at the top: the share of removals among the ``k`` human-decided items each arm's
      model put at the top of the queue (highest risk when routed). ``k`` is ``top_k`` when given,
      else ``top_fraction`` of each arm's decided items: the arms differ in size, and the top 50
      of 800 items are more extreme than the top 50 of 200, so by default each arm is cut at the
      same share. Wilson intervals; the difference by Newcombe's method.
    * minutes to decision: median of first human decision minus entering a queue; percentile
      bootstrap (seeded) for each median and for the difference of medians.
    * removal rate: removals among decided items, automatic decisions included. Wilson / Newcombe.
    * deadline breaches: queued items decided after their deadline, or still open past it, among
      those decided or past their deadline. Wilson / Newcombe.
    """
    by_arm = {arm: [o for o in outcomes if o.arm == arm] for arm in (QueueEntry.Arm.A, QueueEntry.Arm.B)}

    def k_for(arm_outcomes: list[Outcome]) -> int:
        if top_k is not None:
            return top_k
        decided = sum(1 for o in arm_outcomes if o.queued and o.removed is not None and not o.automatic)
        return max(1, round(decided * top_fraction)) if decided else 0

    a, top_a, decided_a, judged_a, minutes_a = _summarise(
        "a", by_arm["a"], k=k_for(by_arm["a"]), now=now, resamples=resamples, seed=seed
    )
    b, top_b, decided_b, judged_b, minutes_b = _summarise(
        "b", by_arm["b"], k=k_for(by_arm["b"]), now=now, resamples=resamples, seed=seed + 1
    )
    differences = {
        "precision_at_top": stats.proportion_difference(
            sum(1 for o in top_a if o.removed), len(top_a), sum(1 for o in top_b if o.removed), len(top_b)
        ),
        "minutes_to_decision": stats.bootstrap_median_difference(
            minutes_a, minutes_b, resamples=resamples, seed=seed + 2
        ),
        "removal_rate": stats.proportion_difference(
            sum(1 for o in decided_a if o.removed),
            len(decided_a),
            sum(1 for o in decided_b if o.removed),
            len(decided_b),
        ),  # fmt: skip
        "deadline_breaches": stats.proportion_difference(sum(judged_a), len(judged_a), sum(judged_b), len(judged_b)),
    }
    return Comparison(a=a, b=b, differences=differences)


def experiment_outcomes(experiment: Experiment) -> list[Outcome]:
    """Every item of the experiment: those routed to a queue (their first entry) and those auto-decided.

    Auto-decided items have no entry; their arm is recomputed from the same hash routing used, over
    items of the experiment's kind that the candidate scored and a rule decided while it ran.
    """
    first: dict[int, dict] = {}
    for row in (
        QueueEntry.objects.filter(experiment=experiment)
        .order_by("item_id", "pk")
        .values("item_id", "arm", "risk", "enqueued_at", "deadline_at")
    ):
        first.setdefault(row["item_id"], row)
    human: dict[int, tuple[datetime, str]] = {}
    automatic: dict[int, str] = {}
    in_experiment = Subquery(QueueEntry.objects.filter(experiment=experiment).values("item_id"))
    for item_id, action, created_at, is_auto in (
        Decision.objects.filter(item_id__in=in_experiment, action__in=FINAL_ACTIONS)
        .order_by("created_at", "pk")
        .values_list("item_id", "action", "created_at", "automatic")
    ):
        if is_auto:
            automatic.setdefault(item_id, action)
        else:
            human.setdefault(item_id, (created_at, action))
    outcomes = []
    for item_id, row in first.items():
        decided_at, action = human.get(item_id, (None, automatic.get(item_id)))
        outcomes.append(
            Outcome(
                item_id=item_id, arm=row["arm"], queued=True, risk=row["risk"], enqueued_at=row["enqueued_at"],
                deadline_at=row["deadline_at"], decided_at=decided_at,
                removed=None if action is None else action == Decision.Action.REMOVE,
                automatic=decided_at is None and action is not None,
            )
        )  # fmt: skip
    scored_by_candidate = Exists(
        Score.objects.filter(item_id=OuterRef("item_id"), model_version_id=experiment.candidate_id)
    )
    auto = Decision.objects.filter(
        automatic=True, entry__isnull=True, action__in=FINAL_ACTIONS, created_at__gte=experiment.started_at
    ).filter(scored_by_candidate)
    if experiment.stopped_at is not None:
        auto = auto.filter(created_at__lte=experiment.stopped_at)
    auto = auto.exclude(item__text="") if experiment.kind == ModelVersion.Kind.TEXT else auto.exclude(item__image="")
    for item_id, action in auto.exclude(item_id__in=in_experiment).values_list("item_id", "action").distinct():
        outcomes.append(
            Outcome(
                item_id=item_id, arm=arm_of(experiment.pk, item_id, experiment.share), queued=False,
                removed=action == Decision.Action.REMOVE, automatic=True,
            )
        )  # fmt: skip
    return outcomes
