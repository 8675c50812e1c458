"""Risk and aging arithmetic, without a database."""

from datetime import UTC, datetime, timedelta

from queues.priority import (
    effective_priority,
    is_past_deadline,
    risk_of,
    risk_sort_key,
    uncertainty_sort_key,
)

SEVERITIES = {"spam": 2, "scam_fraud": 4, "self_harm": 5}
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_risk_is_the_highest_probability_times_severity_and_names_its_category():
    risk = risk_of({"spam": 0.95, "scam_fraud": 0.6, "self_harm": 0.1}, SEVERITIES)
    # spam 0.95*2/5 = 0.38, scam 0.6*4/5 = 0.48, self_harm 0.1
    assert risk.category == "scam_fraud"
    assert risk.value == 0.48
    assert risk_of({}, SEVERITIES).category is None


def test_the_fixed_key_orders_exactly_as_the_aged_priority_at_any_moment():
    deadline = timedelta(hours=4)
    items = [(r, T0 + timedelta(minutes=m)) for r, m in [(0.9, 0), (0.1, -200), (0.5, 30), (0.0, -239), (0.3, 10)]]
    by_key = sorted(items, key=lambda i: risk_sort_key(risk=i[0], enqueued_at=i[1], deadline=deadline))
    for now in (T0 + timedelta(minutes=45), T0 + timedelta(hours=3)):
        by_priority = sorted(
            items, key=lambda i: -effective_priority(risk=i[0], enqueued_at=i[1], deadline=deadline, now=now)
        )
        assert by_key == by_priority


def test_an_old_low_risk_item_overtakes_new_work_before_its_deadline():
    deadline = timedelta(hours=1)
    old = risk_sort_key(risk=0.0, enqueued_at=T0, deadline=deadline)
    # Anything of risk up to 0.5 arriving half way to the old item's deadline waits behind it.
    newer = risk_sort_key(risk=0.49, enqueued_at=T0 + timedelta(minutes=30), deadline=deadline)
    assert old < newer
    # A new item of top risk still goes first: risk beats age until the deadline has fully passed.
    urgent = risk_sort_key(risk=1.0, enqueued_at=T0 + timedelta(minutes=30), deadline=deadline)
    assert urgent < old


def test_past_deadline_flag():
    assert not is_past_deadline(enqueued_at=T0, deadline=timedelta(hours=4), now=T0 + timedelta(hours=4))
    assert is_past_deadline(enqueued_at=T0, deadline=timedelta(hours=4), now=T0 + timedelta(hours=4, seconds=1))


def test_uncertainty_puts_scores_near_one_half_first():
    assert uncertainty_sort_key({"spam": 0.52, "hate": 0.01}) < uncertainty_sort_key({"spam": 0.9, "hate": 0.2})
