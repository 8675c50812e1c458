"""Review queues and what flows through them: queues, routing rules, queue entries, decisions, gold items,
near-duplicate signatures and depth samples."""

from datetime import timedelta

from django.conf import settings
from django.db import models

from intake.models import Item


class Queue(models.Model):
    """A review queue: who works it, how fast items must be decided, and in which order they come."""

    class Ordering(models.TextChoices):
        RISK = "risk", "Highest risk first (aged towards the deadline)"
        UNCERTAIN = "uncertain", "Most uncertain first (for labelling)"
        OLDEST = "oldest", "Oldest first"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="moderation_queues")
    member_groups = models.ManyToManyField("auth.Group", blank=True, related_name="moderation_queues")
    deadline = models.DurationField(
        default=timedelta(hours=4), help_text="Service-level target from entering the queue to a decision."
    )
    ordering = models.CharField(max_length=10, choices=Ordering.choices, default=Ordering.RISK)
    is_default = models.BooleanField(default=False, help_text="Catches every item no routing rule matches.")
    # Quality control (review.second_review): see that module's docstring for how each share is drawn.
    second_review_rate = models.FloatField(
        default=0.0, help_text="Share of human decisions sent to a second, independent reviewer (0.1 = 10%)."
    )
    gold_rate = models.FloatField(
        default=0.0, help_text="Share of the queue's items that are gold items with a known answer (at most 0.5)."
    )
    # 0.25: the learning-from-nothing benchmark reaches the all-labels F1 within 2 points at 1,000 decisions in
    # 58 of 60 replayed draws at 0.25 and 55 of 60 at 0.2 (bench/learning_loop_replay.py), and in every real run
    # at 0.25 (bench/RESULTS.md, "Learning from nothing").
    explore_rate = models.FloatField(
        default=0.25,
        help_text=(
            "Risk-ordered queues: share of what reviewers are served that is chosen out of risk order, mostly where "
            "the model is unsure (0.25 = 25%), so retraining does not learn only from the model's own top picks."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_queue"
            ),
            models.CheckConstraint(
                condition=models.Q(second_review_rate__gte=0, second_review_rate__lte=1),
                name="queue_second_review_rate_0_to_1",
            ),
            models.CheckConstraint(condition=models.Q(gold_rate__gte=0, gold_rate__lte=0.5), name="queue_gold_rate"),
            models.CheckConstraint(
                condition=models.Q(explore_rate__gte=0, explore_rate__lte=1), name="queue_explore_rate_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """One ordered rule: when every condition holds, send the item to a queue or act automatically."""

    class Action(models.TextChoices):
        ROUTE = "route", "Send to a queue"
        AUTO_APPROVE = "auto_approve", "Approve automatically"
        AUTO_REMOVE = "auto_remove", "Remove automatically"

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0, help_text="Rules are tried in this order; the first match wins.")
    is_active = models.BooleanField(default=True)
    conditions = models.JSONField(
        default=list, blank=True, help_text='All must hold, e.g. [{"field": "score.sexual", "op": ">=", "value": 0.8}]'
    )
    action = models.CharField(max_length=12, choices=Action.choices, default=Action.ROUTE)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="rules")
    sample_rate = models.FloatField(default=0.0, help_text="For automatic actions: share still sent to QA (0.05 = 5%).")
    qa_queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="qa_rules")
    is_shadow = models.BooleanField(
        default=False,
        help_text="Shadow: acts on nothing, but records where it would have sent each new item (would-have counts).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sample_rate__gte=0, sample_rate__lte=1), name="rule_sample_rate_0_to_1"
            ),
            models.CheckConstraint(
                condition=~models.Q(action="route") | models.Q(queue__isnull=False), name="route_rule_has_queue"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class ShadowRouting(models.Model):
    """Where a shadow rule would have sent a newly routed item, next to where live routing sent it."""

    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="shadow_routings")
    item_id = models.BigIntegerField()
    would_action = models.CharField(max_length=12, choices=RoutingRule.Action.choices)
    would_queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    live_queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["rule", "created_at"], name="shadow_routing_rule_created")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} would route item {self.item_id}"


class QueueEntry(models.Model):
    """An item's stay in one queue: waiting, held by a reviewer under a lease, then closed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Decided"
        MOVED = "moved", "Moved to another queue"

    class Selection(models.TextChoices):
        ROUTED = "routed", "Routed by risk"
        SAMPLED = "sampled", "Sampled at random (QA)"
        UNCERTAINTY = "uncertainty", "Chosen for uncertainty"
        ESCALATED = "escalated", "Escalated"
        SECOND_REVIEW = "second_review", "Second independent review"
        GOLD = "gold", "Gold item (known answer)"
        EXPLORE = "explore", "Served at a random position (exploration)"

    class Arm(models.TextChoices):
        NONE = "", "Not in an experiment"
        A = "a", "A: routed by the active model"
        B = "b", "B: routed by the candidate"

    # Empty when the entry is for another subject of review: an account case points at its entry
    # (accounts.AccountCase.entry), so one claim-and-lease machinery serves both and queues knows no accounts.
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.CASCADE, related_name="entries")
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="entries")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    sort_key = models.FloatField(help_text="Ascending order of service, fixed when the item entered the queue.")
    risk = models.FloatField(default=0.0)
    risk_category = models.CharField(max_length=40, blank=True)
    selection = models.CharField(max_length=16, choices=Selection.choices, default=Selection.ROUTED)
    rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True, help_text="Why it was escalated here.")
    enqueued_at = models.DateTimeField()
    deadline_at = models.DateTimeField()
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    fencing_token = models.PositiveBigIntegerField(
        default=0, help_text="Raised on every claim; stale tokens are refused."
    )
    skipped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    skip_until = models.DateTimeField(null=True, blank=True)
    # A second independent review must not go back to the first reviewer (review.second_review). Not the
    # skip fields: skipping the entry would overwrite them and hand it back to the first reviewer.
    excluded_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
        help_text="May not claim or decide this entry (the first reviewer of a second review).",
    )  # fmt: skip
    closed_at = models.DateTimeField(null=True, blank=True)
    # For a second independent review: the closed entry whose decision it re-reviews. The first decision is
    # found through it for any subject (an account case's entries have no item to match on).
    second_review_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The A/B experiment that routed the item, and its arm (learning.experiments); a database default
    # too, so rows written by raw SQL (benchmarks) need not name these columns.
    experiment = models.ForeignKey(
        "classifiers.Experiment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
    )
    arm = models.CharField(max_length=1, choices=Arm.choices, blank=True, default="", db_default="")

    class Meta:
        verbose_name_plural = "queue entries"
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(status__in=["pending", "claimed"]), name="one_open_entry_per_item"
            ),
        ]
        indexes = [
            # Serves "the best unclaimed item of a queue" straight from the index, with no sort.
            models.Index(
                fields=["queue", "sort_key"], condition=models.Q(status="pending"), name="entry_pending_order"
            ),
            models.Index(fields=["lease_until"], condition=models.Q(status="claimed"), name="entry_claimed_lease"),
            models.Index(fields=["queue", "deadline_at"], condition=models.Q(status="pending"), name="entry_deadline"),
            models.Index(
                fields=["experiment", "arm"], condition=models.Q(experiment__isnull=False), name="entry_experiment_arm"
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} in {self.queue_id} ({self.status})"


class Decision(models.Model):
    """A reviewer's (or an automatic rule's) decision on an item, or on another subject reviewed in a queue.

    An account case's decision has no item: its subject is the case holding ``entry`` (``accounts``; queues
    knows no accounts). Its action is the verdict in the queues' words, so claims, second reviews, agreement
    and the throughput counts treat both alike: ``remove`` = a violation (the account was acted on; which
    action is the case's ``AccountAction``), ``no_violation`` = none, ``escalate`` = moved to another queue.
    """

    class Action(models.TextChoices):
        NO_VIOLATION = "no_violation", "No violation"
        REMOVE = "remove", "Remove"
        ESCALATE = "escalate", "Escalate"
        NEEDS_CONTEXT = "needs_context", "Needs more context"

    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.CASCADE, related_name="decisions")
    entry = models.ForeignKey(QueueEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="moderation_decisions"
    )
    action = models.CharField(max_length=14, choices=Action.choices)
    categories = models.ManyToManyField("classifiers.PolicyCategory", blank=True, related_name="decisions")
    note = models.TextField(blank=True)
    automatic = models.BooleanField(default=False, help_text="Taken by a routing rule, not a person.")
    applied_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="group_copies",
        help_text="The decision on another item of the near-duplicate group that this one copies.",
    )  # fmt: skip
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("review_decisions", "Can review other moderators' decisions")]
        # The API's cursor pages walk decisions in (created_at, id) order.
        indexes = [models.Index(fields=["created_at", "id"], name="decision_created_id")]
        constraints = [
            # A decision without an item is on the subject of its entry: it must keep one or the other.
            models.CheckConstraint(
                condition=models.Q(item__isnull=False) | models.Q(entry__isnull=False), name="decision_has_subject"
            ),
        ]

    def __str__(self) -> str:
        subject = f"item {self.item_id}" if self.item_id else f"entry {self.entry_id}"
        return f"{self.get_action_display()} on {subject}"


