"""Reviewer labels become versioned training snapshots: ``items.jsonl``, ``images/`` and ``manifest.json``.

Which labels (as of a cutoff time). A label counts if it was written at or before the cutoff, by a
person (``Decision.automatic`` false: routing rules' automatic decisions write no labels today, and
any that did would be left out, since training on them would teach the model its own rules back),
and had not been replaced by a QA overturn at the cutoff. Reading the state *as of the cutoff*
(an overturn after it does not count, its new labels are not in yet) is what makes an export
reproducible: the same labels and cutoff give a byte-identical ``items.jsonl``. The default cutoff
is now minus the undo window (``REVIEW_UNDO_SECONDS``), so every exported label is final.

The conflict rule: one label per (item, category).
  1. A label written by a senior's QA overturn wins over any reviewer's label on that item and
     category, whenever that was written; between two overturns the later one wins.
  2. Otherwise the most recent human decision's label wins (by time, then by id).
An overturn to "needs context" supersedes the labels and writes none: that category is then
unknown for the item unless another decision labelled it.

Provenance per label: reviewer id, time, queue id, how the item was chosen (``selection``: routed by
risk, sampled at random, chosen for uncertainty, escalated), the decision and the QA review. The
manifest maps reviewer and queue ids to names at export time (names may change; ids do not, and
the JSONL must not).

The held-out split, per item. Reviewers see items in risk order, so labels from risk-ordered
queues over-represent what the model already scores high; metrics on them flatter a model that
agrees with the old one. Items whose labels came from random sampling (``selection`` "sampled")
carry no such bias, so:
  * ``random_sample``: when at least ``TRAINING_MIN_RANDOM_HELD_OUT`` items were sampled at random,
    those items, and only those, are held out;
  * ``random_sample+hash``: otherwise the sampled items plus a deterministic ``TRAINING_HELD_OUT_FRACTION``
    of the other items, chosen by a stable hash of the item id (sha256), are held out. These metrics
    carry the ordering bias; the manifest, the run and the model version say which mode was used.
Every other item is for training. ``weight`` is 1.0 for every record of human labels. Inverse-propensity weights were
measured and left out: reviewers' queue order depends on the model's scores, not on the labels, so the
chance of a label given the item is the same among labelled items as anywhere, and on the labels of a
risk-ordered run neither weighting explored rows up, calibrating on them alone, nor shifting the prior
to their spam rate raised held-out F1 (bench/RESULTS.md, "Learning from nothing"). What the order does
cost is information, and that is fixed where items are chosen (exploration, ``queues.enqueue``).

Labels from other labelers (an LLM prompt version, a crowd worker) enter a snapshot only when the caller passes
them as ``WeightedLabels`` (the labeling app does, for labelers an admin gave a training weight above 0): such a
record covers only an item no human labelled, goes to the training split (never held out: the held-out metrics
stay on human labels), carries its labeler's weight, and the manifest lists every labeler with its weight and
count. Weighted sources are given in order of precedence; the first that labels an item wins it.

A snapshot is immutable: it is written to a staging directory, renamed into place once complete,
its files made read-only, and an existing directory is never written into. A second export is a new
snapshot with a new id.
"""

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import record_event
from classifiers.models import TrainingSnapshot
from classifiers.snapshots import (
    FORMAT,
    IMAGES_DIR,
    ITEMS_FILE,
    MANIFEST_FILE,
    Split,
    TrainingRecord,
    canonical_line,
    sha256_of,
)
from intake.models import Item, author_key
from queues.models import Queue, QueueEntry
from review.models import Label

CONFLICT_RULE = (
    "One label per (item, category). A label written by a senior's QA overturn wins over any reviewer's label; "
    "between overturns the later wins. Otherwise the most recent human decision's label wins (time, then id). "
    "Automatic decisions never yield labels. Labels and overturns after the cutoff are ignored."
)
HASH_BUCKETS = 10_000


class EmptySnapshot(ValueError):
    """There are no labels at or before the cutoff: nothing to export."""


@dataclass(frozen=True)
class _Winner:
    label_id: int
    item_id: int
    slug: str
    value: bool
    created_at: datetime
    by_qa: bool
    reviewer_id: int | None
    queue_id: int | None
    selection: str
    decision_id: int
    qa_review_id: int | None

    @property
    def rank(self) -> tuple:
        return (self.by_qa, self.created_at, self.label_id)


def labels_as_of(cutoff: datetime) -> QuerySet[Label]:
    """Human labels written at or before ``cutoff`` that no QA overturn had replaced by then."""
    return Label.objects.filter(created_at__lte=cutoff, decision__automatic=False).filter(
        Q(superseded_by__isnull=True) | Q(superseded_by__created_at__gt=cutoff)
    )


