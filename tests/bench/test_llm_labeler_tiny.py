import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import llm_labeler as bench  # noqa: E402


@pytest.mark.slow
def test_the_tiny_llm_labeler_benchmark_prints_its_figures(capsys):
    figures = bench.main(["--items", "20", "--delay", "0.02", "--concurrency", "4", "--model-requests", "1"])
    out = capsys.readouterr().out
    assert "% of the limit" in out
    assert "completion tokens/s" in out
    assert figures["overhead"]["done"] == 20
    assert figures["model"]["tokens_per_second"] > 0
