"""Which arm of a running A/B experiment routes an item: a stable hash of experiment and item.

The experiments themselves (start, stop, comparison of the arms) are ``learning.experiments``.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from classifiers.models import Experiment, ModelVersion, Score
from intake.models import Item
from queues.models import QueueEntry


def arm_of(experiment_id: int, item_id: int, share: float) -> str:
    """``"b"`` for the ``share`` of items routed by the candidate, ``"a"`` for the rest; the same every time."""
    digest = hashlib.sha256(f"{experiment_id}:{item_id}".encode()).digest()
    return QueueEntry.Arm.B if int.from_bytes(digest[:8], "big") / 2**64 < share else QueueEntry.Arm.A


@dataclass(frozen=True)
class Assignment:
    """An item's place in an experiment: which arm, and which candidate scores arm B for which kind."""

    experiment_id: int
    arm: str
    candidate_id: int
    kind: str

    def entry_fields(self) -> dict:
        return {"experiment_id": self.experiment_id, "arm": self.arm}


def _kind_applies(kind: str, *, has_text: bool, has_image: bool) -> bool:
    return has_text if kind == ModelVersion.Kind.TEXT else has_image


def assignments_for(items: Sequence[Item]) -> dict[int, Assignment]:
    """The arm of each item in the running experiments; items out of every experiment are absent.

    An item with both text and image that both kinds' experiments could take joins the older
    experiment only, since a queue entry records one arm.
    """
    running = list(Experiment.objects.filter(stopped_at__isnull=True).order_by("pk"))
    if not running or not items:
        return {}
    scored = set(
        Score.objects.filter(
            item_id__in=[item.pk for item in items], model_version_id__in=[e.candidate_id for e in running]
        )
        .values_list("item_id", "model_version_id")
        .distinct()
    )
    assignments: dict[int, Assignment] = {}
    for item in items:
        for experiment in running:
            applies = _kind_applies(experiment.kind, has_text=bool(item.text), has_image=bool(item.image))
            if applies and (item.pk, experiment.candidate_id) in scored:
                arm = arm_of(experiment.pk, item.pk, experiment.share)
                assignments[item.pk] = Assignment(experiment.pk, arm, experiment.candidate_id, experiment.kind)
                break
    return assignments


def assignments_from_entries(entries: Iterable[QueueEntry]) -> dict[int, Assignment]:
    """The arms pending entries already have, for re-routing: only experiments still running count."""
    entries = [entry for entry in entries if entry.experiment_id]
    running = {
        e.pk: e
        for e in Experiment.objects.filter(pk__in={entry.experiment_id for entry in entries}, stopped_at__isnull=True)
    }
    return {
        entry.item_id: Assignment(entry.experiment_id, entry.arm, running[entry.experiment_id].candidate_id,
                                  running[entry.experiment_id].kind)
        for entry in entries
        if entry.experiment_id in running and entry.arm
    }  # fmt: skip
