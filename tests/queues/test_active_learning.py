"""The labelling queue: uncertainty with diversity, re-ranked into precomputed keys, deterministically."""

import numpy as np
import pytest

from classifiers.models import Embedding, ModelVersion, PolicyCategory, Score
from intake.models import Item
from queues.active_learning import rerank_queue
from queues.diversity import diverse_order, uncertainty
from queues.models import Queue, QueueEntry
from review.claims import claim_next_item, release_item
from tests.factories import enqueue, make_item, make_queue, make_user

# The pure ordering

SAME = [1.0, 0.0, 0.0]
OTHER = [0.0, 1.0, 0.0]


def test_uncertainty_is_one_at_a_coin_flip_and_zero_when_sure():
    assert uncertainty(np.array([[0.5, 0.1], [0.9, 0.99], [1.0, 0.0]])) == pytest.approx([1.0, 0.2, 0.0])


def test_a_near_duplicate_of_an_earlier_pick_is_pushed_back():
    u = [1.0, 0.98, 0.9]
    assert diverse_order(u, np.array([SAME, SAME, OTHER]), take=3) == [0, 2, 1]
    assert diverse_order(u, np.array([SAME, SAME, OTHER]), take=3, weight=0.0) == [0, 1, 2]


def test_near_duplicate_groups_count_as_identical_without_vectors():
    assert diverse_order([1.0, 0.98, 0.9], None, take=3, groups=[7, 7, None]) == [0, 2, 1]
    assert diverse_order([1.0, 0.98, 0.9], None, take=3, groups=[None, None, None]) == [0, 1, 2]


def test_vectors_of_different_spaces_are_unrelated():
    vectors = np.array([SAME, SAME, SAME])
    assert diverse_order([1.0, 0.98, 0.9], vectors, take=3, spaces=["text", "image", "text"]) == [0, 1, 2]


def test_only_the_window_of_most_uncertain_items_competes():
    u = [0.1, 1.0, 0.99, 0.98, 0.2]
    vectors = np.array([OTHER, SAME, SAME, SAME, [0.0, 0.0, 1.0]])
    # window 3: items 1, 2, 3 (all alike); the diverse but sure items 0 and 4 never enter.
    assert diverse_order(u, vectors, take=2, window=3) == [1, 2]


def test_the_order_is_deterministic_and_ties_go_to_the_lowest_index():
    rng = np.random.default_rng(0)
    u, vectors = rng.random(300), rng.standard_normal((300, 16))
    assert diverse_order(u, vectors, take=50) == diverse_order(u.copy(), vectors.copy(), take=50)
    assert diverse_order([0.5, 0.5, 0.5], None, take=3) == [0, 1, 2]
    assert diverse_order([], None, take=3) == [] and diverse_order([0.5], None, take=0) == []


# Re-ranking a queue in the database


@pytest.fixture
def labelling(db):
    user = make_user(username="labeller")
    queue = make_queue(members=[user], name="Labeling", ordering=Queue.Ordering.UNCERTAIN)
    return queue, user


def scored(probability: float, vector: list[float], *, backbone: str = "sentence:test") -> Item:
    item = make_item()
    version = ModelVersion.objects.get(kind="text", status="active")
    for category in PolicyCategory.objects.filter(is_active=True):
        p = probability if category.slug == "spam" else 0.01
        Score.objects.create(item_id=item.pk, model_version=version, category=category, probability=p, from_prior=False)
    Embedding.objects.create(
        item_id=item.pk, backbone=backbone, dim=len(vector), vector=np.asarray(vector, np.float16).tobytes()
    )
    return item


def test_rerank_serves_a_near_duplicate_after_a_different_uncertain_item(labelling):
    queue, user = labelling
    first = scored(0.50, SAME)
    twin = scored(0.51, SAME)
    other = scored(0.56, OTHER)
    sure = scored(0.99, [0.0, 0.0, 1.0])
    for item in (first, twin, other, sure):
        enqueue(item, queue, sort_key=0.0)
    assert rerank_queue(queue=queue, take=2) == 2
    keys = dict(QueueEntry.objects.filter(queue=queue).values_list("item_id", "sort_key"))
    # The ranked block first; the rest get their plain key, min |p - 0.5|, back.
    assert keys[first.pk] < keys[other.pk] < 0 < keys[twin.pk] < keys[sure.pk]
    assert keys[twin.pk] == pytest.approx(0.01, abs=1e-6)
    served = []
    for _ in range(2):
        claim = claim_next_item(queue=queue, user=user)
        served.append(claim.item_id)
        release_item(entry_id=claim.entry_id, token=claim.token, user=user)
        QueueEntry.objects.filter(pk=claim.entry_id).update(skipped_by=None, skip_until=None, status="done")
    assert served == [first.pk, other.pk]


def test_rerank_is_deterministic_and_leaves_gold_and_second_reviews_alone(labelling):
    queue, _ = labelling
    rng = np.random.default_rng(3)
    items = [scored(float(rng.uniform(0.3, 0.7)), list(rng.standard_normal(8))) for _ in range(12)]
    for item in items:
        enqueue(item, queue, sort_key=0.25)
    gold = enqueue(make_item(), queue, sort_key=0.123, selection=QueueEntry.Selection.GOLD)
    rerank_queue(queue=queue, take=5)
    once = dict(QueueEntry.objects.filter(queue=queue).values_list("pk", "sort_key"))
    rerank_queue(queue=queue, take=5)
    twice = dict(QueueEntry.objects.filter(queue=queue).values_list("pk", "sort_key"))
    assert once == twice
    assert sorted(key for key in once.values() if key < 0) == pytest.approx([-1.0, -0.8, -0.6, -0.4, -0.2])
    assert once[gold.pk] == 0.123


def test_items_without_embeddings_are_ranked_by_uncertainty(labelling):
    queue, _ = labelling
    items = [make_item() for _ in range(3)]
    version = ModelVersion.objects.get(kind="text", status="active")
    spam = PolicyCategory.objects.get(slug="spam")
    for item, p in zip(items, (0.9, 0.5, 0.7), strict=True):
        Score.objects.create(item_id=item.pk, model_version=version, category=spam, probability=p, from_prior=False)
        enqueue(item, queue, sort_key=0.0)
    rerank_queue(queue=queue, take=3)
    order = list(QueueEntry.objects.filter(queue=queue).order_by("sort_key").values_list("item_id", flat=True))
    assert order == [items[1].pk, items[2].pk, items[0].pk]
