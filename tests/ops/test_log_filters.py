"""The console handler's filters: library chatter through the root logger is dropped, nothing else."""

import logging

from django.conf import settings

from ops.json_logs import LibraryChatterFilter


def record(name: str, level: int, pathname: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, pathname, 1, "Quantization parameters for tensor %s", ("x",), None)


def test_onnxruntimes_info_lines_through_the_root_logger_are_dropped_and_its_warnings_and_ours_pass():
    quantiser = "/app/.venv/lib/python3.11/site-packages/onnxruntime/quantization/onnx_quantizer.py"
    keep = LibraryChatterFilter().filter
    assert not keep(record("root", logging.INFO, quantiser))
    assert not keep(record("root", logging.DEBUG, quantiser.replace("/", "\\")))  # a Windows path too
    assert keep(record("root", logging.WARNING, quantiser))  # what it warns about still shows
    assert keep(record("classifiers.text_tuning", logging.INFO, "/app/classifiers/text_tuning.py"))
    assert keep(record("root", logging.INFO, "/app/classifiers/training.py"))  # our own root lines too
    assert "library_chatter" in settings.LOGGING["handlers"]["console"]["filters"]
