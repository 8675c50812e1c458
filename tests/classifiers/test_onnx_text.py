"""The int8 ONNX encoder: exported from the packaged MiniLM on first use, close to torch, its own embedding space."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifiers.inference.text import embed_texts

ROOT = Path(__file__).resolve().parents[2]
# The first use exports and quantises the encoder: about half a minute on a quiet machine, far more on a busy one.
pytestmark = pytest.mark.timeout(1200)
TEXTS = ["Thanks, the meeting moved to 3pm.", "Click here for FREE cash, limited offer!!!", "short"]
SCRIPT = (
    "import json, sys; from classifiers.inference import text; "
    "print(json.dumps({'backbone': text.BACKBONE, 'vectors': text.embed_texts(json.loads(sys.argv[1])).tolist()}))"
)


def _run(tmp_path: Path, encoder: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TEXT_ENCODER": encoder, "VAR_DIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(TEXTS)],
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
    cosine = (np.array(result["vectors"]) * embed_texts(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.97, cosine
    assert sorted(p.name.endswith(".int8.onnx") for p in (tmp_path / "cache" / "onnx").glob("*.onnx")) == [False, True]


def test_an_unknown_encoder_setting_is_refused_by_name(tmp_path):
    done = _run(tmp_path, "gpu-fp16")
    assert done.returncode != 0 and "TEXT_ENCODER='gpu-fp16'; use one of torch, onnx-int8" in done.stderr
