"""Placing scored items into queues: routing rules, priority keys, near-duplicate groups, auto-actions.

The decisions themselves are pure (``queues.routing``, ``queues.priority``); the scores come from
``queues.scores`` and entries are built by ``queues.entries``. This module gathers
the facts from the database and writes the outcome, one transaction per batch.

Exploration in risk-ordered queues (``Queue.explore_rate``). A queue that always serves the model's
top picks only gets labels for what the model already flags, and a model retrained on them learns
little: in bench/learning_loop.py, after the first retraining 719 of the next 721 risk-ordered items
were spam the model was already sure of. So some routed items are *explored*, served out of risk order:
* which items: with a trained model, an item is explored with probability ``explore_rate * w / mean(w)``,
  ``w`` its uncertainty under the trained heads (``uncertainty_of``), with a floor
  (``MIN_EXPLORATION_WEIGHT``) so the model's confident mistakes can still surface. ``mean(w)`` is the
  batch's, or for a small batch (items arriving one by one) that of the latest scored items
  (``typical_uncertainty``): an item alone would otherwise be its own mean and get the plain rate. About
  the same share of items is explored, but from where the model is unsure, which is where a label
  changes the next model (the labelling queue's reason, bench/active_learning.py). With the cold-start
  prior alone, or for an item without a learned score, every item has the plain ``explore_rate``. A
  stable hash of the item id makes the draw, so the same scores give the same decision.
* where they are served: a new item as if its risk were that of a random one of the queue's recent
  arrivals (``recent_risks``, ``risk_at``), so explored items are served at about their share of the
  arrivals, at random places among them. (A random point on the whole risk scale, as before, put most
  of them ahead of every real item, since real risks cluster low: with a backlog, reviewers saw
  explored items almost only.) ``reroute_pending_items`` (run after a version is promoted) decides
  again under the new scores and spreads each queue's explored entries so that they are
  ``explore_rate`` of what is served, most uncertain first (``interleave_explored_entries``): the risk
  order still serves the rest.
Why not correct for the order at training time instead: selection here depends on the item's scores,
not on its label, so ``p(label | item)`` is the same among the labelled items as everywhere. On the
labels of a risk-ordered run, calibrating on the explored rows only, shifting the prior to the explored
rows' spam rate, or weighting rows by inverse propensity did not raise held-out F1, and the best
threshold on the held-out set itself scored no better than 0.5: the loss was labels that taught the
model nothing, not a biased operating point (bench/RESULTS.md, "Learning from nothing")."""

import hashlib
import itertools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.services import record_event
from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Item, Report
from queues import events, experiment_arms
from queues.entries import new_entry
from queues.models import (
    Decision,
    ItemSignature,
    NearDuplicateKey,
    Queue,
    QueueEntry,
    RoutingRule,
    ShadowRouting,
)
from queues.priority import risk_of
from queues.routing import ItemFacts, RoutingDecision, Rule, route, shadow_decision
from queues.scores import active_scores, routing_scores

logger = logging.getLogger(__name__)


class NoDefaultQueue(RuntimeError):
    """Routing needs a default queue to catch what no rule matches."""


def _rule(rule: RoutingRule) -> Rule:
    return Rule(
        id=rule.pk,
        conditions=rule.conditions,
        action=rule.action,
        queue_id=rule.queue_id,
        sample_rate=rule.sample_rate,
        qa_queue_id=rule.qa_queue_id,
    )


def load_rules() -> list[Rule]:
    """The active live rules, in order (shadow rules act on nothing)."""
    rules = RoutingRule.objects.filter(is_active=True, is_shadow=False).order_by("position", "id")
    return [_rule(rule) for rule in rules]


