"""CI's tiny run of bench/image_decoding.py: two photos enlarged just enough to be reduced, one round."""

from tests.bench.tiny_corpus import load_bench


def test_the_image_decoding_bench_prints_cpu_per_image_full_and_reduced_and_their_agreement(capsys):
    load_bench("image_decoding").main(["--side", "1400", "--photos", "2", "--rounds", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert "3 uploads (2 JPEG + 1 PNG)" in out
    assert "full (first image 1400x1050)" in out and "reduced (first image 700x525)" in out
    assert "reduced / full CPU per image" in out and "embedding cosine min" in out
