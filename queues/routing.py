"""Routing rules as pure functions: where an item goes, from plain facts about it.

A rule is an ordered list of conditions that must all hold (AND; write two rules for OR) and an
action. Rules are tried in order and the first match wins; the default queue catches the rest.

A condition is ``{"field": ..., "op": ..., "value": ...}``. Fields:

=============================  ==========================  ==========================================
field                          ops                         value
=============================  ==========================  ==========================================
``kind``                       ``==`` ``!=`` ``in``        ``text``, ``image``, ``text_and_image``
``source``                     ``==`` ``!=`` ``in``        a source name, or a list for ``in``
                               ``startswith``
``score.<category>``           ``>=`` ``>`` ``<=`` ``<``   a probability from the active model, 0 to 1
``llm.<category>``             ``>=`` ``>`` ``<=`` ``<``   the default LLM prompt's probability, 0 to 1;
                                                           an item no LLM labeled never matches
``risk``                       ``>=`` ``>`` ``<=`` ``<``   the item's risk, 0 to 1
``report_count``               numeric ops and ``==``      a whole number
``report_reason``              ``contains`` ``in``         a reason code, or a list for any of them
``author_account_age_days``    numeric ops                 days; unknown age never matches
``metadata.<key>``             ``exists`` ``==`` ``!=``    any JSON value; ``in`` takes a list
                               ``in``
``failed``                     ``==``                      true when scoring failed
=============================  ==========================  ==========================================
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

NUMERIC_OPS = {">=", ">", "<=", "<", "=="}
KINDS = {"text", "image", "text_and_image"}
ACTIONS = {"route", "auto_approve", "auto_remove"}


@dataclass(frozen=True)
class ItemFacts:
    item_id: int
    kind: str
    source: str
    scores: dict[str, float] = field(default_factory=dict)
    llm: dict[str, float] = field(default_factory=dict)  # the default LLM prompt's probability, per category
    risk: float = 0.0
    report_count: int = 0
    report_reasons: frozenset[str] = frozenset()
    author_account_age_days: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


@dataclass(frozen=True)
class Rule:
    id: int
    conditions: list[dict[str, Any]]
    action: str = "route"
    queue_id: int | None = None
    sample_rate: float = 0.0
    qa_queue_id: int | None = None


@dataclass(frozen=True)
class RoutingDecision:
    action: str  # route | auto_approve | auto_remove
    queue_id: int | None  # where a human sees it: the rule's queue, the QA queue for a sample, or the default
    rule_id: int | None  # None when the default queue caught it
    sampled_for_qa: bool = False


def route(facts: ItemFacts, rules: Sequence[Rule], *, default_queue_id: int) -> RoutingDecision:
    """The first matching rule's decision, or the default queue. A failed item always goes to a human."""
    for rule in rules:
        if not all(condition_holds(facts, condition) for condition in rule.conditions):
            continue
        if rule.action == "route" or facts.failed:
            return RoutingDecision("route", rule.queue_id or default_queue_id, rule.id)
        if rule.sample_rate > 0 and sample_draw(facts.item_id, rule.id) < rule.sample_rate:
            return RoutingDecision(rule.action, rule.qa_queue_id or default_queue_id, rule.id, sampled_for_qa=True)
        return RoutingDecision(rule.action, None, rule.id)
    return RoutingDecision("route", default_queue_id, None)


def shadow_decision(
    facts: ItemFacts, live: Sequence[Rule], shadow: Rule, *, before_rule_ids: set[int], default_queue_id: int
) -> RoutingDecision | None:
    """What ``shadow`` would have done with the item had it been live, or None if an earlier live rule takes it.

    ``before_rule_ids`` are the live rules ordered before the shadow rule: the shadow rule sees the items they
    leave, as it would in its place. A match is where the item would have gone instead.
    """
    earlier = [rule for rule in live if rule.id in before_rule_ids]
    if route(facts, earlier, default_queue_id=default_queue_id).rule_id is not None:
        return None
    decision = route(facts, [shadow], default_queue_id=default_queue_id)
    return decision if decision.rule_id == shadow.id else None


