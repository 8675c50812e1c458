"""The file format of a training snapshot, and its reader: what retraining learns from, as plain files.

A snapshot is a directory written once by ``learning.training_data`` and never changed::

    snapshot-<id>/
        items.jsonl        one labelled item per line, sorted by item id, canonical JSON
        images/<sha256>.<ext>
        manifest.json      counts, the sha256 of every file, the conflict rule, the label cutoff, the code version

A line of ``items.jsonl``::

    {"author": "creatorhub:u-88", "image": null, "item": 17, "labels": {"hate": 0, "spam": 1},
     "provenance": {"hate": {...}, "spam": {"at": "2026-11-26T05:01:02.123456Z", "decision": 40,
                    "qa_review": null, "queue": 3, "reviewer": 5, "selection": "routed"}},
     "split": "train", "text": "...", "weight": 1.0}

Lines are ``json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`` so the same
labels give the same bytes. Classifiers know items only by id and content (DESIGN.md invariant 5):
this module reads the files and needs nothing from the app that wrote them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "moderation.training-snapshot/1"
ITEMS_FILE = "items.jsonl"
MANIFEST_FILE = "manifest.json"
IMAGES_DIR = "images"


class Split:
    """Where an item goes: training, or the held-out set that candidates and the active model are compared on."""

    TRAIN = "train"
    HELD_OUT = "held_out"


class SnapshotError(ValueError):
    """The snapshot directory is missing, malformed, or its files do not match the manifest's hashes."""


@dataclass(frozen=True)
class TrainingRecord:
    """One labelled item: labels are 1 (violates) or 0 per category; a category not named is unknown."""

    item_id: int
    text: str
    image: str | None  # path relative to the snapshot directory
    labels: dict[str, int]
    provenance: dict[str, dict[str, Any]]
    split: str
    weight: float = 1.0
    author: str = ""  # the author key the text models read (classifiers.inference.text.with_author); "" for none

    def to_json(self) -> dict[str, Any]:
        return {
            "author": self.author,
            "item": self.item_id,
            "text": self.text,
            "image": self.image,
            "labels": self.labels,
            "provenance": self.provenance,
            "split": self.split,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Snapshot:
    directory: Path
    manifest: dict[str, Any]
    records: list[TrainingRecord]

    def rows(self, split: str) -> list[TrainingRecord]:
        return [record for record in self.records if record.split == split]


def canonical_line(record: TrainingRecord) -> bytes:
    """The record's one line of ``items.jsonl``: sorted keys, no spaces, UTF-8, newline-terminated."""
    text = json.dumps(record.to_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_snapshot(directory: Path | str, *, verify: bool = True) -> Snapshot:
    """Read a snapshot directory; with ``verify``, refuse it if any file's sha256 differs from the manifest."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise SnapshotError(f"{directory}: no {MANIFEST_FILE}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise SnapshotError(f"{directory}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if verify:
        mismatched = [name for name, sha in manifest["files"].items() if sha256_of(directory / name) != sha]
        if mismatched:
            raise SnapshotError(f"{directory}: files changed since export: {', '.join(sorted(mismatched))}")
    records = []
    with (directory / ITEMS_FILE).open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            records.append(
                TrainingRecord(
                    item_id=int(raw["item"]),
                    text=raw["text"],
                    image=raw["image"],
                    labels={slug: int(value) for slug, value in raw["labels"].items()},
                    provenance=raw["provenance"],
                    split=raw["split"],
                    weight=float(raw["weight"]),
                    author=str(raw.get("author") or ""),  # snapshots written before authors have none
                )
            )
    return Snapshot(directory=directory, manifest=manifest, records=records)
