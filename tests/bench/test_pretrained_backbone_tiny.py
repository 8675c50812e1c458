"""CI's tiny run of bench/pretrained_backbone.py: four photos, one timed batch per network."""

from tests.bench.tiny_corpus import load_bench


def test_the_pretrained_backbone_bench_prints_top5_and_speed(capsys):
    load_bench("pretrained_backbone").main(["--limit", "4", "--threads", "1", "--batches", "1"])
    out = capsys.readouterr().out
    assert "tf_efficientnet_lite0 / tf[-1,1] / squash" in out
    assert "chelsea.jpg" in out and "mean true-class probability" in out
    assert "pretrained / old default speed ratio:" in out
