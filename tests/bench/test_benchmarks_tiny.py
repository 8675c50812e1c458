"""Every benchmark in bench/ runs in a tiny configuration and prints its figures (see conftest.py for why and how).

Each test checks the exit status and at least one figure line of the script's own report, so a benchmark that
starts but no longer measures anything fails too. bench_postgres.py and bench_embedded.py are the helpers the
others set up through; they run inside every test here.
"""

from pathlib import Path

from tests.bench.conftest import TINY_CORPUS, database_url, figure, run_bench

NUMBER = r"\d[\d,]*(?:\.\d+)?"


# --------------------------------------------------------------------------------------------
# PostgreSQL and Redis


def test_claims_generates_its_database_and_claims(claims_run):
    _, output = claims_run
    figure(r"^generated in .*insert \d+ s", output)
    figure(r"^data: items 800, pending entries 400, closed entries 400, decisions 400, .* bench reviewers 4,", output)
    figure(rf"^  claims per second: {NUMBER}", output)
    figure(rf"^  claim \(claim_next_item\)\s+p50\s+{NUMBER} ms", output)
    figure(r"^  claimed 40, decided 40 ", output)
    figure(r"^double claims: 0$", output)
    figure(r"^uses entry_pending_order: True; Sort node: False", output)


def test_work_view_on_the_claims_database(claims_run, postgres_url):
    name, _ = claims_run
    output = run_bench("work_view.py", "--database", name, "--requests", "5", env={"DATABASE_URL": postgres_url})
    figure(rf"^work view \(claim \+ render\), 5 requests: p50 {NUMBER} ms", output)


def test_api_lists(api_lists_run):
    _, output = api_lists_run
    figure(r"^  items\s+2,000$", output)
    figure(rf"^items: first page\s+{NUMBER}\s+{NUMBER}", output)
    figure(rf"^labels: category=spam value=true\s+{NUMBER}", output)


def test_monitor_refresh_on_the_api_lists_database(api_lists_run, postgres_url):
    name, _ = api_lists_run
    output = run_bench("monitor_refresh.py", env={"DATABASE_URL": database_url(postgres_url, name)})
    figure(r"^\d+ labels, \d+ decisions", output)
    figure(rf"^\| text-prior \| active \| \w+ \| {NUMBER} \| {NUMBER} \|$", output)


def test_ingest(empty_database):
    url = empty_database("ingest")
    output = run_bench(
        "ingest.py", "--workers", "1", "--seconds", "1", "--warmup", "0.2", "--batch-size", "20",
        "--max-requests", "20", env={"DATABASE_URL": url},
    )  # fmt: skip
    figure(rf"^items in the database after: {NUMBER} \(\+[1-9]", output)
    figure(r"^summary ", output)
    figure(rf"batch.*{NUMBER} items/s", output)
    figure(rf"single.*{NUMBER} items/s", output)


def test_scoring(bench_database, redis_url, bench_var):
    output = run_bench(
        "scoring.py", "--database", bench_database("scoring"), "--broker", redis_url,
        "--sizes", "8x4", "12x6", "--rounds", "2", "--latency-seconds", "1",
        env={"SCORING_FILL_WAIT_MS": "0"},
    )  # fmt: skip
    assert "size 8 texts, 4 images, round 2 of 2" in output and "size 12 texts, 6 images, round 2 of 2" in output
    figure(rf"^bare model: text {NUMBER} items/s, image {NUMBER} items/s", output)
    figure(rf"^end to end: text {NUMBER} items/s", output)
    figure(rf"worker CPU per item: text {NUMBER} ms \(bare/worker {NUMBER}%; main process {NUMBER} ms\), image", output)
    for size in ("8x4", "12x6"):
        for kind in ("text", "image"):
            figure(
                rf"^  size {size}, {kind}: items/s {NUMBER}% of bare \(rounds {NUMBER}%-{NUMBER}%\), CPU {NUMBER}% "
                rf"\(rounds {NUMBER}%-{NUMBER}%\); goal >= 90%: by items/s (NOT )?MET, by CPU (NOT )?MET$",
                output,
            )
    figure(rf"^latency at {NUMBER} text items/s", output)


def test_scoring_one_kind(bench_database, redis_url, bench_var):
    output = run_bench(
        "scoring.py", "--database", bench_database("scoring_text"), "--broker", redis_url,
        "--kinds", "text", "--sizes", "8x4", "--rounds", "1", "--latency-seconds", "1",
        env={"SCORING_FILL_WAIT_MS": "0"},
    )  # fmt: skip
    figure(rf"^bare model: text {NUMBER} items/s \(batches of 32\)", output)
    figure(rf"^  size 8x4, text: items/s {NUMBER}% of bare", output)
    assert "size 8x4, image" not in output and " image " not in output.split("bare model:", 1)[1].split("\n")[0]


def test_scoring_with_tuned_text_versions(bench_database, redis_url, bench_var):
    output = run_bench(
        "scoring.py", "--database", bench_database("scoring_tuned"), "--broker", redis_url,
        "--kinds", "text", "--sizes", "8x4", "--rounds", "1", "--latency-seconds", "1", "--tuned-text", "active+shadow",
        env={"SCORING_FILL_WAIT_MS": "0"}, timeout=600,
    )  # fmt: skip
    figure(r"^text version bench-tuned-0 \(active\): encoder tuned on 8 texts", output)
    figure(r"^text version bench-tuned-1 \(shadow\): encoder tuned on 8 texts", output)
    figure(rf"^  size 8x4, text: items/s {NUMBER}% of bare", output)
    figure(rf"^worker pool process peak RSS with text and image models loaded: {NUMBER} MB", output)


