"""Flagged content as it arrives: items, their authors, the reports against them, and API tokens."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from classifiers.models import ModelVersion


class Author(models.Model):
    """The account that posted an item, as the sending platform knows it."""

    source = models.CharField(max_length=64)
    external_id = models.CharField(max_length=255)
    handle = models.CharField(max_length=255, blank=True)
    account_created_at = models.DateTimeField(null=True, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="author_unique_per_source")]
        # The API filters items by author id alone (any source): without this, a scan of every author.
        indexes = [models.Index(fields=["external_id"], name="author_external_id")]

    def __str__(self) -> str:
        return self.handle or f"{self.source}:{self.external_id}"


class Item(models.Model):
    """A piece of flagged content: text, an image, or both."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        SCORING = "scoring", "Scoring"
        SCORED = "scored", "Scored"
        QUEUED = "queued", "Queued"
        DECIDED = "decided", "Decided"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        IMAGE = "image", "Image"
        TEXT_AND_IMAGE = "text_and_image", "Text and image"

    source = models.CharField(max_length=64, help_text="Which platform or surface sent the item.")
    external_id = models.CharField(max_length=255, help_text="The item's id on the sending platform.")
    author = models.ForeignKey(Author, null=True, blank=True, on_delete=models.PROTECT, related_name="items")
    text = models.TextField(blank=True)
    image = models.FileField(blank=True, max_length=255)
    image_sha256 = models.CharField(max_length=64, blank=True)
    image_bytes = models.PositiveIntegerField(null=True, blank=True)
    image_format = models.CharField(max_length=8, blank=True)
    image_width = models.PositiveIntegerField(null=True, blank=True)
    image_height = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    failure_reason = models.TextField(blank=True, help_text="Why scoring failed, in words a reviewer can read.")
    report_count = models.PositiveIntegerField(default=0)
    # Scoring is claimed under a lease: a worker that dies leaves a lease that expires, and the
    # sweeper hands the item to another worker. The token tells a worker whether it still holds it.
    scoring_token = models.UUIDField(null=True, blank=True, editable=False)
    scoring_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    scoring_attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    scored_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Perceptual hash of the image (the text's MinHash lives in ItemSignature), and the group of
    # pending near-duplicates the item joined when it was routed.
    image_phash = models.BigIntegerField(null=True, blank=True, editable=False)
    duplicate_group = models.BigIntegerField(null=True, blank=True, db_index=True, editable=False)
    # The ticket an integrator's ticketing system opened for the item (PUT /api/v1/items/{id}/ticket).
    ticket_id = models.CharField(max_length=255, blank=True)
    ticket_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="item_unique_per_source"),
            models.CheckConstraint(condition=~models.Q(text="") | ~models.Q(image=""), name="item_has_text_or_image"),
        ]
        indexes = [
            models.Index(fields=["state", "created_at"], name="item_state_created"),
            # The API lists items in (updated_at, id) order, the keyset of its cursor pages: these serve
            # the unfiltered list and the state filter straight from an index, with no sort.
            models.Index(fields=["updated_at", "id"], name="item_updated_id"),
            models.Index(fields=["state", "updated_at", "id"], name="item_state_updated_id"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"

    @property
    def kind(self) -> "Item.Kind":
        if self.text and self.image:
            return Item.Kind.TEXT_AND_IMAGE
        return Item.Kind.IMAGE if self.image else Item.Kind.TEXT


class Report(models.Model):
    """One user's report of an item. Repeat reports attach to the same item."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="reports")
    reporter_id = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=64, help_text="Reason code from the reporting platform, e.g. 'spam'.")
    text = models.TextField(blank=True)
    reported_at = models.DateTimeField()
    # Identity of the report, so that a re-sent report is recognised and counted once.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reported_at", "id"]
        constraints = [models.UniqueConstraint(fields=["item", "fingerprint"], name="report_unique_per_item")]

    def __str__(self) -> str:
        return f"{self.reason} on {self.item_id}"


def _hash_secret(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash is enough: there is nothing to brute-force,
    # and authenticating a request must stay cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a hash of the secret is kept."""

    class Scope(models.TextChoices):
        ITEMS_READ = "items:read", "Read items"
        ITEMS_WRITE = "items:write", "Create items"
        DECISIONS_WRITE = "decisions:write", "Claim and decide items (as the token's user)"
        DECISIONS_READ = "decisions:read", "Read decisions, labels, queues and categories"
        ADMIN = "admin", "Everything (implies every other scope)"

    PREFIX_LENGTH = 8

    name = models.CharField(max_length=100, help_text="Who or what uses the token, e.g. 'Zendesk bridge'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="Actions taken with the token are recorded as this user's.",
    )
    scopes = models.JSONField(default=list, help_text="What the token may do.")
    prefix = models.CharField(max_length=PREFIX_LENGTH, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def issue_secret(self) -> str:
        """Give the token a new secret and return it in full; it cannot be recovered later."""
        self.prefix = secrets.token_hex(self.PREFIX_LENGTH // 2)
        body = secrets.token_urlsafe(32)
        full = f"mod_{self.prefix}_{body}"
        self.secret_hash = _hash_secret(full)
        return full

    def matches(self, full_secret: str) -> bool:
        return secrets.compare_digest(self.secret_hash, _hash_secret(full_secret))

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or ApiToken.Scope.ADMIN in self.scopes

    @staticmethod
    def prefix_of(full_secret: str) -> str | None:
        parts = full_secret.split("_", 2)
        if len(parts) != 3 or parts[0] != "mod" or len(parts[1]) != ApiToken.PREFIX_LENGTH:
            return None
        return parts[1]


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
    # Quality control (queues.quality): see that module's docstring for how each share is drawn.
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

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="entries")
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
    # A second independent review must not go back to the first reviewer (queues.quality). Not the
    # skip fields: skipping the entry would overwrite them and hand it back to the first reviewer.
    excluded_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
        help_text="May not claim or decide this entry (the first reviewer of a second review).",
    )  # fmt: skip
    closed_at = models.DateTimeField(null=True, blank=True)
    # The A/B experiment that routed the item, and its arm (queues.experiments); a database default
    # too, so rows written by raw SQL (benchmarks) need not name these columns.
    experiment = models.ForeignKey(
        "Experiment", null=True, blank=True, on_delete=models.PROTECT, related_name="entries", db_index=False
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
    """A reviewer's (or an automatic rule's) decision on an item."""

    class Action(models.TextChoices):
        NO_VIOLATION = "no_violation", "No violation"
        REMOVE = "remove", "Remove"
        ESCALATE = "escalate", "Escalate"
        NEEDS_CONTEXT = "needs_context", "Needs more context"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="decisions")
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

    def __str__(self) -> str:
        return f"{self.get_action_display()} on item {self.item_id}"


class QAReview(models.Model):
    """A senior moderator's check of another reviewer's decision: agree, or overturn with the right call.

    One per decision. An overturn carries the action and categories the decision should have had,
    and its labels replace the decision's (see ``Label.superseded_by``).
    """

    class Verdict(models.TextChoices):
        AGREE = "agree", "Agree"
        OVERTURN = "overturn", "Overturn"

    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="qa_review")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="qa_reviews"
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    new_action = models.CharField(
        max_length=14, choices=Decision.Action.choices, blank=True, help_text="For an overturn: the right action."
    )
    categories = models.ManyToManyField(
        "classifiers.PolicyCategory", blank=True, related_name="qa_reviews", help_text="For an overturn."
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "QA review"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(verdict="agree", new_action="")
                | (models.Q(verdict="overturn") & ~models.Q(new_action="")),
                name="qa_overturn_has_action",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} on decision {self.decision_id}"


class LabelQuerySet(models.QuerySet):
    def current(self) -> "LabelQuerySet":
        """The labels training may use: those no QA overturn has replaced."""
        return self.filter(superseded_by__isnull=True)


class Label(models.Model):
    """One category's verdict on one item, from a decision: what retraining learns from.

    A senior's QA overturn does not edit or delete labels: it marks the decision's labels as
    superseded and writes new ones (``qa_review`` set, reviewer = the senior). Training reads
    ``Label.objects.current()`` only.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="labels")
    category = models.ForeignKey("classifiers.PolicyCategory", on_delete=models.CASCADE, related_name="labels")
    value = models.BooleanField(help_text="True: the item violates this category.")
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="labels")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    selection = models.CharField(max_length=16, choices=QueueEntry.Selection.choices, blank=True)
    qa_review = models.ForeignKey(
        QAReview, null=True, blank=True, on_delete=models.CASCADE, related_name="labels",
        help_text="The QA overturn that wrote this label; empty for the original reviewer's.",
    )  # fmt: skip
    superseded_by = models.ForeignKey(
        QAReview, null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded_labels",
        help_text="The QA overturn that replaced this label. Training uses only labels without one.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["decision", "category"],
                condition=models.Q(superseded_by__isnull=True),
                name="one_current_label_per_category",
            )
        ]
        # The API's cursor pages over current labels, in (created_at, id) order.
        indexes = [
            models.Index(
                fields=["created_at", "id"],
                condition=models.Q(superseded_by__isnull=True),
                name="label_current_created_id",
            )
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} {self.category_id}={self.value}"


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


class ReviewerPreference(models.Model):
    """Per-reviewer display settings."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_preference")
    blur_images = models.BooleanField(default=True, help_text="Show images blurred until revealed.")

    def __str__(self) -> str:
        return f"preferences of {self.user}"


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


