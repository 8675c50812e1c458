import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import labeler_table as bench  # noqa: E402


@pytest.mark.django_db
def test_the_tiny_labeler_table_benchmark_prints_its_figures(capsys):
    figures = bench.main(["--items", "200", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "computed per request" in out and "page from the cache" in out
    assert figures["counts"]["items"] == 200 and figures["counts"]["llm_results"] == 400
    assert figures["rows"] >= 20 + 2 + 10 + 1  # moderators, two prompt versions, crowd workers, the model
    assert figures["page_cached"] > 0 and figures["direct"] > 0
