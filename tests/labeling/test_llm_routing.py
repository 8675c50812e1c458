"""``llm.<category>`` in routing rules: the default prompt's latest probability, and re-routing after a run."""

import pytest

from classifiers.models import PolicyCategory
from labeling import llm_runs
from queues.enqueue import item_facts, llm_probabilities
from queues.models import RoutingRule
from queues.routing import ItemFacts, Rule, condition_holds, route, validate_conditions
from tests.factories import make_item, make_queue
from tests.labeling.factories import make_llm_labeler

pytestmark = pytest.mark.django_db


def _label(fake_endpoint, items, *, default: bool):
    labeler = make_llm_labeler(f"{fake_endpoint.base_url}/ok/v1")
    if default:
        llm_runs.make_prompt_default(prompt=labeler.prompt)
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=[i.pk for i in items])
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=30)
    return labeler


def test_rules_can_route_on_the_default_prompts_probability(fake_endpoint):
    flagged, clean, unseen = make_item(text="VIOLATION"), make_item(text="fine"), make_item(text="never asked")
    _label(fake_endpoint, [flagged, clean], default=True)
    assert llm_probabilities([flagged.pk, clean.pk, unseen.pk]) == {flagged.pk: {"spam": 0.9}, clean.pk: {"spam": 0.1}}
    queue, default = make_queue(), make_queue()
    rules = [Rule(id=1, conditions=[{"field": "llm.spam", "op": ">=", "value": 0.5}], queue_id=queue.pk)]
    severities = dict(PolicyCategory.objects.values_list("slug", "severity"))
    facts = item_facts([flagged, clean, unseen], {}, severities)
    where = {pk: route(f, rules, default_queue_id=default.pk).queue_id for pk, f in facts.items()}
    assert where == {flagged.pk: queue.pk, clean.pk: default.pk, unseen.pk: default.pk}


def test_a_prompt_that_is_not_the_default_gives_no_routing_fact(fake_endpoint):
    item = make_item(text="VIOLATION")
    _label(fake_endpoint, [item], default=False)
    assert llm_probabilities([item.pk]) == {}


def test_llm_conditions_are_validated_like_scores():
    categories = {"spam"}
    assert validate_conditions([{"field": "llm.spam", "op": ">=", "value": 0.7}], categories=categories) == []
    assert validate_conditions([{"field": "llm.nope", "op": ">=", "value": 0.7}], categories=categories)
    assert validate_conditions([{"field": "llm.spam", "op": ">=", "value": 7}], categories=categories)
    facts = ItemFacts(item_id=1, kind="text", source="s")
    assert not condition_holds(facts, {"field": "llm.spam", "op": "<", "value": 0.5})  # unknown never matches


def test_a_finished_default_run_reroutes_pending_items_when_a_rule_reads_llm(
    fake_endpoint, sent_tasks, django_capture_on_commit_callbacks
):
    RoutingRule.objects.create(
        name="LLM says spam", queue=make_queue(), conditions=[{"field": "llm.spam", "op": ">=", "value": 0.5}]
    )
    with django_capture_on_commit_callbacks(execute=True):
        _label(fake_endpoint, [make_item(text="VIOLATION")], default=True)
    assert "queues.tasks.reroute_pending" in sent_tasks