def record_shadow_routing(
    items: list, facts: dict, live: list[Rule], decisions: dict[int, RoutingDecision], *, default_queue_id: int
) -> int:
    """Record where each active shadow rule would have sent ``items``, beside where they went; rows written.

    Costs one query per routed batch while no shadow rule is active.
    """
    shadows = list(RoutingRule.objects.filter(is_active=True, is_shadow=True).order_by("position", "id"))
    if not shadows:
        return 0
    positions = dict(RoutingRule.objects.filter(is_active=True, is_shadow=False).values_list("pk", "position"))
    rows = []
    for shadow in shadows:
        before = {rule_id for rule_id, p in positions.items() if (p, rule_id) < (shadow.position, shadow.pk)}
        for item in items:
            would = shadow_decision(
                facts[item.pk], live, _rule(shadow), before_rule_ids=before, default_queue_id=default_queue_id
            )
            if would is not None:
                rows.append(
                    ShadowRouting(
                        rule=shadow,
                        item_id=item.pk,
                        would_action=would.action,
                        would_queue_id=would.queue_id,
                        live_queue_id=decisions[item.pk].queue_id,
                    )  # fmt: skip
                )
    ShadowRouting.objects.bulk_create(rows)
    return len(rows)


def default_queue() -> Queue:
    return _default_among(Queue.objects.filter(is_default=True))


def _default_among(queues: Iterable[Queue]) -> Queue:
    """The default queue of ``queues`` (at most one is: a constraint); NoDefaultQueue when none is."""
    for queue in queues:
        if queue.is_default:
            return queue
    raise NoDefaultQueue("No default queue: mark one queue as the default in the admin.")


def llm_probabilities(item_ids: list[int]) -> dict[int, dict[str, float]]:
    """The latest probability per item and category from each category's default LLM prompt (``llm.<category>``).

    Read through the ORM relation the labeling app adds to items (``Item.llm_results``), never by importing it:
    labeling sits above queues, and only writes these rows.
    """
    found: dict[int, dict[str, float]] = defaultdict(dict)
    rows = (
        Item.objects.filter(pk__in=item_ids, llm_results__state="done", llm_results__labeler__prompt__is_default=True)
        .order_by("llm_results__finished_at")
        .values_list("pk", "llm_results__labeler__prompt__category__slug", "llm_results__probability")
    )
    for item_id, slug, probability in rows:
        found[item_id][slug] = probability  # later rows win: the latest verdict
    return found


def item_facts(
    items: list[Item],
    scores: dict[int, dict[str, float]],
    severities: dict[str, int],
    *,
    risk_scores: dict[int, dict[str, float]] | None = None,
) -> dict[int, ItemFacts]:
    reasons: dict[int, set[str]] = defaultdict(set)
    for item_id, reason in Report.objects.filter(item__in=items).values_list("item_id", "reason"):
        reasons[item_id].add(reason)
    llm = llm_probabilities([item.pk for item in items])
    now = timezone.now()
    facts = {}
    for item in items:
        created = item.author.account_created_at if item.author else None
        facts[item.pk] = ItemFacts(
            item_id=item.pk,
            kind=item.kind.value,
            source=item.source,
            scores=scores.get(item.pk, {}),
            llm=llm.get(item.pk, {}),
            risk=risk_of((risk_scores if risk_scores is not None else scores).get(item.pk, {}), severities).value,
            report_count=item.report_count,
            report_reasons=frozenset(reasons[item.pk]),
            author_account_age_days=(now - created).total_seconds() / 86400 if created else None,
            metadata=item.metadata if isinstance(item.metadata, dict) else {},
            failed=bool(item.failure_reason),
        )
    return facts


# A weight floor: an item the model is certain of keeps a tenth of the plain exploration rate.
MIN_EXPLORATION_WEIGHT = 0.1


# Below this many items with a learned score, a routing batch is too small to be its own yardstick of
# uncertainty, and the typical uncertainty of recently scored items is used (``typical_uncertainty``).
MIN_BATCH_FOR_MEAN = 100


# How many of the latest items measure the trained heads' typical uncertainty, and its memo:
# (the active versions it was measured under, when it expires, the value).
TYPICAL_SAMPLE = 200


_typical: tuple[tuple[int, ...], float, float | None] | None = None


# A newly explored item is placed among the risks of its queue's entries among this many latest entries.
RECENT_ENTRIES = 1000


def uncertainty_of(learned: dict[str, float]) -> float | None:
    """``1 - |2p - 1|`` of the most uncertain learned category (1 at p = 0.5, 0 at 0 or 1); None without one."""
    return max((1.0 - abs(2.0 * p - 1.0) for p in learned.values()), default=None)