def test_webhooks(bench_database, redis_url):
    output = run_bench(
        "webhooks.py", "--database", bench_database("webhooks"), "--broker", redis_url,
        "--events", "20", "--concurrency", "1", "--lag-seconds", "1",
    )  # fmt: skip
    figure(r"^PostgreSQL, Redis, 1 worker processes", output)
    figure(rf"^throughput: 20 events in {NUMBER} s = {NUMBER} events/s", output)
    figure(r"^attempts: \d+ for \d+ deliveries", output)


# --------------------------------------------------------------------------------------------
# Text models on the tiny SpamAssassin corpus (embedded SQLite where they use Django)


def test_text_quality(text_quality_output):
    output = text_quality_output
    figure(r"^corpus: 78 distinct messages, 39 spam .* 1 exact duplicates dropped", output)  # 79 files read
    figure(rf"^spam, held out: F1 {NUMBER}\s+precision {NUMBER}", output)
    figure(rf"^\s+20 labels \(2 draws\): F1 {NUMBER}", output)
    figure(rf"^spam prior:\s+ROC-AUC {NUMBER}", output)
    figure(rf"^encoder, short comments \(16 of ~15 words\): {NUMBER} texts/s", output)


def test_active_learning(text_quality_output, bench_var):
    output = run_bench(
        "active_learning.py", str(TINY_CORPUS), "--seeds", "1", "--seed-labels", "10", "--batch", "10",
        "--rounds", "2", env={"VAR_DIR": str(bench_var)},
    )  # fmt: skip
    figure(r"embeddings from cache", output)
    figure(rf"^uncert\+diversity\s+{NUMBER}$", output)


def test_learning_loop_replay(text_quality_output, bench_var):
    output = run_bench(
        "learning_loop_replay.py", "--corpus", str(TINY_CORPUS), "--splits", "0", "--draws", "1",
        "--per-round", "10", "--decisions", "30", env={"VAR_DIR": str(bench_var)},
    )  # fmt: skip
    figure(rf"^\| 0 \| {NUMBER} / {NUMBER} / {NUMBER} \|", output)
    figure(r"^explore_rate 0.25, split 0: met in [01] of 1 draws", output)


def test_learning_loop(text_quality_output, bench_var):
    output = run_bench(
        "learning_loop.py", "--corpus", str(TINY_CORPUS), "--per-round", "10", "--decisions", "20",
        env={"VAR_DIR": str(bench_var)},
    )  # fmt: skip
    figure(rf"^reference, all \d+ training labels: F1 {NUMBER}", output)
    # A round whose retraining failed prints its error instead of F1 and ROC-AUC (at 10 decisions the hash may hold
    # none out, and the run says so); the round at 20 must have its figures.
    figure(rf"^\| 20 \| \d+ \| \d+ \| {NUMBER} \| {NUMBER} \|", output)
    figure(rf"^at 20 decisions: F1 {NUMBER}", output)


def test_retrain_heads(text_quality_output, bench_var):
    output = run_bench(
        "retrain_heads.py", "--corpus", str(TINY_CORPUS), "--items", "100", env={"VAR_DIR": str(bench_var)}
    )
    figure(rf"^\| run 1: whole retraining run.* \| {NUMBER} \| {NUMBER} \|$", output)
    figure(rf"^\| breakdown: features \+ train \+ calibrate.* \| {NUMBER} \| {NUMBER} \|$", output)
    figure(rf"^run \d+: \d+ training items, \d+ held out .* held-out spam F1 {NUMBER}", output)


# --------------------------------------------------------------------------------------------
# Images (random-init backbones, nothing downloaded; Fashion-MNIST replaced by a synthetic set)


def test_image_backbones():
    output = run_bench(
        "image_backbones.py", "--models", "mobilenetv3_small_100", "--sizes", "64", "--batch", "2",
        "--threads", "1", "--train-size", "32", "--seconds", "0.2", "--rounds", "1",
    )  # fmt: skip
    figure(rf"^\| mobilenetv3_small_100 \| {NUMBER} \| \d+ \| {NUMBER} \({NUMBER}\) \|", output)


def test_image_backbones_pipeline():
    output = run_bench(
        "image_backbones.py", "--pipeline", "mobilenetv3_small_100", "64", "--threads", "1", "--pipeline-images", "8"
    )
    figure(rf"^  decode: {NUMBER} img/s", output)
    figure(rf"^  embed \(incl. preprocess\): {NUMBER} img/s", output)
    figure(rf"^  end to end: {NUMBER} img/s", output)


def test_image_training(fashion_dir: Path, tmp_path: Path):
    output = run_bench(
        "image_training.py", "--data-dir", str(fashion_dir), "--sizes", "200", "--epochs", "1",
        "--batch-size", "50", "--input-size", "32", "--out", str(tmp_path / "backbone.pt"),
    )  # fmt: skip
    figure(rf"^  N=200: test accuracy {NUMBER} on 100 images", output)
    figure(rf"^nearest-centroid accuracy of reloaded embeddings: trained {NUMBER}, init {NUMBER}", output)
    assert (tmp_path / "backbone.pt").exists()


def test_image_retraining(fashion_dir: Path):
    output = run_bench(
        "image_retraining.py", "--data-dir", str(fashion_dir), "--labels", "40", "--backbone", "init",
        "--fine-tune", "0",
    )  # fmt: skip
    figure(rf"^\| 40 \| init \| 0 \| \d+/\d+ \| {NUMBER} / {NUMBER} \|", output)
