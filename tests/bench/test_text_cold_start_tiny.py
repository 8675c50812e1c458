"""CI's tiny run of bench/text_cold_start.py: ten hand-written mails, embedded on the spot."""

from tests.bench.tiny_corpus import load_bench, write_tiny_corpus


def test_the_cold_start_bench_prints_ham_shares_and_spam_ranking(tmp_path, capsys):
    corpus = write_tiny_corpus(tmp_path / "corpus")
    load_bench("text_cold_start").main([str(corpus), "--limit", "10"])
    out = capsys.readouterr().out
    assert "mails: 10 (5 spam, 5 ham)" in out
    assert "worst category, new prior:" in out
    assert "new spam prior         PR-AUC" in out
    assert "spam: {" in out


def test_the_cold_start_bench_measures_the_prior_in_a_tuned_space(tmp_path, capsys):
    corpus = write_tiny_corpus(tmp_path / "corpus")
    load_bench("text_cold_start").main([str(corpus), "--limit", "10", "--tuned-labels", "6"])
    out = capsys.readouterr().out
    assert "== In a tuned space: the last layer tuned on 6 spam/ham labels (2 epochs" in out
    assert "worst category without a head (all but spam), tuned space:" in out
