"""CI's tiny run of bench/ranking_baseline.py: ten hand-written mails, two splits, two training sizes.

In a process of its own, as the bench is run (with OMP_NUM_THREADS=1): its cells run in forked processes, and a
fork from the test process, whose OpenMP pools earlier tests may have started, can hang in the child.
"""

from tests.bench.conftest import run_bench
from tests.bench.tiny_corpus import write_tiny_corpus


def test_the_ranking_bench_prints_head_and_baseline_side_by_side(tmp_path):
    corpus = write_tiny_corpus(tmp_path / "corpus")
    out = run_bench(
        "ranking_baseline.py", str(corpus), "--limit", "10", "--splits", "2", "--sizes", "6,0", "--processes", "2"
    )
    for label in ("6 ", "all"):
        assert any(line.startswith(label) and " head " in line for line in out.splitlines()), out
        # blend-raw: the blend before its calibration; text-only: the head without the senders, the baseline with them
        for model in ("tfidf+lr", "head-only", "blend-raw", "text-only", "tfidf+lr+author"):
            assert any(line.startswith(label) and f" {model} " in line for line in out.splitlines()), out
    assert "CPU seconds" in out and "authors: " in out and " distinct senders" in out
    assert "  split 1, all labels: head PR-AUC " in out and "; tfidf+lr PR-AUC " in out  # each cell as it finishes
    side = out.split("side by side", 1)[1].splitlines()
    assert any(line.startswith("all ") and line.count("±") == 4 for line in side), out  # model and baseline, mean ± sd
    assert "goal: head PR-AUC >= tfidf+lr on the mean over splits: 6 " in out
    assert "goal: head F1@0.5 with all labels >= 0.985: " in out


def test_with_tuning_the_head_row_is_the_tuned_path_and_the_frozen_encoder_is_shown_beside_it(tmp_path):
    corpus = write_tiny_corpus(tmp_path / "corpus")
    out = run_bench("ranking_baseline.py", str(corpus), "--limit", "10", "--splits", "2", "--sizes", "6,0",
                    "--tune-min-labels", "8")  # fmt: skip
    assert "tuning the last 1 layer(s) from 8 labels; the other layers' output for every mail: " in out
    # Only the all-labels cells (8 training mails) tune; the 6-label ones keep the packaged encoder.
    tuned = [line for line in out.splitlines() if line.startswith("  tuned on ")]
    assert len(tuned) == 2 and all(line.startswith("  tuned on 8 labels: 2 epochs, losses ") for line in tuned), out
    assert all("median cosine" in line for line in tuned)
    for label in ("6 ", "all"):
        assert any(line.startswith(label) and " frozen-enc " in line for line in out.splitlines()), out