def exploration_weights(
    learned: dict[int, dict[str, float]], item_ids: list[int], *, typical: float | None = None
) -> dict[int, float]:
    """Each item's exploration weight: its uncertainty under the trained heads over a typical one (pure).

    The typical uncertainty is ``typical`` when given (``typical_uncertainty``, for a batch too small to
    measure it), else the batch's mean. Items without a learned score, and every item while no head is
    trained, weigh 1. A weight below ``MIN_EXPLORATION_WEIGHT`` is raised to it, so items the model is
    sure of are still explored now and then (module docstring).
    """
    uncertainty = {item_id: uncertainty_of(learned.get(item_id, {})) for item_id in item_ids}
    known = [u for u in uncertainty.values() if u is not None]
    mean = typical if typical is not None else (sum(known) / len(known) if known else 0.0)
    if mean <= 0:
        return dict.fromkeys(item_ids, 1.0)
    return {item_id: 1.0 if u is None else max(u / mean, MIN_EXPLORATION_WEIGHT) for item_id, u in uncertainty.items()}


def typical_uncertainty() -> float | None:
    """Mean uncertainty (``uncertainty_of``) of the latest ``TYPICAL_SAMPLE`` items under the trained heads, or None.

    The yardstick of exploration weights for small routing batches: an item routed alone would be its
    own batch's mean, weigh 1, and be explored at the plain rate however sure the model is of it. Two
    indexed reads (the latest item ids, then their scores by item); a process reuses the value for
    ``EXPLORATION_TYPICAL_SECONDS`` while the active versions stay the same, since it moves slowly, so
    a stream of single items pays for it now and then rather than on every item.
    """
    global _typical  # noqa: PLW0603 - a per-process memo, like a cache entry
    now = time.monotonic()
    active = tuple(
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).order_by("pk").values_list("pk", flat=True)
    )
    if _typical is not None and _typical[0] == active and now < _typical[1]:
        return _typical[2]
    latest = list(Item.objects.order_by("-id").values_list("pk", flat=True)[:TYPICAL_SAMPLE])
    learned = [uncertainty_of(scores) for scores in active_scores(latest, learned_only=True).values()]
    value = sum(learned) / len(learned) if learned else None
    _typical = (active, now + settings.EXPLORATION_TYPICAL_SECONDS, value)
    return value


def batch_exploration_weights(learned: dict[int, dict[str, float]], item_ids: list[int]) -> dict[int, float]:
    """``exploration_weights`` for a routing batch: against its own mean, or the typical one if it is small."""
    typical = typical_uncertainty() if len(learned) < MIN_BATCH_FOR_MEAN else None
    return exploration_weights(learned, item_ids, typical=typical)


def recent_risks(queue: Queue, *, also: list[float]) -> list[float]:
    """The ascending risks of ``queue``'s entries among the latest ``RECENT_ENTRIES`` of all queues, and of ``also``.

    ``also`` is the risks of the batch's own items for the queue, so the list is never empty. Read as an
    id range of the primary key: there is no index on (queue, id), and a scan for a quiet queue's latest
    entries could walk through millions of other queues' rows.
    """
    newest = QueueEntry.objects.order_by("-id").values_list("pk", flat=True).first()
    latest = (
        QueueEntry.objects.filter(queue=queue, pk__gt=newest - RECENT_ENTRIES).values_list("risk", flat=True)
        if newest is not None
        else []
    )
    return sorted([*latest, *also])


def risk_at(position: float, risks: list[float]) -> float:
    """The risk at ``position`` (0 to 1) of ``risks`` ranked highest first, so 0 is the highest (pure)."""
    return risks[len(risks) - 1 - min(int(position * len(risks)), len(risks) - 1)]


