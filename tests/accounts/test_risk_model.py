import math
import random

import pytest

from accounts.risk_model import FEATURES, Example, risk, train

FAILED = FEATURES.index("failed_logins_1h")


def example(account_id: int, *, failed: float, label: bool) -> Example:
    features = [math.nan] * len(FEATURES)
    features[FAILED] = failed
    return Example(account_id, features, label)


def test_a_model_learns_a_signal_that_separates_the_verdicts_and_ranks_held_out_accounts():
    rng = random.Random(3)
    examples = [example(n, failed=rng.uniform(20, 60), label=True) for n in range(60)]
    examples += [example(n, failed=rng.uniform(0, 3), label=False) for n in range(60, 300)]

    model = train("takeover", examples)

    assert model.held_out_average_precision is not None and model.held_out_average_precision > 0.9
    high, low = risk(model, [example(0, failed=45, label=True).features, example(0, failed=1, label=False).features])
    assert high > 0.5 > low


def test_too_few_decisions_of_one_verdict_are_refused():
    examples = [example(n, failed=1, label=False) for n in range(50)] + [example(99, failed=50, label=True)]

    with pytest.raises(ValueError, match="at least 3 decisions of each verdict"):
        train("takeover", examples)
