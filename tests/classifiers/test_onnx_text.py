"""The int8 ONNX encoder: the default, exported ahead of time (or on first use), close to torch, its own space."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifiers.heads import HeadConfig
from classifiers.inference import CategoryInfo
from classifiers.inference.text import (
    ENCODER_BACKBONES,
    TextFeatures,
    TextModel,
    embed_texts,
    text_head_proba,
    train_text_head,
)

ROOT = Path(__file__).resolve().parents[2]
# The first use exports and quantises the encoder: about half a minute on a quiet machine, far more on a busy one.
pytestmark = pytest.mark.timeout(1200)
TEXTS = ["Thanks, the meeting moved to 3pm.", "Click here for FREE cash, limited offer!!!", "short"]
SCRIPT = (
    "import json, sys; from classifiers.inference import text; "
    "print(json.dumps({'backbone': text.BACKBONE, 'vectors': text.embed_texts(json.loads(sys.argv[1])).tolist()}))"
)


def _run(tmp_path: Path | None, encoder: str | None, script: str = SCRIPT) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("TEXT_ENCODER", None)
    if encoder is not None:
        env["TEXT_ENCODER"] = encoder
    if tmp_path is not None:
        env["VAR_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-c", script, json.dumps(TEXTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_int8_encoder_names_its_own_space_and_stays_close_to_torch(tmp_path):
    done = _run(tmp_path, "onnx-int8")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backbone"] == "sentence:all-MiniLM-L6-v2@onnx-int8"
    cosine = (np.array(result["vectors"]) * embed_texts(TEXTS, backbone=ENCODER_BACKBONES["torch"])).sum(axis=1)
    assert cosine.min() > 0.97, cosine
    assert sorted(p.name.endswith(".int8.onnx") for p in (tmp_path / "cache" / "onnx").glob("*.onnx")) == [False, True]


def test_an_unknown_encoder_setting_is_refused_by_name(tmp_path):
    done = _run(tmp_path, "gpu-fp16")
    assert done.returncode != 0 and "TEXT_ENCODER='gpu-fp16'; use one of torch, onnx-int8" in done.stderr


def test_the_int8_encoder_is_the_default():
    # The repository's var/cache/onnx: `make test` exports it there before the suite runs.
    done = _run(None, None)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backbone"] == "sentence:all-MiniLM-L6-v2@onnx-int8"
    np.testing.assert_allclose(np.array(result["vectors"]), embed_texts(TEXTS), atol=1e-5)


FIND_EXPORT = (
    "import json, sys; from classifiers.inference import onnx_cache_dir, onnx_text; "
    "paths = onnx_text.model_files(onnx_cache_dir()); "
    "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, "
    "'exists': paths['int8'].exists()}))"
)


def test_finding_an_exported_encoder_imports_neither_torch_nor_transformers():
    embed_texts(["make sure the default export exists"])
    done = _run(None, None, FIND_EXPORT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"torch": False, "transformers": False, "exists": True}


SPAM = [
    "Click here to buy 10,000 followers now, limited offer, 80% off today only!",
    "Cheap designer watches and bags, free shipping, visit our store link below.",
    "Earn $500 a day working from home, no experience needed, sign up now.",
    "Best SEO backlinks package, rank first on Google, order today and save.",
    "Get rich fast with our trading signals, join the VIP group for only $49.",
    "Subscribe to my channel and win an iPhone, giveaway ends tonight, share this!",
]
HAM = [
    "Thanks for the tutorial, the colour grading section finally made sense to me.",
    "I tried the recipe yesterday and my kids loved it, will make it again.",
    "The referee made the right call, the replay was pretty clear.",
    "Our meetup moved to Thursday because the library is closed on Wednesday.",
    "I disagree with the review, the second half of the book is much stronger.",
    "Happy birthday! Hope you have a relaxing day with your family.",
]


def test_a_head_trained_on_the_torch_encoder_keeps_scoring_in_its_own_space():
    # A deployment that trained heads before the default changed: they keep their encoder, loaded for them.
    torch_space = ENCODER_BACKBONES["torch"]
    texts = SPAM + HAM
    labels = np.array([[1]] * len(SPAM) + [[0]] * len(HAM), dtype=np.int8)
    vectors = embed_texts(texts, backbone=torch_space)
    head = train_text_head(
        vectors,
        texts,
        labels,
        categories=["spam"],
        features=TextFeatures(backbone=torch_space),
        config=HeadConfig(epochs=50, calibration_folds=3),
    )
    assert head.features["backbone"] == torch_space
    model = TextModel(head=head, categories=[CategoryInfo(slug="spam", description="Unsolicited advertising")])

    assert model.backbone == torch_space
    mine = model.embed(texts)
    np.testing.assert_allclose(mine, vectors, atol=1e-5)
    assert np.abs(embed_texts(texts) - vectors).max() > 1e-3  # the default space is another one
    scores = model.predict(mine, texts)
    np.testing.assert_allclose([row["spam"].probability for row in scores], text_head_proba(head, vectors, texts)[:, 0])


def test_a_head_of_an_unknown_encoder_is_refused_by_name():
    with pytest.raises(ValueError, match="'sentence:e5-small'.*known encoder"):
        TextFeatures.from_spec({"kind": "text", "backbone": "sentence:e5-small"})


PEAK_MEMORY = (
    "import json; from pathlib import Path; from classifiers.inference import text; "
    "peak = lambda: int(next(l for l in Path('/proc/self/status').read_text().splitlines() "
    "if l.startswith('VmHWM')).split()[1]) // 1024; "
    "text.embed_texts(['warm up']); before = peak(); "
    "text.embed_texts([f'word{i} ' * 400 + 'end' for i in range(32)], batch_size=32); "
    "print(json.dumps({'before': before, 'after': peak()}))"
)


def test_embedding_a_batch_of_long_texts_stays_within_150_megabytes():
    # ONNX Runtime keeps an arena as large as its largest run: 32 texts of 256 word pieces at once took ~900 MB.
    done = _run(None, None, PEAK_MEMORY)
    assert done.returncode == 0, done.stderr[-2000:]
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    assert peaks["after"] - peaks["before"] < 150, peaks