def interleaved_keys(other_keys: list[float], count: int, rate: float) -> list[float]:
    """Sort keys that serve ``count`` explored entries at ``rate`` of the service among ``other_keys`` (pure).

    ``other_keys`` are the ascending keys of the queue's other pending entries. Explored entry ``j``
    (0-based) comes after the first ``floor((j + 1) * (1 - rate) / rate)`` of them: at rate 0.1, one
    explored entry after every nine others, until either runs out. The keys ascend with ``j``.
    """
    keys: list[float] = []
    if count <= 0:
        return keys
    if not other_keys:
        return [float(j) for j in range(count)]
    rate = min(max(rate, 1e-9), 1.0)
    for j in range(count):
        before = math.floor((j + 1) * (1.0 - rate) / rate + 1e-9)
        if before <= 0:
            key = other_keys[0] - 1.0
        elif before >= len(other_keys):
            key = other_keys[-1] + 1.0
        else:
            key = (other_keys[before - 1] + other_keys[before]) / 2
        if keys and key <= keys[-1]:  # two explored entries in one gap (rate above 0.5): keep their order
            key = math.nextafter(keys[-1], math.inf)
        keys.append(key)
    return keys


def exploration_point(item_id: int, queue: Queue, *, weight: float = 1.0) -> float | None:
    """For an explored item of a risk-ordered queue, a random position in [0, 1); else None.

    The item is explored with probability ``queue.explore_rate * weight`` (at most 1; ``weight`` from
    ``exploration_weights``), decided by a stable hash of the item id; a second part of the hash is the
    position, which ``risk_at`` turns into the risk the item is served at: explored items come up at
    every position of the queue and still age towards the deadline like the rest. The hash does not
    change, so the same scores give the same decision.
    """
    if queue.ordering != Queue.Ordering.RISK or queue.explore_rate <= 0:
        return None
    digest = hashlib.sha256(f"explore:{item_id}".encode()).digest()
    draw, position = int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big") / 2**64
    return position if draw < min(1.0, queue.explore_rate * weight) else None


def route_items(*, item_ids: list[int]) -> dict[int, RoutingDecision]:
    """Route scored or failed items that are not yet in a queue. Items already routed are left alone."""
    severities = dict(PolicyCategory.objects.filter(is_active=True).values_list("slug", "severity"))
    rules = load_rules()
    queues = {queue.pk: queue for queue in Queue.objects.all()}
    fallback = _default_among(queues.values())  # one read of the queues per batch, not two
    decisions: dict[int, RoutingDecision] = {}
    with transaction.atomic():
        items = list(
            Item.objects.select_for_update(of=("self",))
            .select_related("author")
            .filter(id__in=item_ids, state__in=[Item.State.SCORED, Item.State.FAILED])
        )
        if not items:
            return {}
        arms = experiment_arms.assignments_for(items)
        ids = [item.pk for item in items]
        scores, risk_scores, learned = routing_scores(ids, arms)
        weights = batch_exploration_weights(learned, ids)
        facts = item_facts(items, scores, severities, risk_scores=risk_scores)
        _assign_duplicate_groups(items)
        for item in items:
            decisions[item.pk] = route(facts[item.pk], rules, default_queue_id=fallback.pk)
        record_shadow_routing(items, facts, rules, decisions, default_queue_id=fallback.pk)
        arriving: dict[int, list[float]] = defaultdict(list)  # per queue, the risks of the batch's items
        for item in items:
            if decisions[item.pk].queue_id is not None:
                arriving[decisions[item.pk].queue_id].append(facts[item.pk].risk)
        risks_by_queue: dict[int, list[float]] = {}
        entries, queued, decided = [], [], []
        for item in items:
            decision = decisions[item.pk]
            if decision.action != "route":
                _record_automatic_decision(item, decision)
            if decision.queue_id is not None:
                queue = queues[decision.queue_id]
                selection = QueueEntry.Selection.SAMPLED if decision.sampled_for_qa else QueueEntry.Selection.ROUTED
                explore_at = (
                    exploration_point(item.pk, queue, weight=weights[item.pk])
                    if selection == QueueEntry.Selection.ROUTED
                    else None
                )
                if explore_at is not None:  # served as if it had the risk of a random recent arrival
                    if queue.pk not in risks_by_queue:
                        risks_by_queue[queue.pk] = recent_risks(queue, also=arriving[queue.pk])
                    explore_at = risk_at(explore_at, risks_by_queue[queue.pk])
                entries.append(
                    new_entry(
                        item=item,
                        queue=queue,
                        scores=risk_scores.get(item.pk, {}),
                        severities=severities,
                        selection=selection if explore_at is None else QueueEntry.Selection.EXPLORE,
                        sort_risk=explore_at,
                        rule_id=decision.rule_id,
                        **(arms[item.pk].entry_fields() if item.pk in arms else {}),
                    )
                )
                queued.append(item.pk)
            else:
                decided.append(item.pk)
        if any(queue.gold_rate > 0 for queue in queues.values()):
            from queues.gold import gold_entries_for

            entries += gold_entries_for(entries, queues=queues, severities=severities)
        QueueEntry.objects.bulk_create(entries)
        Item.objects.filter(id__in=queued).update(state=Item.State.QUEUED, updated_at=timezone.now())
        Item.objects.filter(id__in=decided).update(state=Item.State.DECIDED, updated_at=timezone.now())
        events.items_routed(items=items, decisions=decisions, queues=queues)
    return decisions


