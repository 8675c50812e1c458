"""CI's tiny run of bench/onnx_encoder.py: the export, both ONNX encoders and torch on ten mails."""

from tests.bench.tiny_corpus import load_bench, write_tiny_corpus


def test_the_onnx_bench_prints_speed_agreement_and_head_quality(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    corpus = write_tiny_corpus(tmp_path / "corpus")
    load_bench("onnx_encoder").main(
        [str(corpus), "--limit", "10", "--threads", "1", "--speed-mails", "8", "--splits", "2"]
    )
    out = capsys.readouterr().out
    assert "onnx int8 / torch fp32, mails per CPU-second:" in out
    agreement = {
        line.split()[0] + " " + line.split()[1]: float(line.split()[3]) for line in out.splitlines() if " min " in line
    }
    assert agreement["onnx fp32"] > 0.9999  # the float32 export is the same network
    assert agreement["onnx int8"] > 0.97
    assert "torch head on int8" in out


def test_the_speed_only_run_reads_the_whole_corpus_and_stops_after_the_timings(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    corpus = write_tiny_corpus(tmp_path / "corpus")
    load_bench("onnx_encoder").main([str(corpus), "--speed-only", "--threads", "1", "--speed-mails", "8"])
    out = capsys.readouterr().out
    assert "onnx int8 / torch fp32, mails per CPU-second:" in out
    assert "Agreement" not in out
