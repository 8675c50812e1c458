"""Non-human labels into training, only through an admin's explicit per-labeler weight.

A labeler with ``training_weight`` 0 (the default) never trains anything. For the others, their labels become
``learning.training_data.WeightedLabels``, heaviest labeler first, and the snapshot's manifest lists each with its
weight and how many items it supplied; human labels win every item they cover and hold the held-out split.
"""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from classifiers.models import PolicyCategory, TrainingSnapshot
from labeling.models import CrowdAssignment, Labeler, LLMResult
from learning.training_data import WeightedLabels, default_cutoff, export_training_snapshot


def _llm_labels(labeler: Labeler, cutoff: datetime) -> dict[int, dict[str, int]]:
    slug = labeler.prompt.category.slug
    results = LLMResult.objects.filter(labeler=labeler, state=LLMResult.State.DONE, finished_at__lte=cutoff)
    return {item_id: {slug: int(verdict)} for item_id, verdict in results.values_list("item_id", "verdict")}


def _crowd_labels(labeler: Labeler, cutoff: datetime) -> dict[int, dict[str, int]]:
    answers = CrowdAssignment.objects.filter(
        labeler=labeler.user_id, answered_at__lte=cutoff, task__gold_answer=""
    ).exclude(answer="")
    labels: dict[int, dict[str, int]] = {}
    categories: dict[int, list[str]] = {}
    for item_id, set_id, answer in answers.values_list("task__item_id", "task__task_set_id", "answer"):
        if set_id not in categories:
            categories[set_id] = list(
                PolicyCategory.objects.filter(crowd_task_sets=set_id).values_list("slug", flat=True)
            )
        labels[item_id] = {slug: int(answer == slug) for slug in categories[set_id]}
    return labels


def weighted_label_sources(*, cutoff: datetime) -> tuple[WeightedLabels, ...]:
    """Every active labeler an admin weighted above 0, heaviest first, with its labels up to ``cutoff``."""
    sources = []
    weighted = Labeler.objects.filter(active=True, training_weight__gt=0).select_related("prompt__category")
    for labeler in weighted.order_by("-training_weight", "name"):
        if labeler.kind == Labeler.Kind.LLM:
            labels = _llm_labels(labeler, cutoff)
        elif labeler.kind == Labeler.Kind.CROWD:
            labels = _crowd_labels(labeler, cutoff)
        else:
            continue  # moderators' labels are review's; model versions do not label their own training data
        sources.append(WeightedLabels(labeler.name, labeler.kind, labeler.training_weight, labels))
    return tuple(sources)


def export_snapshot_with_labelers(*, actor: AbstractBaseUser | None = None) -> TrainingSnapshot:
    """A training snapshot of the human labels plus the weighted labelers' (listed in its manifest)."""
    cutoff = default_cutoff()  # as the human-only export: labels still inside the undo window wait
    return export_training_snapshot(
        cutoff=cutoff, actor=actor, weighted=weighted_label_sources(cutoff=cutoff), actor_label="labeling"
    )
