import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import dawid_skene as bench  # noqa: E402


def test_the_tiny_dawid_skene_benchmark_prints_its_figures(capsys):
    mean = bench.main(["--items", "200", "--labelers", "15", "--seeds", "2"])
    out = capsys.readouterr().out
    assert "aggregated accuracy: Dawid-Skene" in out
    assert "per-labeler accuracy recovered within" in out
    assert 0 <= mean["vote"] <= 100 and 0 <= mean["ds"] <= 100