def resolve_labels(cutoff: datetime) -> dict[int, dict[str, _Winner]]:
    """The winning label per item and category under the conflict rule (module docstring)."""
    winners: dict[int, dict[str, _Winner]] = {}
    rows = labels_as_of(cutoff).values_list(
        "id", "item_id", "category__slug", "value", "created_at", "qa_review_id", "reviewer_id", "queue_id",
        "selection", "decision_id",
    )  # fmt: skip
    for (
        label_id,
        item_id,
        slug,
        value,
        created_at,
        qa_review_id,
        reviewer_id,
        queue_id,
        selection,
        decision_id,
    ) in rows.iterator(chunk_size=5_000):
        candidate = _Winner(
            label_id, item_id, slug, bool(value), created_at, qa_review_id is not None, reviewer_id, queue_id,
            selection, decision_id, qa_review_id,
        )  # fmt: skip
        per_item = winners.setdefault(item_id, {})
        current = per_item.get(slug)
        if current is None or candidate.rank > current.rank:
            per_item[slug] = candidate
    return winners


def stable_bucket(item_id: int) -> int:
    """0..9999 from the sha256 of the item id: the same on every machine, run and Python version."""
    return int.from_bytes(hashlib.sha256(str(item_id).encode()).digest()[:8], "big") % HASH_BUCKETS


def held_out_items(winners: dict[int, dict[str, _Winner]]) -> tuple[set[int], str]:
    """The held-out item ids and the mode that chose them (module docstring)."""
    sampled = {
        item_id
        for item_id, labels in winners.items()
        if any(w.selection == QueueEntry.Selection.SAMPLED for w in labels.values())
    }
    if len(sampled) >= settings.TRAINING_MIN_RANDOM_HELD_OUT:
        return sampled, TrainingSnapshot.HeldOutSource.RANDOM_SAMPLE
    threshold = round(settings.TRAINING_HELD_OUT_FRACTION * HASH_BUCKETS)
    hashed = {item_id for item_id in winners if stable_bucket(item_id) < threshold}
    return sampled | hashed, TrainingSnapshot.HeldOutSource.RANDOM_SAMPLE_AND_HASH


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class WeightedLabels:
    """Labels from a labeler other than a moderator, admitted to training with an admin's weight."""

    name: str
    kind: str
    weight: float
    labels: dict[int, dict[str, int]]  # item id -> category slug -> 1 (violates) or 0


def _weighted_winners(
    winners: dict[int, dict[str, _Winner]], weighted: tuple[WeightedLabels, ...]
) -> dict[int, WeightedLabels]:
    """Per item no human labelled: the first weighted source that labels it."""
    chosen: dict[int, WeightedLabels] = {}
    for source in weighted:
        for item_id, labels in source.labels.items():
            if labels and item_id not in winners and item_id not in chosen:
                chosen[item_id] = source
    return chosen


def build_records(
    cutoff: datetime, weighted: tuple[WeightedLabels, ...] = ()
) -> tuple[list[TrainingRecord], dict[int, str], str]:
    """Records sorted by item id, the storage names of their images, and the held-out mode."""
    winners = resolve_labels(cutoff)
    held_out, mode = held_out_items(winners)
    extra = _weighted_winners(winners, weighted)
    ids = sorted([*winners, *extra])
    records, images = [], {}
    for start in range(0, len(ids), 2_000):
        chunk = ids[start : start + 2_000]
        items = {
            pk: (text, image, sha, fmt, author_key(source, external_id))
            for pk, text, image, sha, fmt, source, external_id in Item.objects.filter(pk__in=chunk).values_list(
                "pk", "text", "image", "image_sha256", "image_format", "author__source", "author__external_id"
            )
        }
        for item_id in chunk:
            text, image, sha, fmt, author = items[item_id]
            relative = None
            if image:
                sha = sha or _storage_sha256(image)
                ext = (fmt or Path(image).suffix.lstrip(".") or "bin").lower()
                relative = f"{IMAGES_DIR}/{sha}.{ext}"
                images[relative] = image
            if item_id in extra:
                source = extra[item_id]
                labels = dict(sorted(source.labels[item_id].items()))
                records.append(
                    TrainingRecord(
                        item_id=item_id,
                        text=text,
                        image=relative,
                        labels={slug: int(value) for slug, value in labels.items()},
                        provenance={
                            slug: {
                                "labeler": source.name,
                                "kind": source.kind,
                                "weight": source.weight,
                                "reviewer": None,
                                "queue": None,
                                "selection": "labeler",
                            }
                            for slug in labels
                        },  # fmt: skip
                        split=Split.TRAIN,
                        weight=source.weight,
                        author=author,
                    )
                )
                continue
            labels = winners[item_id]
            records.append(
                TrainingRecord(
                    item_id=item_id,
                    text=text,
                    image=relative,
                    labels={slug: int(w.value) for slug, w in sorted(labels.items())},
                    provenance={
                        slug: {
                            "reviewer": w.reviewer_id,
                            "at": _utc(w.created_at),
                            "queue": w.queue_id,
                            "selection": w.selection,
                            "decision": w.decision_id,
                            "qa_review": w.qa_review_id,
                        }
                        for slug, w in sorted(labels.items())
                    },
                    split=Split.HELD_OUT if item_id in held_out else Split.TRAIN,
                    weight=1.0,
                    author=author,
                )
            )
    return records, images, mode


