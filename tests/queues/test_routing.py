"""Routing rules as pure functions: no database."""

import pytest

from queues.routing import ItemFacts, Rule, condition_holds, route, sample_draw, validate_conditions

CATEGORIES = {"spam", "sexual", "scam_fraud"}


def facts(**overrides) -> ItemFacts:
    base = {"item_id": 1, "kind": "text", "source": "creatorhub.comments"}
    return ItemFacts(**{**base, **overrides})


def test_it_routes_high_scoring_images_from_new_accounts_to_the_priority_queue():
    rules = [
        Rule(
            id=1,
            conditions=[
                {"field": "kind", "op": "==", "value": "image"},
                {"field": "score.sexual", "op": ">=", "value": 0.6},
                {"field": "author_account_age_days", "op": "<", "value": 7},
            ],
            queue_id=10,
        )
    ]
    hit = facts(kind="image", scores={"sexual": 0.8}, author_account_age_days=2)
    assert route(hit, rules, default_queue_id=99).queue_id == 10
    assert (
        route(
            facts(kind="image", scores={"sexual": 0.8}, author_account_age_days=30), rules, default_queue_id=99
        ).queue_id
        == 99
    )
    assert route(facts(kind="image", scores={"sexual": 0.8}), rules, default_queue_id=99).queue_id == 99  # unknown age


def test_the_first_matching_rule_wins():
    rules = [
        Rule(id=1, conditions=[{"field": "report_count", "op": ">=", "value": 5}], queue_id=1),
        Rule(id=2, conditions=[{"field": "report_count", "op": ">=", "value": 1}], queue_id=2),
    ]
    assert route(facts(report_count=7), rules, default_queue_id=9).rule_id == 1
    assert route(facts(report_count=2), rules, default_queue_id=9).rule_id == 2
    assert route(facts(report_count=0), rules, default_queue_id=9).rule_id is None


def test_auto_remove_sends_its_sample_to_qa_and_the_rest_to_no_queue():
    rule = Rule(id=3, conditions=[{"field": "score.spam", "op": ">=", "value": 0.98}], action="auto_remove",
                sample_rate=0.05, qa_queue_id=42)  # fmt: skip
    decisions = [route(facts(item_id=i, scores={"spam": 0.99}), [rule], default_queue_id=9) for i in range(4000)]
    sampled = [d for d in decisions if d.sampled_for_qa]
    assert all(d.action == "auto_remove" for d in decisions)
    assert all(d.queue_id == 42 for d in sampled)
    assert all(d.queue_id is None for d in decisions if not d.sampled_for_qa)
    assert 0.035 < len(sampled) / len(decisions) < 0.065
    # Stable: routing the same item again makes the same sampling decision.
    assert [route(facts(item_id=i, scores={"spam": 0.99}), [rule], default_queue_id=9).sampled_for_qa
            for i in range(50)] == [d.sampled_for_qa for d in decisions[:50]]  # fmt: skip


def test_an_item_whose_scoring_failed_is_never_auto_actioned():
    rule = Rule(id=3, conditions=[], action="auto_approve")
    decision = route(facts(failed=True), [rule], default_queue_id=9)
    assert (decision.action, decision.queue_id) == ("route", 9)


@pytest.mark.parametrize(
    ("condition", "item", "expected"),
    [
        ({"field": "source", "op": "startswith", "value": "creatorhub."}, facts(), True),
        ({"field": "source", "op": "in", "value": ["a", "b"]}, facts(), False),
        (
            {"field": "report_reason", "op": "contains", "value": "spam"},
            facts(report_reasons=frozenset({"spam"})),
            True,
        ),
        (
            {"field": "report_reason", "op": "in", "value": ["hate", "x"]},
            facts(report_reasons=frozenset({"spam"})),
            False,
        ),
        ({"field": "metadata.surface", "op": "exists"}, facts(metadata={"surface": "dm"}), True),
        ({"field": "metadata.surface", "op": "==", "value": "post"}, facts(metadata={"surface": "dm"}), False),
        ({"field": "metadata.lang", "op": "==", "value": "en"}, facts(), False),
        ({"field": "risk", "op": ">", "value": 0.5}, facts(risk=0.51), True),
        ({"field": "score.hate", "op": ">=", "value": 0.1}, facts(), False),  # no score counts as 0
        ({"field": "failed", "op": "==", "value": True}, facts(failed=True), True),
    ],
)
def test_conditions(condition, item, expected):
    assert condition_holds(item, condition) is expected


def test_sample_draws_are_uniform_enough_and_stable():
    draws = [sample_draw(i, 1) for i in range(10000)]
    assert 0.48 < sum(draws) / len(draws) < 0.52
    assert sample_draw(5, 1) == sample_draw(5, 1) != sample_draw(5, 2)


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ("not a list", "must be a list"),
        ([{"field": "score.nudity", "op": ">=", "value": 0.5}], "unknown category 'nudity'"),
        ([{"field": "score.spam", "op": ">=", "value": 1.5}], "number from 0 to 1"),
        ([{"field": "score.spam", "op": "==", "value": 0.5}], "'>=', '>', '<=' or '<'"),
        ([{"field": "kind", "op": "==", "value": "video"}], "'kind' takes"),
        ([{"field": "colour", "op": "==", "value": "red"}], "unknown field 'colour'"),
        ([{"field": "report_count", "op": ">=", "value": "5"}], "and a number"),
        ([{"field": "failed", "op": "==", "value": "yes"}], "true or false"),
        ([{"op": ">="}], "needs 'field' and 'op'"),
        ([{"field": "risk", "op": ">=", "value": 0.2, "weight": 3}], "unknown keys"),
    ],
)
def test_invalid_conditions_are_explained(conditions, problem):
    problems = validate_conditions(conditions, categories=CATEGORIES)
    assert any(problem in p for p in problems), problems


def test_valid_conditions_have_no_problems():
    conditions = [
        {"field": "kind", "op": "in", "value": ["image", "text_and_image"]},
        {"field": "score.sexual", "op": ">=", "value": 0.6},
        {"field": "author_account_age_days", "op": "<", "value": 7},
        {"field": "metadata.surface", "op": "exists"},
    ]
    assert validate_conditions(conditions, categories=CATEGORIES) == []