class GoldItem(models.Model):
    """An item with a known answer, mixed into queues at their ``gold_rate`` to measure reviewer accuracy.

    Decisions on gold entries write no labels (queues.gold): the answer is already known, and
    training on it again would double count it and bias the training set towards the gold pool.
    """

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="gold")
    expected_action = models.CharField(
        max_length=14,
        choices=[(Decision.Action.NO_VIOLATION, "No violation"), (Decision.Action.REMOVE, "Remove")],
        help_text="The right call.",
    )
    expected_categories = models.ManyToManyField(
        "classifiers.PolicyCategory", blank=True, related_name="gold_items", help_text="For a removal: the right ones."
    )
    queues = models.ManyToManyField(
        Queue, blank=True, related_name="gold_items", help_text="Serve only in these queues; empty: any queue."
    )
    note = models.TextField(blank=True, help_text="Why this is the answer (never shown to reviewers).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"gold: item {self.item_id} = {self.get_expected_action_display()}"


class ItemSignature(models.Model):
    """An item's text MinHash, kept out of the item row.

    Only routing reads it, and a binary column on ``Item`` would make Django give up its single
    UNNEST statement for bulk inserts on PostgreSQL (500 items would bind 11,500 parameters).
    """

    item = models.OneToOneField(Item, on_delete=models.CASCADE, primary_key=True, related_name="signature")
    text_minhash = models.BinaryField(editable=False)

    def __str__(self) -> str:
        return f"signature of item {self.item_id}"


class NearDuplicateKey(models.Model):
    """Locality-sensitive keys of an item's text and image: items sharing a key are near-duplicate candidates."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="near_duplicate_keys")
    key = models.BigIntegerField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "key"], name="near_duplicate_key_unique")]

    def __str__(self) -> str:
        return f"item {self.item_id} key {self.key}"


class QueueDepthSample(models.Model):
    """A periodic snapshot of a queue's depth, for the depth-over-time chart."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="depth_samples")
    taken_at = models.DateTimeField(db_index=True)
    pending = models.PositiveIntegerField()
    past_deadline = models.PositiveIntegerField()

    class Meta:
        ordering = ["taken_at"]

    def __str__(self) -> str:
        return f"{self.queue_id} @ {self.taken_at:%H:%M}: {self.pending}"


# Decisions that say whether an item violates policy (escalating or asking for context do not).
VERDICTS = (Decision.Action.NO_VIOLATION, Decision.Action.REMOVE)
# Entries quality control added: each is decided alone, never with its near-duplicate group.
QC_SELECTIONS = (QueueEntry.Selection.SECOND_REVIEW, QueueEntry.Selection.GOLD)
OPEN = (QueueEntry.Status.PENDING, QueueEntry.Status.CLAIMED)