def _record_automatic_decision(item: Item, decision: RoutingDecision) -> None:
    action = Decision.Action.REMOVE if decision.action == "auto_remove" else Decision.Action.NO_VIOLATION
    made = Decision.objects.create(item=item, action=action, automatic=True, note=f"routing rule {decision.rule_id}")
    record_event(
        action=f"decision.{decision.action}",
        target=made,
        actor_label="routing",
        after={"item": item.pk, "rule": decision.rule_id, "sampled_for_qa": decision.sampled_for_qa},
    )
    events.decision_created(made, categories=[], queue=None)


def _assign_duplicate_groups(items: list[Item]) -> None:
    """Compute each item's signatures, index their band keys, and join the group of a pending near-duplicate."""
    # Imported here: datasketch and imagehash (and numpy) are worker-side; admin and review views import this module.
    from queues import near_duplicates

    minhashes: dict[int, bytes] = {}
    keys: list[NearDuplicateKey] = []
    loaded_groups = {item.pk: item.duplicate_group for item in items}
    for item in items:
        minhash = near_duplicates.text_minhash(item.text) if item.text else None
        if minhash is not None:
            minhashes[item.pk] = minhash
        if item.image:
            try:
                with default_storage.open(item.image.name, "rb") as handle:
                    item.image_phash = near_duplicates.image_phash(handle.read())
            except OSError:
                item.image_phash = None
        item_keys = []
        if minhash is not None:
            item_keys += near_duplicates.text_band_keys(minhash)
        if item.image_phash is not None:
            item_keys += near_duplicates.image_band_keys(item.image_phash)
        keys += [NearDuplicateKey(item_id=item.pk, key=key) for key in item_keys]
    ItemSignature.objects.bulk_create(
        [ItemSignature(item_id=pk, text_minhash=minhash) for pk, minhash in minhashes.items()],
        update_conflicts=True,
        unique_fields=["item"],
        update_fields=["text_minhash"],
    )
    NearDuplicateKey.objects.bulk_create(keys, ignore_conflicts=True)
    by_item: dict[int, list[int]] = defaultdict(list)
    for key in keys:
        by_item[key.item_id].append(key.key)
    by_key, signatures = _candidates_sharing_keys(items, by_item)
    # One read for the whole batch, then the pk-ordered pass in memory: the batch's own items are
    # compared on the signatures just computed, and see the groups given earlier in the pass.
    batch = {item.pk: item for item in items}
    groups = {pk: group for pk, (_, _, group) in signatures.items()}
    adopted: dict[int | None, list[int]] = defaultdict(list)  # group -> members given it here (outside the batch first)
    for item in sorted(items, key=lambda i: i.pk):
        # chain, not a generator with a condition: for a wave of near-duplicates this is 16 keys x 500 candidates.
        others = dict.fromkeys(itertools.chain.from_iterable(by_key.get(key, ()) for key in by_item[item.pk]))
        others.pop(item.pk, None)
        candidates, texts, images = [], [], []
        for other_id in itertools.islice(others, CANDIDATES_PER_ITEM):
            if other_id in batch:
                other_minhash, phash = minhashes.get(other_id), batch[other_id].image_phash
            elif other_id in signatures:
                other_minhash, phash, _ = signatures[other_id]
            else:  # deleted between the two reads
                continue
            candidates.append(other_id)
            texts.append(other_minhash and bytes(other_minhash))
            images.append(phash)
        alike = near_duplicates.near_duplicates_among(
            text=minhashes.get(item.pk), image=item.image_phash, candidate_texts=texts, candidate_images=images
        )
        matches = [(other_id, groups.get(other_id)) for other_id, same in zip(candidates, alike, strict=True) if same]
        # A group is named after its oldest member; members found without a group join it.
        item.duplicate_group = min([group or other for other, group in matches] + [item.pk]) if matches else None
        groups[item.pk] = item.duplicate_group
        for other, group in matches:
            if group is None:
                groups[other] = item.duplicate_group
                if other in batch:
                    batch[other].duplicate_group = item.duplicate_group
                else:
                    adopted[item.duplicate_group].append(other)
    # One UPDATE per group that changed rather than bulk_update's CASE per item and field (a third of
    # routing's CPU for a batch of texts): a batch holds few distinct groups, and most items none.
    for item in items:
        if item.duplicate_group != loaded_groups[item.pk]:
            adopted[item.duplicate_group].append(item.pk)
    for group, members in adopted.items():
        Item.objects.filter(pk__in=members).update(duplicate_group=group)
    with_images = [item for item in items if item.image]
    if with_images:
        Item.objects.bulk_update(with_images, ["image_phash"])


