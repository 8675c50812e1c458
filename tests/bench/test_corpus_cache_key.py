"""The benchmarks' embedding cache is named by the corpus reader's version, so a reader fix rebuilds it."""

import hashlib
import importlib.util
import sys
from pathlib import Path

from classifiers.corpora import spamassassin_files
from classifiers.inference import text as text_model
from tests.bench.conftest import TINY_CORPUS

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _text_quality():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("text_quality_for_key_test", BENCH / "text_quality.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_cache_key_changes_with_the_reader_version_and_version_1_keeps_the_old_name(monkeypatch):
    text_quality = _text_quality()
    files = spamassassin_files(TINY_CORPUS)
    assert files
    keys = {}
    for version in (1, 2, 3):
        monkeypatch.setattr(text_quality, "READER_VERSION", version)
        keys[version] = text_quality.corpus_key(TINY_CORPUS, files)
    assert len(set(keys.values())) == 3
    settings = f"{text_model.BACKBONE}|{text_model.MAX_CHARS}|{text_quality.MAX_BODY_CHARS}"
    old = hashlib.sha256(settings.encode())  # how the key was computed before the reader had a version
    for path in files:
        old.update(path.relative_to(TINY_CORPUS).as_posix().encode() + b"\0")
        old.update(hashlib.sha256(path.read_bytes()).digest())
    assert keys[1] == old.hexdigest()[:24]
