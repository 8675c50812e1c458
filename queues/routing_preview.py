"""A routing rule's preview as a difference: which items would move from which destination to which.

``diff_destinations`` is pure; ``preview_routing_diff`` routes the last scored items twice, under today's
active rules and under the edited set, with the same scores and facts, and keeps only what changes.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from classifiers.models import PolicyCategory
from intake.models import Item
from queues.enqueue import default_queue, item_facts, load_rules
from queues.models import Queue, ShadowRouting
from queues.routing import RoutingDecision, Rule, route
from queues.scores import routing_scores

SAMPLES = 5


@dataclass(frozen=True)
class Move:
    source: str  # where the item goes under today's rules
    target: str  # where it would go under the edited rules
    count: int
    sample_item_ids: list[int]


@dataclass(frozen=True)
class RoutingDiff:
    items: int  # items compared
    moves: list[Move]  # largest first

    @property
    def moved(self) -> int:
        return sum(move.count for move in self.moves)


def destination_label(decision: RoutingDecision, queue_names: dict[int, str]) -> str:
    """Where a routing decision sends an item, in the words the preview shows."""
    if decision.action == "route":
        return queue_names.get(decision.queue_id, f"queue {decision.queue_id}")
    label = "auto-removed" if decision.action == "auto_remove" else "auto-approved"
    if decision.sampled_for_qa:
        return f"{label} (sampled to {queue_names.get(decision.queue_id, decision.queue_id)})"
    return label


def diff_destinations(now: dict[int, str], edited: dict[int, str], *, samples: int = SAMPLES) -> list[Move]:
    """Items whose destination differs between ``now`` and ``edited`` (item id to destination), grouped by move."""
    moves: dict[tuple[str, str], list[int]] = defaultdict(list)
    for item_id, source in now.items():
        target = edited.get(item_id, source)
        if target != source:
            moves[(source, target)].append(item_id)
    return sorted(
        (
            Move(source, target, len(ids), sorted(ids, reverse=True)[:samples])
            for (source, target), ids in moves.items()
        ),
        key=lambda move: (-move.count, move.source, move.target),
    )


def preview_routing_diff(edited_rules: list[Rule], *, last_n: int) -> RoutingDiff:
    """Route the last ``last_n`` scored items under today's active rules and under ``edited_rules``; the moves."""
    severities = dict(PolicyCategory.objects.filter(is_active=True).values_list("slug", "severity"))
    fallback = default_queue().pk
    names = dict(Queue.objects.values_list("pk", "name"))
    items = list(
        Item.objects.select_related("author")
        .exclude(state__in=[Item.State.RECEIVED, Item.State.SCORING])
        .order_by("-id")[:last_n]
    )
    scores, risk_scores, _ = routing_scores([item.pk for item in items], {})
    facts = item_facts(items, scores, severities, risk_scores=risk_scores)
    current = load_rules()
    now, edited = {}, {}
    for item in items:
        now[item.pk] = destination_label(route(facts[item.pk], current, default_queue_id=fallback), names)
        edited[item.pk] = destination_label(route(facts[item.pk], edited_rules, default_queue_id=fallback), names)
    return RoutingDiff(items=len(items), moves=diff_destinations(now, edited))


@dataclass(frozen=True)
class ShadowTally:
    live: str  # where live routing sent the items
    would: str  # where the shadow rule would have sent them
    count: int


def shadow_tally(*, rule_id: int, days: int) -> list[ShadowTally]:
    """A shadow rule's would-have routings of the last ``days`` days, counted by (live destination, its own)."""
    since = timezone.now() - timedelta(days=days)
    names = dict(Queue.objects.values_list("pk", "name"))
    rows = (
        ShadowRouting.objects.filter(rule_id=rule_id, created_at__gte=since)
        .values_list("live_queue_id", "would_action", "would_queue_id")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    return [
        ShadowTally(
            live=names.get(live, "decided automatically"),
            would=destination_label(RoutingDecision(action, would, rule_id, action != "route" and bool(would)), names),
            count=n,
        )
        for live, action, would, n in rows
    ]