# Near-duplicate candidates compared per item: a key shared by thousands of open items (a blank image,
# a boilerplate signature) must not turn routing one batch into a scan.
CANDIDATES_PER_ITEM = 500


def _candidates_sharing_keys(
    items: list[Item], by_item: dict[int, list[int]]
) -> tuple[dict[int, list[int]], dict[int, tuple]]:
    """Items sharing a band key with the batch, in the batch or waiting in a queue: two reads for the batch.

    Returns the item ids per key, and each such item's (text minhash, image phash, duplicate group).
    """
    all_keys = {key for item_keys in by_item.values() for key in item_keys}
    if not all_keys:
        return {}, {}
    # EXISTS on the open entries, not a join through the items: the join made PostgreSQL read every item and
    # entry sharing a key (hash joins over both tables once keys recur), where this probes the one-open-entry
    # index; same rows (bench/RESULTS.md, session 11, branch scoreperf).
    open_entry = Exists(
        QueueEntry.objects.filter(
            item_id=OuterRef("item_id"), status__in=[QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED]
        )
    )
    in_batch = Q(item_id__in=[item.pk for item in items])
    pairs = (
        NearDuplicateKey.objects.filter(key__in=all_keys)
        .filter(open_entry | in_batch)
        .values_list("key", "item_id")
        .distinct()[: CANDIDATES_PER_ITEM * len(items)]
    )
    by_key: dict[int, list[int]] = defaultdict(list)
    for key, item_id in pairs:
        by_key[key].append(item_id)
    ids = {item_id for members in by_key.values() for item_id in members}
    signatures = {
        item_id: (minhash, phash, group)
        for item_id, minhash, phash, group in Item.objects.filter(pk__in=ids).values_list(
            "id", "signature__text_minhash", "image_phash", "duplicate_group"
        )
    }
    return by_key, signatures


@dataclass(frozen=True)
class PreviewRow:
    destination: str  # a queue's name, or "auto-approved" / "auto-removed"
    count: int
    sample_item_ids: list[int]


def preview_routing(rules: list[Rule], *, last_n: int) -> list[PreviewRow]:
    """Where the last ``last_n`` scored items would go under ``rules``, without writing anything."""
    severities = dict(PolicyCategory.objects.filter(is_active=True).values_list("slug", "severity"))
    fallback = default_queue()
    names = dict(Queue.objects.values_list("pk", "name"))
    items = list(
        Item.objects.select_related("author")
        .exclude(state__in=[Item.State.RECEIVED, Item.State.SCORING])
        .order_by("-id")[:last_n]
    )
    ids = [item.pk for item in items]
    scores, risk_scores, _ = routing_scores(ids, {})
    facts = item_facts(items, scores, severities, risk_scores=risk_scores)
    rows: dict[str, list[int]] = defaultdict(list)
    for item in items:
        decision = route(facts[item.pk], rules, default_queue_id=fallback.pk)
        if decision.action != "route":
            label = "auto-removed" if decision.action == "auto_remove" else "auto-approved"
            rows[f"{label} (sampled to {names[decision.queue_id]})" if decision.sampled_for_qa else label].append(
                item.pk
            )
        else:
            rows[names[decision.queue_id]].append(item.pk)
    return sorted(
        (PreviewRow(destination, len(ids), ids[:10]) for destination, ids in rows.items()), key=lambda r: -r.count
    )


