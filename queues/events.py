"""The webhook events of the review pipeline: payloads built from queue rows, for ``webhooks.services``.

Each function is called inside the transaction of the change it reports, so the event is written
if and only if the change is. When nobody subscribes to an event type, a call costs one small query
and builds nothing. Payloads carry ids, the item's ``source`` and ``external_id`` (how an integrator
finds its own record), types, names and times; never the content under review."""

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from intake.events import item_summary
from intake.models import Item
from queues.models import Decision, Queue, QueueEntry
from queues.routing import RoutingDecision
from webhooks.services import emit, emit_many


def items_routed(
    *, items: Iterable[Item], decisions: Mapping[int, RoutingDecision], queues: Mapping[int, Queue]
) -> None:
    """Where routing sent each item: a queue, or an automatic action (with the QA queue of a sampled one)."""
    emit_many(event_type="item.routed", payloads=(_routed(item, decisions[item.pk], queues) for item in items))


def _routed(item: Item, decision: RoutingDecision, queues: Mapping[int, Queue]) -> dict:
    return item_summary(item) | {
        "action": decision.action,
        "queue": queues[decision.queue_id].name if decision.queue_id is not None else None,
        "rule_id": decision.rule_id,
        "sampled_for_qa": decision.sampled_for_qa,
    }


def decision_created(
    decision: Decision, *, categories: Iterable[str], queue: Queue | None, second_review: bool = False
) -> None:
    """A reviewer's decision, or an automatic one by a routing rule (``automatic``, no reviewer).

    A sampled decision is decided again, blind, by a second reviewer (``review.gold_answers``); that
    decision is an event too, marked ``second_review``, so a receiver can tell a second opinion on
    an item from a first verdict and keep both (the later one is what training uses).
    """
    emit(
        event_type="decision.created",
        payload=decision_created_payload(decision, categories=categories, queue=queue, second_review=second_review),
    )


def decisions_created(payloads: Iterable[dict]) -> None:
    """Many ``decision.created`` events at once (payloads from ``decision_created_payload``): two statements."""
    emit_many(event_type="decision.created", payloads=payloads)


def decision_created_payload(
    decision: Decision, *, categories: Iterable[str], queue: Queue | None, second_review: bool = False
) -> dict:
    return item_summary(decision.item) | {
        "decision_id": decision.pk,
        "action": decision.action,
        "categories": sorted(categories),
        "automatic": decision.automatic,
        "second_review": second_review,
        "reviewer": decision.reviewer.get_username() if decision.reviewer_id else None,
        "queue": queue.name if queue else None,
        "decided_at": decision.created_at,
    }


def item_escalated(*, entry: QueueEntry, to_queue: Queue, decision: Decision, user: AbstractBaseUser) -> None:
    emit(
        event_type="item.escalated",
        payload=item_summary(entry.item)
        | {
            "decision_id": decision.pk,
            "from_queue": entry.queue.name,
            "to_queue": to_queue.name,
            "escalated_by": user.get_username(),
            "escalated_at": decision.created_at,
        },
    )


def decision_overturned(
    *, decisions: Iterable[Decision], action: str, categories: Iterable[str], before: dict, user: AbstractBaseUser,
    overturned_at: datetime,
) -> None:  # fmt: skip
    """A senior's QA review overturned a decision (and its near-duplicate copies): one event per item.

    The new verdict is what training uses from now on; ``previous_*`` is what the first reviewer decided.
    """
    targets = list(decisions)

    def payloads() -> Iterator[dict]:
        # A generator, so that with no subscriber (emit_many then never iterates it) the items are not read.
        items = Item.objects.in_bulk([decision.item_id for decision in targets])
        for decision in targets:
            yield item_summary(items[decision.item_id]) | {
                "decision_id": decision.pk,
                "action": action,
                "categories": sorted(categories),
                "previous_action": before["action"],
                "previous_categories": before["categories"],
                "previous_reviewer": before["reviewer"],
                "overturned_by": user.get_username(),
                "overturned_at": overturned_at,
            }

    emit_many(event_type="decision.overturned", payloads=payloads())
