"""Routing scored items into queues with the database: entries, keys, auto-actions, groups."""

from datetime import timedelta

import pytest
from django.utils import timezone

from classifiers.models import ModelVersion, PolicyCategory, Score
from intake.models import Item
from intake.payloads import AuthorSubmission, ItemSubmission, ReportSubmission
from intake.submission import submit_items
from queues import enqueue
from queues.enqueue import route_items
from queues.models import Decision, Queue, QueueEntry, RoutingRule
from tests.factories import make_queue

pytestmark = pytest.mark.django_db

SCAM = (
    "Congratulations! You have been selected to receive a free iPhone. To claim your prize, send your full name, "
    "address and card number to our verification team within 24 hours or the offer expires."
)


def ingest(external_id: str, text: str, **fields) -> Item:
    [result] = submit_items(submissions=[ItemSubmission(source="t", external_id=external_id, text=text, **fields)])
    return Item.objects.get(pk=result.item_id)


def score(item: Item, from_prior: bool = False, **probabilities: float) -> Item:
    version = ModelVersion.objects.get(kind="text", status="active")
    for category in PolicyCategory.objects.all():
        Score.objects.create(
            item_id=item.pk, model_version=version, category=category,
            probability=probabilities.get(category.slug, 0.0), from_prior=from_prior,
        )  # fmt: skip
    Item.objects.filter(pk=item.pk).update(state=Item.State.SCORED)
    return item


def test_items_are_routed_by_rule_with_risk_and_driving_category_and_the_rest_by_default():
    scams = make_queue(name="Scams", deadline=timedelta(hours=1))
    RoutingRule.objects.create(
        name="scams", position=1, queue=scams, conditions=[{"field": "score.scam_fraud", "op": ">=", "value": 0.7}]
    )
    hit = score(ingest("a", SCAM), scam_fraud=0.9, spam=0.95)
    miss = score(ingest("b", "hello there, nice stream"), spam=0.1)
    route_items(item_ids=[hit.pk, miss.pk])
    entry = QueueEntry.objects.get(item=hit)
    assert entry.queue == scams and entry.status == "pending"
    assert entry.risk_category == "scam_fraud" and entry.risk == pytest.approx(0.9 * 4 / 5)
    assert entry.deadline_at - entry.enqueued_at == timedelta(hours=1)
    assert QueueEntry.objects.get(item=miss).queue.is_default
    assert set(Item.objects.values_list("state", flat=True)) == {"queued"}


def test_routing_twice_does_nothing_the_second_time():
    item = score(ingest("a", "some text here for routing"))
    route_items(item_ids=[item.pk])
    route_items(item_ids=[item.pk])
    assert QueueEntry.objects.filter(item=item).count() == 1


def test_conditions_see_reports_author_age_and_metadata():
    fresh = make_queue(name="New accounts")
    RoutingRule.objects.create(
        name="new+reported", position=1, queue=fresh,
        conditions=[
            {"field": "author_account_age_days", "op": "<", "value": 7},
            {"field": "report_reason", "op": "contains", "value": "scam_fraud"},
            {"field": "metadata.surface", "op": "==", "value": "dm"},
        ],
    )  # fmt: skip
    from django.utils import timezone

    author = AuthorSubmission(external_id="u1", account_created_at=timezone.now() - timedelta(days=2))
    item = score(
        ingest("a", "hi", author=author, metadata={"surface": "dm"}, reports=[ReportSubmission(reason="scam_fraud")])
    )
    route_items(item_ids=[item.pk])
    assert QueueEntry.objects.get(item=item).queue == fresh


