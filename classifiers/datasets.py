"""Labelled datasets for training: JSONL files, one example per line.

    {"text": "Win a free phone...", "labels": {"spam": 1, "harassment": 0}}
    {"text": "Still on for Friday?", "author": "creatorhub:u-88", "labels": {"spam": 0}}
    {"image": "images/0001.png", "labels": {"sexual": 0}}

Image paths are relative to the dataset file. ``author`` (optional) is the key of the account that posted the
text, as the platform's items carry it (``source:external_id``): the text heads read it
(``classifiers.inference.text.with_author``). A category missing from ``labels`` is unknown for
that example (it neither helps nor hurts training), which is how partially labelled data is kept.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNKNOWN = -1


class DatasetError(ValueError):
    """The dataset file is malformed; the message names the line and the problem."""


@dataclass(frozen=True)
class Example:
    text: str
    image_path: Path | None
    labels: dict[str, int]
    author: str = ""


def read_dataset(path: Path, *, kind: str, categories: set[str]) -> list[Example]:
    """Read and validate every line; refuse the whole file on the first bad line."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    examples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            examples.append(_example(record, path=path, number=number, kind=kind, categories=categories))
    if not examples:
        raise DatasetError(f"{path}: no examples")
    return examples


def _example(record: object, *, path: Path, number: int, kind: str, categories: set[str]) -> Example:
    where = f"{path}:{number}"
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: each line must be a JSON object")
    unknown_fields = set(record) - {"text", "image", "labels", "id", "author"}
    if unknown_fields:
        raise DatasetError(f"{where}: unknown fields {sorted(unknown_fields)}")
    labels = record.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise DatasetError(f"{where}: 'labels' must be a non-empty object of category -> 0 or 1")
    for slug, value in labels.items():
        if slug not in categories:
            raise DatasetError(f"{where}: unknown category {slug!r}; known: {', '.join(sorted(categories))}")
        if value not in (0, 1) or isinstance(value, bool):
            raise DatasetError(f"{where}: label of {slug!r} must be 0 or 1, not {value!r}")
    text = record.get("text", "")
    if not isinstance(text, str):
        raise DatasetError(f"{where}: 'text' must be a string")
    author = record.get("author", "")
    if not isinstance(author, str) or len(author) > 600:
        raise DatasetError(f"{where}: 'author' must be a string of at most 600 characters")
    image = record.get("image")
    if kind == "text" and not text.strip():
        raise DatasetError(f"{where}: a text dataset needs non-empty 'text'")
    if kind == "image":
        if not isinstance(image, str) or not image:
            raise DatasetError(f"{where}: an image dataset needs 'image', a path relative to the file")
        image_path = (path.parent / image).resolve()
        if not image_path.is_file():
            raise DatasetError(f"{where}: image file {image_path} not found")
        return Example(text=text, image_path=image_path, labels=dict(labels))
    return Example(text=text, image_path=None, labels=dict(labels), author=author)


def label_matrix(examples: list[Example], categories: list[str]) -> np.ndarray:
    """Labels as an (n, C) array of 1, 0 and UNKNOWN, columns in ``categories`` order."""
    matrix = np.full((len(examples), len(categories)), UNKNOWN, dtype=np.int8)
    column = {slug: index for index, slug in enumerate(categories)}
    for row, example in enumerate(examples):
        for slug, value in example.labels.items():
            matrix[row, column[slug]] = value
    return matrix


def stratified_split(labels: np.ndarray, *, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train and a held-out split, stratified on the pattern of known positive labels."""
    rng = np.random.default_rng(seed)
    strata: dict[bytes, list[int]] = {}
    for index, row in enumerate(labels):
        strata.setdefault((row == 1).tobytes(), []).append(index)
    train, test = [], []
    for members in strata.values():
        members = np.array(members)
        rng.shuffle(members)
        cut = int(round(len(members) * held_out))
        test.extend(members[:cut])
        train.extend(members[cut:])
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(test), dtype=np.int64)