def reroute_pending_items(*, batch_size: int = 500, item_ids: list[int] | None = None) -> int:
    """Route every pending, rule-routed item again under the active models; returns how many moved.

    Items without scores from an active version are scored first; a failed item that scores now loses its
    failure reason (intake.rescoring sends the failed ones here). Items a reviewer holds are scored too, not
    rerouted (``score_held_items``). With ``item_ids``, only those items.
    An item whose destination is unchanged keeps its entry with a new risk and key; one that now belongs
    elsewhere moves there, keeping the time it first entered a queue, so its deadline does not restart.
    Whether an item is explored is decided again under the new scores, and each risk-ordered queue's
    explored entries are then spread through it at ``explore_rate`` of the service, most uncertain first
    (module docstring).
    """
    severities = dict(PolicyCategory.objects.filter(is_active=True).values_list("slug", "severity"))
    rules = load_rules()
    fallback = default_queue()
    queues = {queue.pk: queue for queue in Queue.objects.all()}
    active = list(ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("pk", flat=True))
    moved, last_id = 0, 0
    uncertainty: dict[int, float | None] = {}
    while True:
        pending = QueueEntry.objects.filter(
            status=QueueEntry.Status.PENDING,
            selection__in=[QueueEntry.Selection.ROUTED, QueueEntry.Selection.EXPLORE],
            # Items only: an account case's entry has none, and content models do not order it (accounts does).
            item__isnull=False,
            pk__gt=last_id,
        )
        if item_ids is not None:
            pending = pending.filter(item_id__in=item_ids)
        entries = list(pending.select_related("item__author").order_by("pk")[:batch_size])
        if not entries:
            for queue in queues.values():
                interleave_explored_entries(queue, uncertainty)
            score_held_items(active, item_ids=item_ids)
            return moved
        last_id = entries[-1].pk
        items = [entry.item for entry in entries]
        score_unscored_items(items, active)
        arms = experiment_arms.assignments_from_entries(entries)
        ids = [i.pk for i in items]
        scores, risk_scores, learned = routing_scores(ids, arms)
        weights = batch_exploration_weights(learned, ids)
        uncertainty.update((item_id, uncertainty_of(learned.get(item_id, {}))) for item_id in ids)
        facts = item_facts(items, scores, severities, risk_scores=risk_scores)
        with transaction.atomic():
            for entry in (
                # of=self: an entry's item is optional (account cases), so the join is outer, and PostgreSQL
                # cannot lock its nullable side; the entry lock is the one decisions take too.
                QueueEntry.objects.select_for_update(of=("self",))
                .filter(pk__in=[e.pk for e in entries], status=QueueEntry.Status.PENDING)
                .select_related("item")
            ):
                decision = route(facts[entry.item_id], rules, default_queue_id=fallback.pk)
                target = queues.get(decision.queue_id) if decision.action == "route" else None
                item_scores = risk_scores.get(entry.item_id, {})
                if target is None or target.pk == entry.queue_id:
                    explore_at = exploration_point(entry.item_id, entry.queue, weight=weights[entry.item_id])
                    refreshed = new_entry(
                        item=entry.item, queue=entry.queue, scores=item_scores, severities=severities,
                        selection=QueueEntry.Selection.ROUTED if explore_at is None else QueueEntry.Selection.EXPLORE,
                        enqueued_at=entry.enqueued_at, sort_risk=explore_at,
                    )  # fmt: skip
                    entry.risk, entry.risk_category, entry.sort_key, entry.selection = (
                        refreshed.risk, refreshed.risk_category, refreshed.sort_key, refreshed.selection,
                    )  # fmt: skip
                    entry.save(update_fields=["risk", "risk_category", "sort_key", "selection"])
                    continue
                entry.status, entry.closed_at = QueueEntry.Status.MOVED, timezone.now()
                entry.save(update_fields=["status", "closed_at"])
                explore_at = exploration_point(entry.item_id, target, weight=weights[entry.item_id])
                new_entry(
                    item=entry.item, queue=target, scores=item_scores, severities=severities,
                    selection=QueueEntry.Selection.ROUTED if explore_at is None else QueueEntry.Selection.EXPLORE,
                    enqueued_at=entry.enqueued_at, sort_risk=explore_at, rule_id=decision.rule_id,
                    experiment_id=entry.experiment_id, arm=entry.arm,
                ).save()  # fmt: skip
                moved += 1