def test_auto_remove_decides_without_a_human_except_the_sampled_share():
    qa = make_queue(name="QA")
    RoutingRule.objects.create(
        name="obvious spam", position=1, action="auto_remove", sample_rate=0.2, qa_queue=qa,
        conditions=[{"field": "score.spam", "op": ">=", "value": 0.98}],
    )  # fmt: skip
    items = [score(ingest(f"s{i}", f"buy now number {i} cheap pills"), spam=0.99) for i in range(100)]
    route_items(item_ids=[i.pk for i in items])
    sampled = QueueEntry.objects.filter(queue=qa, selection="sampled").count()
    assert Decision.objects.filter(automatic=True, action="remove").count() == 100
    assert 8 <= sampled <= 35
    assert Item.objects.filter(state="decided").count() == 100 - sampled


def test_an_item_whose_scoring_failed_still_reaches_a_reviewer():
    RoutingRule.objects.create(name="approve all", position=1, action="auto_approve", conditions=[])
    item = ingest("broken", "   ")
    Item.objects.filter(pk=item.pk).update(state=Item.State.FAILED, failure_reason="The text is empty")
    route_items(item_ids=[item.pk])
    entry = QueueEntry.objects.get(item=item)
    assert entry.queue.is_default
    assert Item.objects.get(pk=item.pk).failure_reason == "The text is empty"


def test_near_duplicates_of_a_pending_item_join_its_group():
    first = score(ingest("a", SCAM))
    route_items(item_ids=[first.pk])
    copy = score(ingest("b", SCAM.replace("24 hours", "48 hours")))
    unrelated = score(ingest("c", "Thanks for the stream yesterday, the new song sounded great and the chat was fun."))
    route_items(item_ids=[copy.pk, unrelated.pk])
    first.refresh_from_db()
    copy.refresh_from_db()
    unrelated.refresh_from_db()
    assert first.duplicate_group == copy.duplicate_group == first.pk
    assert unrelated.duplicate_group is None


def test_a_near_duplicate_joins_the_group_of_a_claimed_item_but_not_of_a_reviewed_one():
    reviewed = score(ingest("done", SCAM))
    claimed = score(ingest("held", SCAM.replace("free iPhone", "free laptop")))
    route_items(item_ids=[reviewed.pk])
    route_items(item_ids=[claimed.pk])
    claimed.refresh_from_db()
    assert claimed.duplicate_group == reviewed.pk  # both were pending: one group
    # A second wave, once the first item is reviewed and the second is in a reviewer's hands.
    QueueEntry.objects.filter(item=reviewed).update(status=QueueEntry.Status.DONE)
    QueueEntry.objects.filter(item=claimed).update(status=QueueEntry.Status.CLAIMED)
    Item.objects.filter(pk__in=[reviewed.pk, claimed.pk]).update(duplicate_group=None)
    copy = score(ingest("copy", SCAM.replace("24 hours", "48 hours")))
    route_items(item_ids=[copy.pk])
    copy.refresh_from_db()
    reviewed.refresh_from_db()
    assert copy.duplicate_group == claimed.pk  # the claimed item is still open; the reviewed one is not a candidate
    assert reviewed.duplicate_group is None


def test_near_duplicates_within_one_batch_form_one_group_in_a_bounded_number_of_queries(django_assert_max_num_queries):
    first = score(ingest("a", SCAM))
    route_items(item_ids=[first.pk])
    copies = [score(ingest(f"copy-{n}", SCAM.replace("24 hours", f"{n + 30} hours"))) for n in range(12)]
    # Routing used to read and save once per item; the batch's groups now cost the same few statements at any size.
    with django_assert_max_num_queries(30):
        route_items(item_ids=[copy.pk for copy in copies])
    groups = set(
        Item.objects.filter(pk__in=[c.pk for c in copies] + [first.pk]).values_list("duplicate_group", flat=True)
    )
    assert groups == {first.pk}


def test_near_duplicates_arriving_together_name_their_group_after_the_oldest():
    items = [score(ingest(f"twin-{n}", SCAM.replace("24 hours", f"{n + 2} days"))) for n in range(3)]
    route_items(item_ids=[item.pk for item in items])
    groups = set(Item.objects.filter(pk__in=[i.pk for i in items]).values_list("duplicate_group", flat=True))
    assert groups == {min(item.pk for item in items)}