def sample_draw(item_id: int, rule_id: int) -> float:
    """A stable draw in [0, 1) per (item, rule): re-routing an item repeats the same sampling decision."""
    digest = hashlib.sha256(f"{item_id}:{rule_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def condition_holds(facts: ItemFacts, condition: dict[str, Any]) -> bool:
    name, op, value = condition["field"], condition["op"], condition.get("value")
    if name == "kind":
        return _compare_text(facts.kind, op, value)
    if name == "source":
        return _compare_text(facts.source, op, value)
    if name.startswith("score."):
        return _compare_number(facts.scores.get(name.removeprefix("score."), 0.0), op, value)
    if name.startswith("llm."):
        probability = facts.llm.get(name.removeprefix("llm."))
        return probability is not None and _compare_number(probability, op, value)
    if name == "risk":
        return _compare_number(facts.risk, op, value)
    if name == "report_count":
        return _compare_number(facts.report_count, op, value)
    if name == "report_reason":
        wanted = {value} if isinstance(value, str) else set(value)
        return bool(facts.report_reasons & wanted)
    if name == "author_account_age_days":
        return facts.author_account_age_days is not None and _compare_number(facts.author_account_age_days, op, value)
    if name.startswith("metadata."):
        key = name.removeprefix("metadata.")
        if op == "exists":
            return key in facts.metadata
        return key in facts.metadata and _compare_value(facts.metadata[key], op, value)
    if name == "failed":
        return facts.failed == bool(value)
    raise ValueError(f"unknown field {name!r}")


def _compare_number(actual: float, op: str, value: float) -> bool:
    return {
        ">=": actual >= value,
        ">": actual > value,
        "<=": actual <= value,
        "<": actual < value,
        "==": actual == value,
    }[op]


def _compare_text(actual: str, op: str, value: Any) -> bool:
    if op == "startswith":
        return actual.startswith(value)
    return _compare_value(actual, op, value)


def _compare_value(actual: Any, op: str, value: Any) -> bool:
    if op == "==":
        return actual == value
    if op == "!=":
        return actual != value
    if op == "in":
        return actual in value
    raise ValueError(f"operator {op!r} does not apply here")


def validate_conditions(conditions: Any, *, categories: set[str]) -> list[str]:
    """Every problem with ``conditions``, in words an admin can act on; empty when they are valid."""
    if not isinstance(conditions, list):
        return ["Conditions must be a list of {field, op, value} objects."]
    problems = []
    for index, condition in enumerate(conditions, start=1):
        where = f"Condition {index}"
        if not isinstance(condition, dict) or not {"field", "op"} <= set(condition):
            problems.append(f"{where}: needs 'field' and 'op' (and usually 'value').")
            continue
        extra = set(condition) - {"field", "op", "value"}
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)}.")
        problems += [f"{where}: {p}" for p in _condition_problems(condition, categories)]
    return problems


def _condition_problems(condition: dict[str, Any], categories: set[str]) -> list[str]:
    name, op, value = condition["field"], condition["op"], condition.get("value")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if name.startswith(("score.", "llm.")):
        prefix, slug = name.split(".", 1)
        if slug not in categories:
            return [f"unknown category {slug!r}; known: {', '.join(sorted(categories))}."]
        if op not in NUMERIC_OPS - {"=="} or not numeric or not 0 <= value <= 1:
            return [f"a {prefix} condition is '>=', '>', '<=' or '<' with a number from 0 to 1."]
        return []
    if name in {"risk", "report_count", "author_account_age_days"}:
        if op not in NUMERIC_OPS or not numeric:
            return [f"'{name}' takes one of {sorted(NUMERIC_OPS)} and a number."]
        return []
    if name == "kind":
        values = value if op == "in" and isinstance(value, list) else [value]
        if op not in {"==", "!=", "in"} or not set(values) <= KINDS:
            return [f"'kind' takes '==', '!=' or 'in' with {sorted(KINDS)}."]
        return []
    if name == "source":
        if op not in {"==", "!=", "in", "startswith"}:
            return ["'source' takes '==', '!=', 'in' or 'startswith'."]
        if op == "in" and not isinstance(value, list):
            return ["'in' takes a list."]
        if op != "in" and not isinstance(value, str):
            return ["'source' compares with text."]
        return []
    if name == "report_reason":
        if op not in {"contains", "in"} or not isinstance(value, str | list):
            return ["'report_reason' takes 'contains' with a reason code, or 'in' with a list of them."]
        return []
    if name.startswith("metadata."):
        if op not in {"exists", "==", "!=", "in"}:
            return ["'metadata.<key>' takes 'exists', '==', '!=' or 'in'."]
        if op == "in" and not isinstance(value, list):
            return ["'in' takes a list."]
        return []
    if name == "failed":
        if op != "==" or not isinstance(value, bool):
            return ["'failed' takes '==' with true or false."]
        return []
    return [f"unknown field {name!r}."]
