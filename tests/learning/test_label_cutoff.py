"""A retraining run takes labels up to its own start, waiting out the undo window instead of dropping them."""

import time
from datetime import timedelta

from django.utils import timezone

from learning.retraining import wait_until_final


def test_it_waits_until_labels_at_the_cutoff_can_no_longer_be_undone(settings):
    settings.REVIEW_UNDO_SECONDS = 1
    cutoff = timezone.now()
    wait_until_final(cutoff)
    assert timezone.now() >= cutoff + timedelta(seconds=1)


def test_it_does_not_wait_once_the_window_has_passed(settings):
    settings.REVIEW_UNDO_SECONDS = 10
    started = time.monotonic()
    wait_until_final(timezone.now() - timedelta(seconds=11))
    assert time.monotonic() - started < 0.5