def test_promoting_a_model_reroutes_pending_items_keeping_their_deadline_clock(django_capture_on_commit_callbacks):
    from classifiers.services import register_model_version, set_model_version_status
    from queues.enqueue import reroute_pending_items

    spam_queue = make_queue(name="Spam")
    RoutingRule.objects.create(
        name="spam", position=1, queue=spam_queue, conditions=[{"field": "score.spam", "op": ">=", "value": 0.8}]
    )
    item = score(ingest("a", "limited offer buy followers now"), spam=0.9)
    held = score(ingest("h", "cheap followers, limited offer"), spam=0.9)
    route_items(item_ids=[item.pk, held.pk])
    QueueEntry.objects.filter(item=held).update(status="claimed")  # a reviewer has it open
    before = QueueEntry.objects.get(item=item)
    assert before.queue == spam_queue

    candidate = register_model_version(name="text-2", kind="text", architecture="all-MiniLM-L6-v2")
    for category in PolicyCategory.objects.all():
        Score.objects.create(
            item_id=item.pk, model_version=candidate, category=category, probability=0.05, from_prior=False
        )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        set_model_version_status(version=candidate, status="active")
    assert callbacks, "activation must announce itself after commit so pending items get re-routed"

    # A pending account case (an entry without an item) in the same pass: it stays where it is, and the items
    # are still rerouted (it used to fail the whole pass, so no item was rerouted after an activation).
    now = timezone.now()
    case = QueueEntry.objects.create(queue=spam_queue, sort_key=0, enqueued_at=now, deadline_at=now + timedelta(days=1))
    assert reroute_pending_items() == 1
    assert QueueEntry.objects.get(pk=case.pk).status == "pending"
    # The held item keeps its claim and gets the new version's scores (the work view shows the active ones only).
    assert QueueEntry.objects.get(item=held).status == "claimed"
    assert Score.objects.filter(item_id=held.pk, model_version=candidate).count() == PolicyCategory.objects.count()
    after = QueueEntry.objects.get(item=item, status="pending")
    assert after.queue.is_default
    assert after.enqueued_at == before.enqueued_at
    assert QueueEntry.objects.get(pk=before.pk).status == "moved"


def test_cold_start_priors_count_half_in_risk_so_a_confident_trained_score_comes_first(settings):
    settings.RISK_PRIOR_WEIGHT = 0.5
    # Exploration would serve one of the two at a random point, chosen by a hash of its id (which the
    # database sequence decides): this test is about risk order alone.
    Queue.objects.filter(is_default=True).update(explore_rate=0)
    trained = score(ingest("t", "buy followers now cheap"), spam=0.99)  # risk 0.99 * 2/5 = 0.396
    prior = score(ingest("p", "from heaven, a poem"), from_prior=True, self_harm=0.64)  # 0.64 * 5/5 * 0.5 = 0.32
    route_items(item_ids=[trained.pk, prior.pk])
    entries = {e.item_id: e for e in QueueEntry.objects.all()}
    assert entries[trained.pk].risk == pytest.approx(0.396)
    assert entries[prior.pk].risk == pytest.approx(0.32)
    assert entries[trained.pk].sort_key < entries[prior.pk].sort_key


def test_exploration_serves_a_stable_share_of_routed_items_at_a_random_position():
    from queues.enqueue import exploration_point

    risk_queue = Queue(name="r", slug="r", ordering=Queue.Ordering.RISK, explore_rate=0.1)
    points = [exploration_point(item_id, risk_queue) for item_id in range(1, 10_001)]
    explored = [p for p in points if p is not None]
    assert 900 <= len(explored) <= 1100  # 10 % of 10,000, within ~3 standard deviations
    assert min(explored) < 0.1 and max(explored) > 0.9  # spread over every position
    assert points == [exploration_point(item_id, risk_queue) for item_id in range(1, 10_001)]  # stable
    assert exploration_point(7, Queue(name="u", slug="u", ordering=Queue.Ordering.UNCERTAIN, explore_rate=1)) is None
    assert exploration_point(7, Queue(name="z", slug="z", ordering=Queue.Ordering.RISK, explore_rate=0)) is None


