"""Gold items: items with known answers, mixed into queues as they are routed.

Gold items. ``GoldItem`` rows (admin) are items with a known answer. A queue's ``gold_rate`` r is
the share of its served items that should be gold: when routing adds k entries to such a queue, it
adds a gold entry after each with probability ``r / (1 - r)`` (so gold is r of the total), at the
routed entry's own sort key, so gold items are served in the same positions as real traffic and
the claim stays the one indexed statement, with nothing gold-specific in it. A gold item is
served only where it has no open entry, in its allowed queues, preferring the kind (text, image)
of the routed item it follows. A decision on a gold entry writes a decision and an audit event,
no labels (the answer is known: labels would double count it and bias training towards the gold
pool), no webhook (the platform already acted on the item), leaves the item's state alone, and
records a ``GoldAnswer``: action right, categories right (as sets), both right.

Not tellable in the work view: the entry is rendered like any other; the item's age shown is the
entry's time in the queue (a gold item is often old). Weak spots: the item number (#id) of a gold
item is older than the live traffic's, and a reviewer may meet the same gold item twice.
"""

import random
from collections import defaultdict

from intake.models import Item
from queues.entries import new_entry
from queues.models import OPEN, GoldItem, Queue, QueueEntry
from queues.scores import active_scores


def gold_share_per_routed(rate: float) -> float:
    """Gold entries to add per routed entry so that gold is ``rate`` of everything served."""
    return 0.0 if rate <= 0 else min(rate / (1.0 - rate), 1.0)


def gold_entries_for(
    routed: list[QueueEntry], *, queues: dict[int, Queue], severities: dict[str, int], rng: random.Random | None = None
) -> list[QueueEntry]:
    """Gold entries to insert with a batch of routed entries (not saved). No query unless a queue has gold."""
    if not any(queue.gold_rate > 0 for queue in queues.values()):
        return []
    draw = rng or random
    wanted: list[QueueEntry] = [
        entry for entry in routed if draw.random() < gold_share_per_routed(queues[entry.queue_id].gold_rate)
    ]
    if not wanted:
        return []
    busy = {entry.item_id for entry in routed}
    candidates = list(
        GoldItem.objects.filter(active=True)
        .exclude(item__entries__status__in=OPEN)
        .exclude(item_id__in=busy)
        .values_list("pk", "item_id", "item__image", "item__text")
        .order_by("pk")[:2000]
    )
    allowed: dict[int, set[int]] = defaultdict(set)
    for gold_id, queue_id in GoldItem.queues.through.objects.filter(
        golditem_id__in=[c[0] for c in candidates]
    ).values_list("golditem_id", "queue_id"):
        allowed[gold_id].add(queue_id)
    draw.shuffle(candidates)
    kinds = {gold_id: _kind(image, text) for gold_id, _, image, text in candidates}
    rows = Item.objects.filter(pk__in=[e.item_id for e in wanted]).values_list("pk", "image", "text")
    routed_kinds = {pk: _kind(image, text) for pk, image, text in rows}
    chosen: list[tuple[QueueEntry, int]] = []
    used: set[int] = set()
    for entry in wanted:
        fits = [c for c in candidates if c[0] not in used and (not allowed[c[0]] or entry.queue_id in allowed[c[0]])]
        same_kind = [c for c in fits if kinds[c[0]] == routed_kinds.get(entry.item_id)]
        pick = (same_kind or fits or [None])[0]
        if pick is None:
            continue
        used.add(pick[0])
        chosen.append((entry, pick[1]))
    scores = active_scores([item_id for _, item_id in chosen], for_risk=True)
    items = Item.objects.in_bulk([item_id for _, item_id in chosen])
    gold_entries = []
    for entry, item_id in chosen:
        gold = new_entry(
            item=items[item_id],
            queue=queues[entry.queue_id],
            scores=scores.get(item_id, {}),
            severities=severities,
            selection=QueueEntry.Selection.GOLD,
        )
        gold.sort_key = entry.sort_key  # served where the routed item is: same positions as real traffic
        gold_entries.append(gold)
    return gold_entries


def _kind(image: object, text: object) -> str:
    if image and text:
        return "text_and_image"
    return "image" if image else "text"
