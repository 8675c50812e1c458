"""CI's tiny run of bench/fashion_mnist.py: 200 synthetic IDX images, 32 px, a few CPU seconds per schedule."""

from pathlib import Path

import pytest

from tests.bench.conftest import figure, run_bench

# Run alone, the session's migrated template (behind fashion_dir) is set up inside this test's time.
pytestmark = pytest.mark.timeout(600)
NUMBER = r"\d[\d,]*(?:\.\d+)?"


def test_the_fashion_mnist_bench_prints_every_row(fashion_dir: Path):
    output = run_bench(
        "fashion_mnist.py", "--data-dir", str(fashion_dir), "--sizes", "200", "--budgets", "6", "--epochs", "1",
        "--input-size", "32", "--batch-size", "32", "--threads", "1", "--val-fraction", "0.2",
        "--mixup", "0.2", "--erase", "0.25", "--refit-on-all",
    )  # fmt: skip
    assert "erase 0.25, mixup 0.2," in output and "refit on all N True" in output
    pretrained, _, random_init = output.partition("N=200 random")
    for section, stages in ((pretrained, ("frozen", "last_blocks", "all")), (random_init, ("frozen", "all"))):
        for stage in stages:
            figure(rf"^  {stage}: validation accuracy {NUMBER} \(40 images\), {NUMBER} epochs, {NUMBER} CPU s", section)
        figure(r"^  chosen on the validation split: (frozen|last_blocks|all)$", section)
        figure(rf"^  test accuracy \w+ frozen head[^:]*: {NUMBER} on 100 images", section)
        # The chosen model and its refit on all 200 labels are both scored.
        figure(rf"^  test accuracy \w+ [^:]*, chosen: {NUMBER} on 100 images", section)
        figure(rf"^  test accuracy \w+ [^:]*, chosen, refit on all N: {NUMBER} on 100 images", section)
    for backbone in ("pretrained", "random"):
        figure(rf"^\| 200 \| {backbone} \| frozen head[^|]* \| {NUMBER} \| \d+ \| \d+ \|$", output)


def test_the_fashion_mnist_bench_self_trains_on_an_unlabelled_pool_and_scores_teacher_and_student(fashion_dir: Path):
    output = run_bench(
        "fashion_mnist.py", "--data-dir", str(fashion_dir), "--sizes", "200", "--budgets", "8", "--epochs", "1",
        "--input-size", "32", "--batch-size", "32", "--threads", "1", "--val-fraction", "0.2", "--rows", "pretrained",
        "--stages", "all", "--unlabelled", "60", "--self-train-share", "0.5", "--confidence", "0.3",
    )  # fmt: skip
    assert "unlabelled pool 60 (self-training share 0.5, confidence 0.3)" in output
    assert "N=200 pretrained: 200 labels + 60 unlabelled images; stages frozen, all, self-training" in output
    for stage in ("frozen", "all", "self_trained"):
        figure(rf"^  {stage}: validation accuracy {NUMBER} \(40 images\), {NUMBER} epochs, {NUMBER} CPU s", output)
    figure(
        rf"^  self-training: teacher (frozen|all), pseudo-labelled 60 of 60 unlabelled images in {NUMBER} CPU s, "
        rf"kept {NUMBER} \(confidence >= 0.3; per class \[[\d, ]+\]\), pseudo-labels right \(bench-only check\) "
        rf"{NUMBER}; validation images only one got right: teacher {NUMBER}, student {NUMBER}$",
        output,
    )
    figure(r"^  chosen on the validation split: (frozen|all|self_trained)$", output)
    figure(rf"^  test accuracy pretrained self-trained \(200 labels \+ 60 unlabelled\)[^:]*: {NUMBER} on 100", output)
    figure(rf"^  test accuracy pretrained frozen head[^:]*: {NUMBER} on 100 images", output)
    # Exactly one scored model is the chosen one.
    assert len([line for line in output.splitlines() if line.startswith("|") and ", chosen |" in line]) == 1
