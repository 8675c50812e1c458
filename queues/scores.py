"""The scores routing and priority read: per item and category, from the active versions or an A/B arm's candidate."""

from collections import defaultdict

from django.conf import settings
from django.db.models import Q

from classifiers.models import ModelVersion, Score
from queues.experiment_arms import Assignment
from queues.models import QueueEntry


def active_scores(
    item_ids: list[int],
    *,
    for_risk: bool = False,
    learned_only: bool = False,
    assignments: dict[int, Assignment] | None = None,
) -> dict[int, dict[str, float]]:
    """Per item, each category's probability from the active versions (the higher of text and image).

    With ``for_risk``, scores from a cold-start prior are multiplied by ``RISK_PRIOR_WEIGHT``: priors
    rank items but are not calibrated per category (they run high for rare, severe categories), so
    they must not outrank what a trained model is sure of. With ``learned_only``, prior scores are
    left out (exploration weighs items by the trained heads' uncertainty only).

    An item in arm B of an experiment (``assignments``, see ``learning.experiments``) takes the
    candidate's scores in place of the active version's of that kind.
    """
    assignments = assignments or {}
    return _fold_scores(_score_rows(item_ids, assignments), assignments, for_risk=for_risk, learned_only=learned_only)


def routing_scores(
    item_ids: list[int], assignments: dict[int, Assignment]
) -> tuple[dict[int, dict[str, float]], dict[int, dict[str, float]], dict[int, dict[str, float]]]:
    """``active_scores`` plain, ``for_risk`` and ``learned_only``, from one read of the scores (routing needs all 3)."""
    rows = _score_rows(item_ids, assignments)
    return (
        _fold_scores(rows, assignments, for_risk=False, learned_only=False),
        _fold_scores(rows, assignments, for_risk=True, learned_only=False),
        _fold_scores(rows, assignments, for_risk=False, learned_only=True),
    )


def _score_rows(item_ids: list[int], assignments: dict[int, Assignment]) -> list[tuple]:
    candidates = {a.candidate_id for a in assignments.values() if a.arm == QueueEntry.Arm.B}
    wanted = Q(model_version__status=ModelVersion.Status.ACTIVE)
    if candidates:
        wanted |= Q(model_version_id__in=candidates)
    return list(
        Score.objects.filter(wanted, item_id__in=item_ids).values_list(
            "item_id", "category__slug", "probability", "from_prior", "model_version_id", "model_version__kind",
            "model_version__status",
        )
    )  # fmt: skip


def _fold_scores(
    rows: list[tuple], assignments: dict[int, Assignment], *, for_risk: bool, learned_only: bool
) -> dict[int, dict[str, float]]:
    weight = settings.RISK_PRIOR_WEIGHT if for_risk else 1.0
    scores: dict[int, dict[str, float]] = defaultdict(dict)
    for item_id, slug, probability, from_prior, version_id, kind, status in rows:
        if learned_only and from_prior:
            continue
        assignment = assignments.get(item_id)
        if assignment is not None and assignment.arm == QueueEntry.Arm.B and assignment.kind == kind:
            if version_id != assignment.candidate_id:
                continue
        elif status != ModelVersion.Status.ACTIVE:
            continue
        value = probability * weight if from_prior else probability
        scores[item_id][slug] = max(value, scores[item_id].get(slug, 0.0))
    return scores
