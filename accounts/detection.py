"""Detection rules as pure functions: which rules fire on an account, from its signal values and recent events.

The same condition shape as routing rules (``queues.routing``): a rule is a list of conditions that must
all hold, each ``{"field": ..., "op": ..., "value": ...}``. Fields:

==============================  ==========================  ==========================================
field                           ops                         value
==============================  ==========================  ==========================================
``signal.<name>``               ``>=`` ``>`` ``<=`` ``<``   a number; a signal with no value (an unknown
                                ``==``                      account age, say) never matches
``event.type``                  ``==`` ``in``               an event type, or a list: any event of the
                                                            update
``event.country``               ``==`` ``in`` ``not_in``    a country code, or a list
``account.source``              ``==`` ``!=`` ``in``        a source name, or a list
==============================  ==========================  ==========================================

Unlike routing, every matching rule fires (each firing is recorded with its values); an account has
at most one open case per case type, opened by the first matching active rule of that type.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from accounts.models import AccountEvent
from accounts.risk_signals import SIGNALS
from queues.routing import NUMERIC_OPS

EVENT_TYPES_FIELD = "event.type"
EVENT_COUNTRY_FIELD = "event.country"
SOURCE_FIELD = "account.source"
EVENT_TYPES = frozenset(AccountEvent.Type.values)


@dataclass(frozen=True)
class AccountFacts:
    account_id: int
    source: str
    values: Mapping[str, Any]
    event_types: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    id: int
    conditions: list[dict[str, Any]]
    case_type: str
    severity: int
    shadow: bool = False
    queue_id: int | None = None
    action: str = ""  # an AccountAction kind the rule takes by itself; blank: it only opens cases
    action_duration: timedelta | None = None
    review_share: float = 1.0  # of an acting rule's firings, the share also opened as a case for a human


@dataclass(frozen=True)
class Firing:
    rule: Rule
    values: dict[str, Any] = field(default_factory=dict)


def firings(facts: AccountFacts, rules: Sequence[Rule]) -> list[Firing]:
    """Every rule whose conditions all hold, in rule order, with the value of each field it names."""
    return [
        Firing(rule, {c["field"]: value_of(facts, c["field"]) for c in rule.conditions})
        for rule in rules
        if rule.conditions and all(condition_holds(facts, condition) for condition in rule.conditions)
    ]


def sampled_for_review(rule: Rule, account_id: int) -> bool:
    """Whether this firing of an acting rule also goes to a human: a share ``review_share`` of the accounts.

    Decided by a hash of (rule, account), not by chance at run time: a replay or a redelivered message makes
    the same choice, and a test can count it.
    """
    if not rule.action:
        return True
    digest = hashlib.sha256(f"{rule.id}:{account_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rule.review_share


def value_of(facts: AccountFacts, name: str) -> Any:
    if name.startswith("signal."):
        return facts.values.get(name.removeprefix("signal."))
    if name == EVENT_TYPES_FIELD:
        return sorted(facts.event_types)
    if name == EVENT_COUNTRY_FIELD:
        return sorted(facts.countries)
    if name == SOURCE_FIELD:
        return facts.source
    raise ValueError(f"unknown field {name!r}")


def condition_holds(facts: AccountFacts, condition: Mapping[str, Any]) -> bool:
    name, op, value = condition["field"], condition["op"], condition.get("value")
    if name.startswith("signal."):
        actual = facts.values.get(name.removeprefix("signal."))
        if actual is None:
            return False
        return {">=": actual >= value, ">": actual > value, "<=": actual <= value, "<": actual < value}.get(
            op, actual == value
        )
    if name == EVENT_TYPES_FIELD:
        wanted = {value} if isinstance(value, str) else set(value)
        return bool(facts.event_types & wanted)
    if name == EVENT_COUNTRY_FIELD:
        wanted = {value} if isinstance(value, str) else set(value)
        if op == "not_in":
            return bool(facts.countries - wanted)
        return bool(facts.countries & wanted)
    if name == SOURCE_FIELD:
        if op == "in":
            return facts.source in value
        return (facts.source == value) == (op == "==")
    raise ValueError(f"unknown field {name!r}")


def validate_conditions(conditions: Any) -> list[str]:
    """Every problem with ``conditions``, in words an admin can act on; empty when they are valid."""
    if not isinstance(conditions, list) or not conditions:
        return ["Conditions must be a non-empty list of {field, op, value} objects."]
    problems = []
    for index, condition in enumerate(conditions, start=1):
        where = f"Condition {index}"
        if not isinstance(condition, dict) or not {"field", "op", "value"} <= set(condition):
            problems.append(f"{where}: needs 'field', 'op' and 'value'.")
            continue
        extra = set(condition) - {"field", "op", "value"}
        if extra:
            problems.append(f"{where}: unknown keys {sorted(extra)}.")
        problems += [f"{where}: {p}" for p in _condition_problems(condition)]
    return problems


def _condition_problems(condition: Mapping[str, Any]) -> list[str]:
    name, op, value = condition["field"], condition["op"], condition["value"]
    if not isinstance(name, str):
        return ["'field' is text."]
    if name.startswith("signal."):
        signal = name.removeprefix("signal.")
        if signal not in SIGNALS:
            return [f"unknown signal {signal!r}; known: {', '.join(sorted(SIGNALS))}."]
        if op not in NUMERIC_OPS or not isinstance(value, int | float) or isinstance(value, bool):
            return [f"a signal takes one of {sorted(NUMERIC_OPS)} and a number."]
        return []
    # '==' and '!=' compare with one text, the list operators with a list of them.
    listy = isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
    shaped = listy if op in {"in", "not_in"} else isinstance(value, str)
    if name == EVENT_TYPES_FIELD:
        if op not in {"==", "in"} or not shaped:
            return ["'event.type' takes '==' with a type or 'in' with a list of types."]
        unknown = sorted(({value} if isinstance(value, str) else set(value)) - EVENT_TYPES)
        return [f"unknown event types {unknown}; known: {', '.join(sorted(EVENT_TYPES))}."] if unknown else []
    if name == EVENT_COUNTRY_FIELD:
        if op not in {"==", "in", "not_in"} or not shaped:
            return ["'event.country' takes '==' with a country code, or 'in' or 'not_in' with a list of them."]
        return []
    if name == SOURCE_FIELD:
        if op not in {"==", "!=", "in"} or not shaped:
            return ["'account.source' takes '==' or '!=' with a source name, or 'in' with a list of them."]
        return []
    return [f"unknown field {name!r}; use signal.<name>, {EVENT_TYPES_FIELD}, {EVENT_COUNTRY_FIELD} or {SOURCE_FIELD}."]
