import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import llm_labeler as bench  # noqa: E402


@pytest.mark.django_db
def test_the_tiny_llm_labeler_benchmark_prints_its_figures(capsys):
    # The model-speed part starts the SmolLM2 server (half a minute of loading); tests/labeling/test_llm_server.py
    # covers that server, so the tiny run measures the labeler's overhead only.
    figures = bench.main(["--items", "20", "--delay", "0.02", "--concurrency", "4", "--model-requests", "0"])
    out = capsys.readouterr().out
    assert "% of the limit" in out
    assert "baseline: a bare httpx client" in out
    assert figures["overhead"]["done"] == 20
    assert 0 < figures["overhead"]["share"] <= 1.05