def test_an_explored_item_is_served_at_the_risk_of_a_random_recent_arrival_and_shows_its_real_risk():
    from queues.enqueue import exploration_point, recent_risks, risk_at
    from queues.entries import sort_key_for

    queue = make_queue(name="Explored")
    RoutingRule.objects.create(name="all", position=1, queue=queue, conditions=[])
    earlier = [score(ingest(f"e-{n}", f"an earlier post number {n}"), spam=n / 10) for n in range(10)]
    route_items(item_ids=[item.pk for item in earlier])  # explore_rate 0: routed by risk
    Queue.objects.filter(pk=queue.pk).update(explore_rate=1.0)
    queue.refresh_from_db()
    # Scored by the prior alone, so explored for certain at rate 1 (no learned uncertainty to weigh).
    item = score(ingest("x-1", SCAM), from_prior=True, scam_fraud=0.9)
    route_items(item_ids=[item.pk])
    entry = QueueEntry.objects.get(item=item)
    assert entry.selection == QueueEntry.Selection.EXPLORE
    assert entry.risk == pytest.approx(0.36)  # the item's own risk (a prior's counts half), shown to the reviewer
    risks = recent_risks(queue, also=[])
    assert sorted(risks) == pytest.approx(sorted([n / 10 * 2 / 5 for n in range(10)] + [0.36]))
    served_at = risk_at(exploration_point(item.pk, queue), risks)
    assert served_at in risks
    expected = sort_key_for(queue, risk=served_at, scores={}, enqueued_at=entry.enqueued_at)
    assert entry.sort_key == pytest.approx(expected, abs=1e-9)


def test_risk_at_ranks_highest_first():
    from queues.enqueue import risk_at

    risks = [0.1, 0.2, 0.3, 0.4]
    assert [risk_at(position, risks) for position in (0.0, 0.25, 0.5, 0.99)] == [0.4, 0.3, 0.2, 0.1]


def test_items_arriving_one_by_one_are_explored_where_the_model_is_unsure(settings):
    """Each item is routed alone, as live traffic is: its weight must not be measured against itself."""
    Queue.objects.filter(is_default=True).update(explore_rate=0.5)
    sure, unsure = [], []
    for n in range(200):
        is_unsure = n % 5 == 0
        item = score(ingest(f"live-{n}", f"a live post, number {n}"), spam=0.5 if is_unsure else 0.99)
        route_items(item_ids=[item.pk])
        (unsure if is_unsure else sure).append(item.pk)
    explored = set(QueueEntry.objects.filter(selection=QueueEntry.Selection.EXPLORE).values_list("item_id", flat=True))
    # The typical uncertainty is about 0.2: a sure item (0.02) weighs the floor, 0.1, and is explored
    # with probability 0.05; an unsure one (1.0) for certain (but the first few, while the latest scores
    # are theirs alone). Measured against itself, each had 0.5.
    assert len(explored & set(sure)) / len(sure) < 0.15
    assert len(explored & set(unsure)) / len(unsure) > 0.9