class Experiment(models.Model):
    """An A/B test: a share of new items of one kind is routed by a candidate model's scores.

    An item's arm is a stable hash of the experiment and the item (``queues.experiments.arm_of``),
    so re-routing an item repeats its arm. The candidate scores every new item in ``shadow``
    status while the experiment runs; stopping the experiment leaves its status alone.
    """

    kind = models.CharField(max_length=8, choices=ModelVersion.Kind.choices)
    candidate = models.ForeignKey("classifiers.ModelVersion", on_delete=models.PROTECT, related_name="experiments")
    control = models.ForeignKey(
        "classifiers.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The active version of the kind when the experiment started (arm A).",
    )  # fmt: skip
    share = models.FloatField(help_text="Share of new items routed by the candidate (arm B), e.g. 0.2.")
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(stopped_at__isnull=True), name="one_running_experiment_per_kind"
            ),
            models.CheckConstraint(condition=models.Q(share__gt=0, share__lt=1), name="experiment_share_0_to_1"),
        ]

    def __str__(self) -> str:
        state = "running" if self.stopped_at is None else "stopped"
        return f"experiment {self.pk}: {self.candidate_id} on {self.share:.0%} of {self.kind} items ({state})"

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None


class ModelHealth(models.Model):
    """The latest monitoring verdict on one model version, written by a periodic task (queues.monitoring).

    The API and the pages read this row instead of recomputing: ``state`` is ``alert`` while live
    precision at the routing threshold is under ``MONITOR_PRECISION_FLOOR`` or the score
    distribution has drifted past ``MONITOR_DRIFT_THRESHOLD`` (PSI).
    """

    class State(models.TextChoices):
        OK = "ok", "OK"
        ALERT = "alert", "Alert"
        INSUFFICIENT = "insufficient", "Not enough labels yet"

    model_version = models.OneToOneField("classifiers.ModelVersion", on_delete=models.CASCADE, related_name="health")
    state = models.CharField(max_length=12, choices=State.choices, default=State.INSUFFICIENT)
    reasons = models.JSONField(default=list, blank=True, help_text="Why the state is what it is, in words.")
    precision = models.FloatField(null=True, blank=True, help_text="Live precision at the routing thresholds.")
    precision_support = models.PositiveIntegerField(default=0, help_text="Labelled items at or over a threshold.")
    recall = models.FloatField(null=True, blank=True)
    pr_auc = models.FloatField(null=True, blank=True)
    drift_psi = models.FloatField(null=True, blank=True, help_text="The largest PSI over categories.")
    drift_category = models.CharField(max_length=40, blank=True)
    drift_reference = models.CharField(max_length=200, blank=True, help_text="What the live scores were compared with.")
    details = models.JSONField(default=dict, blank=True, help_text="Per-category figures.")
    window_start = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()
    state_since = models.DateTimeField(help_text="When the state last changed.")

    class Meta:
        verbose_name = "model health"
        verbose_name_plural = "model health"

    def __str__(self) -> str:
        return f"{self.model_version_id}: {self.get_state_display()}"


class GoldItem(models.Model):
    """An item with a known answer, mixed into queues at their ``gold_rate`` to measure reviewer accuracy.

    Decisions on gold entries write no labels (queues.quality): the answer is already known, and
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


class GoldAnswer(models.Model):
    """A reviewer's decision on a gold entry, scored against the known answer."""

    decision = models.OneToOneField(Decision, on_delete=models.CASCADE, related_name="gold_answer")
    gold_item = models.ForeignKey(GoldItem, on_delete=models.CASCADE, related_name="answers")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action_correct = models.BooleanField()
    categories_correct = models.BooleanField()
    correct = models.BooleanField(help_text="Both the action and the categories match the known answer.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"gold answer on item {self.gold_item.item_id}: {'right' if self.correct else 'wrong'}"