def _storage_sha256(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _counts(records: list[TrainingRecord]) -> dict[str, Any]:
    per_category: dict[str, dict[str, int]] = {}
    per_selection: dict[str, int] = {}
    for record in records:
        for slug, value in record.labels.items():
            key = f"{record.split}_{'positive' if value else 'negative'}"
            bucket = per_category.setdefault(
                slug, {"train_positive": 0, "train_negative": 0, "held_out_positive": 0, "held_out_negative": 0}
            )
            bucket[key] += 1
            selection = record.provenance[slug]["selection"] or "none"
            per_selection[selection] = per_selection.get(selection, 0) + 1
    return {
        "items": len(records),
        "labels": sum(len(record.labels) for record in records),
        "train_items": sum(record.split == Split.TRAIN for record in records),
        "held_out_items": sum(record.split == Split.HELD_OUT for record in records),
        "items_with_image": sum(record.image is not None for record in records),
        "per_category": dict(sorted(per_category.items())),
        "labels_per_selection": dict(sorted(per_selection.items())),
    }


@cache
def code_version() -> str:
    """The git commit of the code that wrote the snapshot, or ``CODE_VERSION`` from the environment."""
    if os.environ.get("CODE_VERSION"):
        return os.environ["CODE_VERSION"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def unlabelled_stored_images(limit: int, labelled: set[int]) -> list[tuple[int, str]]:
    """(item id, storage name) of the ``limit`` most recent items with a stored image and not in ``labelled``.

    The pool an image retraining run self-trains on: what the platform was sent lately, which nobody labelled.
    """
    pool: list[tuple[int, str]] = []
    rows = Item.objects.exclude(image="").order_by("-pk").values_list("pk", "image")
    for item_id, name in rows.iterator(chunk_size=2_000):
        if len(pool) >= limit:
            break
        if item_id not in labelled:
            pool.append((item_id, name))
    return pool


def default_cutoff() -> datetime:
    """Now minus the undo window: labels older than that are final."""
    return timezone.now() - timedelta(seconds=settings.REVIEW_UNDO_SECONDS)


def export_training_snapshot(
    *,
    cutoff: datetime | None = None,
    out_dir: Path | None = None,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
    weighted: tuple[WeightedLabels, ...] = (),
) -> TrainingSnapshot:
    """Write a new immutable snapshot of the labels as of ``cutoff`` and record it (with an audit event).

    Raises EmptySnapshot when there is no label to export. Files go to ``out_dir/snapshot-<id>/``
    (default ``TRAINING_SNAPSHOT_DIR``).
    """
    cutoff = cutoff or default_cutoff()
    out_dir = Path(out_dir or settings.TRAINING_SNAPSHOT_DIR)
    records, images, mode = build_records(cutoff, weighted)
    if not records:
        raise EmptySnapshot(f"No human labels at or before {_utc(cutoff)}: nothing to train on.")
    counts = _counts(records)
    out_dir.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        snapshot = TrainingSnapshot.objects.create(
            label_cutoff=cutoff, path="", created_by=actor, created_by_label=actor_label[:150]
        )
        directory = out_dir / f"snapshot-{snapshot.pk}"
        if directory.exists():
            raise FileExistsError(f"{directory} exists; snapshots are never overwritten")
        staging = out_dir / f".snapshot-{snapshot.pk}-{uuid.uuid4().hex}.partial"
        try:
            files = _write_files(staging, records, images)
            manifest = _manifest(snapshot, cutoff, mode, counts, files, records, actor, actor_label, weighted)
            (staging / MANIFEST_FILE).write_text(
                json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            for path in staging.rglob("*"):
                if path.is_file():
                    path.chmod(0o444)
            snapshot.path = str(directory)
            snapshot.item_count = counts["items"]
            snapshot.label_count = counts["labels"]
            snapshot.held_out_count = counts["held_out_items"]
            snapshot.held_out_source = mode
            snapshot.counts = counts
            snapshot.items_sha256 = files[ITEMS_FILE]
            snapshot.file_hashes = files
            snapshot.manifest = manifest
            snapshot.save()
            record_event(
                action="training_snapshot.exported",
                target=snapshot,
                actor=actor,
                actor_label=actor_label,
                after={
                    "path": snapshot.path,
                    "label_cutoff": _utc(cutoff),
                    "items": counts["items"],
                    "labels": counts["labels"],
                    "held_out_source": mode,
                    "items_sha256": snapshot.items_sha256,
                },
            )
            os.rename(staging, directory)  # atomic on one filesystem; fails if the directory appeared meanwhile
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return snapshot


def _write_files(staging: Path, records: list[TrainingRecord], images: dict[str, str]) -> dict[str, str]:
    staging.mkdir(parents=True)
    files: dict[str, str] = {}
    if images:
        (staging / IMAGES_DIR).mkdir()
        for relative, name in sorted(images.items()):
            with default_storage.open(name, "rb") as source, (staging / relative).open("wb") as target:
                shutil.copyfileobj(source, target)
            files[relative] = sha256_of(staging / relative)
    with (staging / ITEMS_FILE).open("wb") as handle:
        for record in records:
            handle.write(canonical_line(record))
    files[ITEMS_FILE] = sha256_of(staging / ITEMS_FILE)
    return dict(sorted(files.items()))


def _manifest(
    snapshot: TrainingSnapshot,
    cutoff: datetime,
    mode: str,
    counts: dict[str, Any],
    files: dict[str, str],
    records: list[TrainingRecord],
    actor: AbstractBaseUser | None,
    actor_label: str,
    weighted: tuple[WeightedLabels, ...] = (),
) -> dict[str, Any]:
    reviewer_ids = {p["reviewer"] for r in records for p in r.provenance.values() if p["reviewer"] is not None}
    queue_ids = {p["queue"] for r in records for p in r.provenance.values() if p["queue"] is not None}
    users = get_user_model().objects.filter(pk__in=reviewer_ids)
    weighted_items: dict[str, int] = {}
    for record in records:
        for provenance in record.provenance.values():
            if "labeler" in provenance:
                weighted_items[provenance["labeler"]] = weighted_items.get(provenance["labeler"], 0) + 1
                break
    return {
        "format": FORMAT,
        "snapshot": snapshot.pk,
        "created_at": _utc(snapshot.created_at),
        "created_by": actor.get_username() if actor is not None else (actor_label or "system"),
        "label_cutoff": _utc(cutoff),
        "code_version": code_version(),
        "conflict_rule": CONFLICT_RULE,
        "automatic_decisions": "excluded",
        # Non-human labels only through labelers an admin weighted; human labels win any item they cover.
        "labelers": [
            {"name": w.name, "kind": w.kind, "weight": w.weight, "items": weighted_items.get(w.name, 0)}
            for w in weighted
        ],
        "split": {
            "mode": mode,
            "random_sample_minimum": settings.TRAINING_MIN_RANDOM_HELD_OUT,
            "hash_fraction": settings.TRAINING_HELD_OUT_FRACTION if mode != "random_sample" else 0.0,
            "hash": "sha256(str(item_id))[:8] big-endian mod 10000 < fraction * 10000",
        },
        "counts": counts,
        "files": files,
        "items_sha256": files[ITEMS_FILE],
        "reviewers": {str(u.pk): u.get_username() for u in users.order_by("pk")},
        "queues": {str(pk): slug for pk, slug in Queue.objects.filter(pk__in=queue_ids).values_list("pk", "slug")},
    }


def recent_snapshots(limit: int = 50) -> QuerySet[TrainingSnapshot]:
    """Snapshots, newest first (for the admin and a read API)."""
    return TrainingSnapshot.objects.select_related("created_by").order_by("-created_at", "-pk")[:limit]


def snapshot_for_api(snapshot: TrainingSnapshot) -> dict:
    """A snapshot's public description (for a read endpoint): counts, cutoff, hashes, no file contents."""
    return {
        "id": snapshot.pk,
        "created_at": snapshot.created_at,
        "label_cutoff": snapshot.label_cutoff,
        "items": snapshot.item_count,
        "labels": snapshot.label_count,
        "held_out_items": snapshot.held_out_count,
        "held_out_source": snapshot.held_out_source,
        "counts": snapshot.counts,
        "items_sha256": snapshot.items_sha256,
        "files": snapshot.file_hashes,
    }
