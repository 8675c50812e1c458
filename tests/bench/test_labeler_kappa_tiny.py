import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import labeler_kappa as bench  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "spam-assassin"


@pytest.mark.django_db
def test_the_tiny_labeler_kappa_benchmark_reads_the_model_from_the_labeler_table(capsys):
    # The LLM part starts the SmolLM2 server (half a minute of loading, ~15 s a message); tests/labeling covers
    # that path, so the tiny run trains and scores the text model and reads its row from the labeler table.
    figures = bench.main(["--spamassassin", str(CORPUS), "--sample", "6", "--train", "40"])
    out = capsys.readouterr().out
    assert "text model: trained on 40 messages" in out
    assert "labeler table, spam, against 6 gold items (3 spam)" in out
    model = figures["model"]
    assert model["compared"] == 6
    assert model["kappa"] == pytest.approx(model["direct"])  # the table says what the verdicts say
