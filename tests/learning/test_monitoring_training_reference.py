"""A retrained candidate carries its held-out score histograms, and monitoring measures drift against them."""

import pytest

from classifiers.models import RetrainingRun
from learning import monitoring, retraining
from tests.factories import make_queue, make_user
from tests.learning.test_retraining import label_items, new_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.REVIEW_UNDO_SECONDS = 0  # labels count for training at once
    settings.INFERENCE_THREADS = 1


def test_a_candidate_is_monitored_against_the_score_distribution_of_its_training_snapshot():
    mira = make_user(username="mira")
    label_items(make_queue(members=[mira]), mira)
    run = new_run()
    state = retraining.run_retraining(run_id=run.pk)
    run.refresh_from_db()
    assert state == RetrainingRun.State.SUCCEEDED, run.error
    candidate = run.candidate
    histogram = candidate.metrics["score_histograms"]["spam"]
    held_out = run.metrics["held_out_rows"]
    assert len(histogram) == 10 and sum(histogram) == held_out > 0

    label, reference, baseline_end = monitoring.drift_reference(candidate, now=candidate.created_at)
    assert label == f"training snapshot {candidate.training_snapshot}" and baseline_end is None
    assert reference["spam"] == histogram