def score_unscored_items(items: list[Item], active: list[int]) -> None:
    """Score those of ``items`` (authors selected) that have no score from the ``active`` versions; a failed item
    that scores now loses its failure reason."""
    from classifiers.runtime import Content, score_contents

    scored = set(
        Score.objects.filter(item_id__in=[i.pk for i in items], model_version__in=active).values_list(
            "item_id", flat=True
        )
    )
    unscored = [i for i in items if i.pk not in scored]
    if unscored:
        report = score_contents(
            [
                Content(item_id=i.pk, text=i.text, image_name=i.image.name, author=i.author.key if i.author else "")
                for i in unscored
            ]
        )
        recovered = [i.pk for i in unscored if i.failure_reason and i.pk not in report.failures]
        Item.objects.filter(id__in=recovered).update(failure_reason="", scored_at=timezone.now())


def score_held_items(active: list[int], *, item_ids: list[int] | None = None) -> None:
    """Give items a reviewer holds the active versions' scores. Their claim stands (they are not rerouted); without
    this an item held while a version went live showed only the earlier version's scores (``review.selectors``)
    to the reviewer deciding it."""
    held = Item.objects.filter(entries__status=QueueEntry.Status.CLAIMED).select_related("author").distinct()
    if item_ids is not None:
        held = held.filter(id__in=item_ids)
    score_unscored_items(list(held), active)


def interleave_explored_entries(queue: Queue, uncertainty: dict[int, float | None]) -> int:
    """Give ``queue``'s pending explored entries keys that serve them at ``explore_rate`` of the service.

    Most uncertain first (``uncertainty`` by item id, as ``uncertainty_of`` gives it), then in their
    random exploration order. Without this an explored entry's position is a uniform draw on the
    risk scale, and how often explored entries come up depends on how the queue's risks are spread:
    in bench/learning_loop.py, where no risk passes 0.4, 279 of the first 400 items served were
    explored and then almost none. Returns how many keys were set.
    """
    if queue.ordering != Queue.Ordering.RISK or queue.explore_rate <= 0:
        return 0
    pending = QueueEntry.objects.filter(queue=queue, status=QueueEntry.Status.PENDING)
    explored = list(pending.filter(selection=QueueEntry.Selection.EXPLORE).values_list("pk", "item_id", "sort_key"))
    if not explored:
        return 0
    others = list(
        pending.exclude(selection=QueueEntry.Selection.EXPLORE).order_by("sort_key").values_list("sort_key", flat=True)
    )
    explored.sort(key=lambda row: (-(uncertainty.get(row[1]) or 0.0), row[2], row[0]))
    keys = interleaved_keys(others, len(explored), queue.explore_rate)
    with transaction.atomic():
        for (pk, _, _), key in zip(explored, keys, strict=True):
            QueueEntry.objects.filter(
                pk=pk, status=QueueEntry.Status.PENDING, selection=QueueEntry.Selection.EXPLORE
            ).update(sort_key=key)
    return len(explored)


def sample_queue_depths() -> int:
    """Record every queue's pending count and deadline breaches now (for the depth-over-time chart)."""
    from django.db.models import Count

    from queues.models import QueueDepthSample

    now = timezone.now()
    pending = Q(entries__status=QueueEntry.Status.PENDING)
    rows = Queue.objects.annotate(
        pending=Count("entries", filter=pending),
        late=Count("entries", filter=pending & Q(entries__deadline_at__lt=now)),
    )
    QueueDepthSample.objects.bulk_create(
        [QueueDepthSample(queue=q, taken_at=now, pending=q.pending, past_deadline=q.late) for q in rows]
    )
    return len(rows)