def test_explored_arrivals_do_not_jump_a_backlog_whose_risks_are_low():
    """Real risks cluster low (spam is severity 2: at most 0.4); explored items must not land ahead of them all."""
    backlog = [score(ingest(f"b-{n}", f"a waiting post {n}"), from_prior=True, spam=(n % 40) / 40) for n in range(120)]
    Queue.objects.filter(is_default=True).update(explore_rate=0)
    route_items(item_ids=[item.pk for item in backlog])
    first_key = min(QueueEntry.objects.values_list("sort_key", flat=True))
    Queue.objects.filter(is_default=True).update(explore_rate=1.0)
    arrivals = [score(ingest(f"a-{n}", f"a new post {n}"), from_prior=True, spam=0.1) for n in range(60)]
    for item in arrivals:
        route_items(item_ids=[item.pk])
    keys = list(QueueEntry.objects.filter(item__in=arrivals).values_list("sort_key", flat=True))
    assert len(keys) == 60
    assert QueueEntry.objects.filter(item__in=arrivals, selection=QueueEntry.Selection.EXPLORE).count() == 60
    # Placed among the backlog's risks, about one in 120 goes first; on a uniform 0-1 scale, 60 % did.
    assert sum(key < first_key for key in keys) <= 6


def test_a_trained_model_explores_mostly_where_it_is_unsure_and_keeps_the_overall_share():
    from queues.enqueue import exploration_point, exploration_weights

    queue = Queue(name="r", slug="r", ordering=Queue.Ordering.RISK, explore_rate=0.1)
    ids = list(range(1, 20_001))
    # A fifth of the items sit near 0.5 for the trained head; the rest it is sure of, either way.
    learned = {i: {"spam": 0.5 if i % 5 == 0 else (0.99 if i % 2 else 0.01)} for i in ids}
    weights = exploration_weights(learned, ids)
    explored = {i for i in ids if exploration_point(i, queue, weight=weights[i]) is not None}
    unsure = {i for i in ids if i % 5 == 0}
    assert len(explored & unsure) / len(unsure) > 0.4  # plain exploration would take 10 % of them
    assert len(explored - unsure) / (len(ids) - len(unsure)) < 0.02  # but sure items are still explored
    assert len(explored - unsure) > 0
    assert 0.08 * len(ids) <= len(explored) <= 0.14 * len(ids)  # about explore_rate of the items overall

    cold = exploration_weights({}, ids)  # the cold-start prior alone: nothing learned, plain exploration
    assert set(cold.values()) == {1.0}


def test_interleaved_keys_serve_one_explored_entry_after_every_nine_others_at_a_tenth():
    from queues.enqueue import interleaved_keys

    others = [float(k) for k in range(90)]
    keys = interleaved_keys(others, 12, 0.1)
    served = sorted([(k, "other") for k in others] + [(k, "explored") for k in keys])
    positions = [n for n, (_, kind) in enumerate(served) if kind == "explored"]
    assert positions[:9] == [9, 19, 29, 39, 49, 59, 69, 79, 89]  # every tenth item served
    assert positions[9:] == [99, 100, 101]  # the rest after the others, in their order
    assert keys == sorted(keys)
    assert interleaved_keys(others, 3, 1.0) == sorted(interleaved_keys(others, 3, 1.0))
    assert max(interleaved_keys(others, 3, 1.0)) < others[0]  # explore everything: explored first


def test_rerouting_serves_explored_entries_at_the_explore_rate_most_uncertain_first():
    from queues.enqueue import reroute_pending_items

    queue = make_queue(name="Explore a quarter", explore_rate=0.25)
    RoutingRule.objects.create(name="all", position=1, queue=queue, conditions=[])
    sure = [score(ingest(f"s-{n}", f"buy cheap followers now, offer {n}"), spam=0.99) for n in range(16)]
    unsure = [
        score(ingest(f"u-{n}", f"is this a sale, question {n}"), spam=p) for n, p in enumerate([0.5, 0.48, 0.55, 0.42])
    ]
    route_items(item_ids=[item.pk for item in sure + unsure])

    # Uncertainty 1, 0.96, 0.9 and 0.84 against a mean of 0.2: each unsure item is explored for certain,
    # whatever its id; a sure one with probability 0.025 (it would come last).
    reroute_pending_items()
    served = list(QueueEntry.objects.filter(queue=queue, status="pending").order_by("sort_key"))
    assert len(served) == 20
    explored_at = [n for n, entry in enumerate(served) if entry.selection == QueueEntry.Selection.EXPLORE]
    # Every fourth item served is explored, the most uncertain first; the risk order serves the rest.
    assert [served[n].item_id for n in (3, 7, 11, 15)] == [item.pk for item in unsure]
    assert set(explored_at) >= {3, 7, 11, 15}
    assert all(served[n].selection == QueueEntry.Selection.ROUTED for n in (0, 1, 2, 4, 5, 6))
    assert {served[n].item_id for n in (0, 1, 2)} <= {item.pk for item in sure}


