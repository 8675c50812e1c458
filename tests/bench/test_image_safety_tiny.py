"""CI's tiny run of bench/image_safety.py: the verified packaged model on the benign photos."""

from tests.bench.tiny_corpus import load_bench


def test_the_image_safety_bench_prints_false_positive_rates_and_cost(capsys):
    load_bench("image_safety").main([])
    out = capsys.readouterr().out
    assert "sha256 verified" in out
    assert "sexual prior > 0.5:   safety model 0.0% (0)" in out  # none of the seven benign photos is flagged
    assert "ms CPU per image" in out and "peak RSS" in out
