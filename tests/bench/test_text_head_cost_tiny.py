"""CI's tiny run of bench/text_head_cost.py: the tiny corpus, a head on most of it, the rest scored."""

import re

from tests.bench.tiny_corpus import load_bench, write_tiny_corpus


def test_the_head_cost_bench_times_predict_beside_the_encoder_and_every_author_gets_a_shift(tmp_path, capsys):
    corpus = write_tiny_corpus(tmp_path / "corpus")
    load_bench("text_head_cost").main([str(corpus), "--train", "6", "--batch", "4", "--rounds", "2"])
    out = capsys.readouterr().out
    assert "reads authors: True; scoring 4 mails, 4 with an author" in out
    assert re.search(r"predict, with authors \(and the shift\) +\d+\.\d{3} s .*of the encoder's CPU", out)
    assert "mails with an author and no score without it: 0" in out
    assert "author shift:" in out
