"""The field catalogue the rule builder (static/app/rule_builder.js) offers: for each routing field, its operators
and the input that fits its value. The JSON list of conditions stays the storage format; the server still checks
every saved rule with ``queues.routing.validate_conditions``, which this catalogue mirrors."""

from classifiers.models import PolicyCategory
from queues.routing import KINDS


def rule_fields() -> list[dict]:
    """Every field a condition may test, in the order the builder lists them, as JSON-ready dictionaries.

    ``input`` tells the builder which control to draw: ``number`` (with ``min``/``max``/``step``), ``duration``
    (a number with a unit, stored in days), ``choice`` (``choices``), ``boolean``, ``text`` or ``key_value``
    (metadata: a key and a JSON value). ``list_ops`` are the operators whose value is a list.
    """
    score = {"ops": [">=", ">", "<=", "<"], "input": "number", "min": 0, "max": 1, "step": 0.01}
    fields = [
        {"field": "kind", "label": "Kind", "group": "Item", "ops": ["==", "!=", "in"], "input": "choice",
         "choices": sorted(KINDS), "list_ops": ["in"]},
        {"field": "source", "label": "Source", "group": "Item", "ops": ["==", "!=", "in", "startswith"],
         "input": "text", "list_ops": ["in"]},
        {"field": "risk", "label": "Risk", "group": "Item", **score, "ops": [">=", ">", "<=", "<", "=="]},
        {"field": "failed", "label": "Scoring failed", "group": "Item", "ops": ["=="], "input": "boolean"},
    ]  # fmt: skip
    for category in PolicyCategory.objects.filter(is_active=True):
        fields.append(
            {"field": f"score.{category.slug}", "label": f"Score: {category.name}", "group": "Scores", **score}
        )
    fields += [
        {"field": "report_count", "label": "Report count", "group": "Reports", "ops": [">=", ">", "<=", "<", "=="],
         "input": "number", "min": 0, "step": 1},
        {"field": "report_reason", "label": "Report reason", "group": "Reports", "ops": ["contains", "in"],
         "input": "text", "list_ops": ["in"]},
        {"field": "author_account_age_days", "label": "Author account age", "group": "Author",
         "ops": ["<", "<=", ">", ">="], "input": "duration", "min": 0},
        {"field": "metadata.", "label": "Metadata key", "group": "Metadata", "ops": ["exists", "==", "!=", "in"],
         "input": "key_value", "list_ops": ["in"]},
    ]  # fmt: skip
    return fields
