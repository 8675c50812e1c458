"""CI's tiny run of bench/worker_memory.py: both models, a few texts and images, a small GIF and JPEG."""

from tests.bench.tiny_corpus import load_bench


def test_the_worker_memory_bench_prints_rss_per_step_and_the_peak(capsys):
    load_bench("worker_memory").main(["--texts", "4", "--images", "4", "--big-side", "800", "--gif-frames", "5"])
    out = capsys.readouterr().out
    assert "image model loaded (onnx)" in out and "4 images embedded" in out and "4 images scored" in out
    assert "peak RSS" in out
