"""CI's tiny run of bench/onnx_image_backbone.py: torch, ONNX float32 and int8 image backbones side by side."""

import re

import pytest

from tests.bench.tiny_corpus import load_bench

pytestmark = pytest.mark.timeout(900)


def test_it_prints_speed_and_quality_for_each_runtime(capsys):
    results = load_bench("onnx_image_backbone").main(["--tiny", "--threads", "1"])
    output = capsys.readouterr().out
    for name in ("torch fp32", "onnx fp32", "onnx int8"):
        assert re.search(rf"^speed {name}: [\d.]+ images per CPU-second .*; [\d.]+x torch$", output, re.M), output
        assert re.search(rf"^quality {name}: cosine to torch min [\d.]+ mean [\d.]+; Fashion-MNIST", output, re.M)
    # The float32 export is the same arithmetic as torch: it must agree with it.
    assert results["quality"]["onnx fp32"]["cosine_min"] > 0.9999
