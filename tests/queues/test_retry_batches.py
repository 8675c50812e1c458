import pytest

from queues.retry_batches import retry_batch_size


@pytest.mark.parametrize(
    ("prior", "size"),
    [(0, 32), (1, 8), (2, 1), (5, 1)],
)
def test_a_lost_batch_is_retried_in_smaller_batches_down_to_one_for_the_last_attempt(prior, size):
    assert retry_batch_size(prior_attempts=prior, batch_size=32, max_attempts=3) == size


def test_with_more_attempts_the_batches_shrink_by_four_each_time_and_the_last_is_alone():
    sizes = [retry_batch_size(prior_attempts=p, batch_size=32, max_attempts=5) for p in range(5)]
    assert sizes == [32, 8, 2, 1, 1]


def test_a_batch_of_one_stays_one():
    assert retry_batch_size(prior_attempts=1, batch_size=1, max_attempts=3) == 1