def test_the_typical_uncertainty_is_measured_on_the_latest_items_and_reused_for_a_while(settings, monkeypatch):

    monkeypatch.setattr(enqueue, "_typical", None)
    assert enqueue.typical_uncertainty() is None  # nothing learned yet: small batches weigh against themselves
    settings.EXPLORATION_TYPICAL_SECONDS = 60
    for n in range(4):
        score(ingest(f"m-{n}", f"a measured post {n}"), spam=0.5 if n == 0 else 0.9)  # uncertainty 1, then 0.2
    monkeypatch.setattr(enqueue, "_typical", None)
    assert enqueue.typical_uncertainty() == pytest.approx((1.0 + 3 * 0.2) / 4)
    score(ingest("m-late", "a later, confident post"), spam=0.99)
    assert enqueue.typical_uncertainty() == pytest.approx((1.0 + 3 * 0.2) / 4)  # reused within the minute
    active, _, value = enqueue._typical
    monkeypatch.setattr(enqueue, "_typical", (active, 0.0, value))  # the minute is over
    assert enqueue.typical_uncertainty() == pytest.approx((1.0 + 3 * 0.2 + 0.02) / 5)

    # A promotion changes the active versions: the next small batch measures again at once.
    ModelVersion.objects.filter(kind="text", status="active").update(status="retired")
    promoted = ModelVersion.objects.create(kind="text", name="text-next", status="active")
    assert enqueue.typical_uncertainty() is None  # the new version has scored nothing yet
    assert promoted.pk in enqueue._typical[0]


def test_the_resigning_migration_gives_waiting_items_current_signatures_and_keeps_the_rest():
    # queues 0022: signatures written by the old 5-gram hash agree with new ones only by chance, so the items a
    # new arrival is compared with (those with an open entry) are signed again; their image keys stay.
    from importlib import import_module

    from django.apps import apps

    from queues import near_duplicates
    from queues.models import ItemSignature, NearDuplicateKey

    resign = import_module("queues.migrations.0022_resign_open_items_text_minhash").resign
    waiting, reviewed = score(ingest("waiting", SCAM)), score(ingest("reviewed", SCAM + " Reply today."))
    route_items(item_ids=[waiting.pk, reviewed.pk])
    QueueEntry.objects.filter(item=reviewed).update(status=QueueEntry.Status.DONE)
    stale = bytes(512)
    ItemSignature.objects.filter(item_id__in=[waiting.pk, reviewed.pk]).update(text_minhash=stale)
    NearDuplicateKey.objects.filter(item_id__in=[waiting.pk, reviewed.pk]).delete()
    for item in (waiting, reviewed):
        NearDuplicateKey.objects.create(item=item, key=12345)  # an old text key
        NearDuplicateKey.objects.create(item=item, key=-(2**62))  # an image key (top bit set)

    resign(apps, None)

    signature = near_duplicates.text_minhash(SCAM)
    assert bytes(ItemSignature.objects.get(item=waiting).text_minhash) == signature
    assert set(NearDuplicateKey.objects.filter(item=waiting).values_list("key", flat=True)) == {
        *near_duplicates.text_band_keys(signature),
        -(2**62),
    }
    assert bytes(ItemSignature.objects.get(item=reviewed).text_minhash) == stale
    assert set(NearDuplicateKey.objects.filter(item=reviewed).values_list("key", flat=True)) == {12345, -(2**62)}
