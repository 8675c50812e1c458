"""Policy categories: what the classifiers score and what reviewers decide against."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class PolicyCategory(models.Model):
    """One policy area (spam, hate, ...). Severity weights risk: 1 is minor, 5 is the gravest harm."""

    slug = models.SlugField(max_length=40, unique=True, help_text="Stable identifier used by the API and the models.")
    name = models.CharField(max_length=100)
    severity = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    description = models.TextField(
        help_text="The policy in plain words. The cold-start text model compares items with it, so be concrete."
    )
    seed_examples = models.TextField(
        blank=True,
        help_text=(
            "Examples of violating content, one per line. Before the category has labels, the text model scores "
            "items by how much more they read like these (and the description) than like ordinary text. Empty: "
            "the project's defaults for the seeded categories, the description alone for a new one."
        ),
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Order on screen and keyboard shortcut (1-9).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "slug"]
        verbose_name_plural = "policy categories"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(severity__gte=1, severity__lte=5), name="policy_category_severity_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (severity {self.severity})"

    @property
    def seed_example_list(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.seed_examples.splitlines() if line.strip())


class ModelVersion(models.Model):
    """One trained (or cold-start) classifier, with where it came from and how well it did.

    Exactly one version per kind is active: its scores drive routing. Shadow versions score every
    new item too, for comparison only. A version with no trained categories scores from the
    cold-start prior alone.
    """

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        IMAGE = "image", "Image"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        SHADOW = "shadow", "Shadow"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    architecture = models.CharField(max_length=100, help_text="Backbone, e.g. 'all-MiniLM-L6-v2' or a timm name.")
    backbone_file = models.FileField(blank=True, max_length=255, help_text="Backbone weights, if not built in.")
    backbone_sha256 = models.CharField(max_length=64, blank=True)
    artifact = models.FileField(blank=True, max_length=255, help_text="The trained head; empty for a prior-only model.")
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    categories = models.JSONField(default=list, blank=True, help_text="Slugs the trained head predicts.")
    training_snapshot = models.CharField(max_length=200, blank=True, help_text="The labelled data it was trained on.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out metrics per category.")
    provenance = models.JSONField(
        default=dict, blank=True, help_text="Where pretrained weights came from: package, version, file, sha256."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CANDIDATE)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(status="active"), name="one_active_model_version_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.get_status_display()})"

    @property
    def is_prior_only(self) -> bool:
        return not self.artifact


class Score(models.Model):
    """One model version's probability that one item violates one policy category.

    Items are known here only by id (DESIGN.md invariant 5), so ``item_id`` is a plain integer.
    """

    item_id = models.BigIntegerField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scores")
    category = models.ForeignKey(PolicyCategory, on_delete=models.CASCADE, related_name="scores")
    probability = models.FloatField()
    from_prior = models.BooleanField(help_text="True when the score comes from the cold-start prior, not training.")
    prior_source = models.CharField(
        max_length=40, blank=True, help_text="For a prior: the signal that raised it, or 'base rate' when none did."
    )
    author_shift = models.FloatField(
        null=True,
        blank=True,
        help_text="How far the author's earlier decisions moved this probability: it minus the same version's "
        "probability for the same text with no author. Empty when the version does not read authors or the item "
        "has none.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item_id", "model_version", "category"], name="score_unique"),
            models.CheckConstraint(
                condition=models.Q(probability__gte=0, probability__lte=1), name="score_probability_0_to_1"
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} {self.category_id}={self.probability:.3f}"


class Embedding(models.Model):
    """An item's vector in one backbone's space, stored as float16 so retraining never recomputes it."""

    item_id = models.BigIntegerField()
    backbone = models.CharField(max_length=120)
    dim = models.PositiveSmallIntegerField()
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item_id", "backbone"], name="embedding_unique")]

    def __str__(self) -> str:
        return f"item {self.item_id} in {self.backbone}"


class TrainingSnapshot(models.Model):
    """An immutable, versioned export of the reviewers' labels: ``items.jsonl``, ``images/``, ``manifest.json``.

    Written once by ``learning.training_data.export_training_snapshot`` (labels live in ``queues``);
    never rewritten: a second export is a new snapshot. The same labels and cutoff give a
    byte-identical ``items.jsonl``. The file format is in ``classifiers.snapshots``.
    """

    class HeldOutSource(models.TextChoices):
        RANDOM_SAMPLE = "random_sample", "Randomly sampled items only"
        RANDOM_SAMPLE_AND_HASH = "random_sample+hash", "Randomly sampled items and a hash split of the rest"

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True, help_text="Who or what asked for it.")
    label_cutoff = models.DateTimeField(help_text="Labels and QA overturns up to this time are in the snapshot.")
    path = models.CharField(max_length=500, help_text="The snapshot's directory.")
    item_count = models.PositiveIntegerField(default=0)
    label_count = models.PositiveIntegerField(default=0)
    held_out_count = models.PositiveIntegerField(default=0)
    held_out_source = models.CharField(max_length=20, choices=HeldOutSource.choices, blank=True)
    counts = models.JSONField(default=dict, blank=True, help_text="Per category: positives and negatives, by split.")
    items_sha256 = models.CharField(max_length=64, blank=True)
    file_hashes = models.JSONField(default=dict, blank=True, help_text="sha256 of every file, by relative path.")
    manifest = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"snapshot {self.pk} ({self.item_count} items, labels to {self.label_cutoff:%Y-%m-%d %H:%M})"

    @property
    def label(self) -> str:
        """How a model version names the data it was trained on."""
        return f"snapshot-{self.pk} sha256:{self.items_sha256[:16]} ({self.item_count} items)"


class RetrainingRun(models.Model):
    """One retraining of one kind's heads (``kind``: text or image): why it started, its progress, and the candidate.

    The row is the source of truth (DESIGN.md invariant 1): a worker claims it with a conditional
    update and holds it under a lease it renews while it trains; a sweeper re-sends runs whose
    message was lost or whose worker died. A failed run records its error and registers nothing.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LABELS = "labels", "New labels"
        ADMIN = "admin", "Started by an admin"
        COMMAND = "command", "Management command or benchmark"

    OPEN_STATES = (State.QUEUED, State.RUNNING)

    kind = models.CharField(max_length=8, choices=ModelVersion.Kind.choices, default=ModelVersion.Kind.TEXT)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    worker_token = models.UUIDField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=100, blank=True, help_text="What the worker is doing now.")
    epoch_losses = models.JSONField(default=list, blank=True, help_text="Training loss after each L-BFGS pass.")
    error = models.TextField(blank=True)
    snapshot = models.ForeignKey(TrainingSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    candidate = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="retraining_runs"
    )
    compared_with = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The version that was active when the candidate was evaluated.",
    )  # fmt: skip
    metrics = models.JSONField(default=dict, blank=True, help_text="Candidate and active on the same held-out set.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one retraining per kind at a time: triggers that fire together start one run.
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_open_retraining_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"retraining {self.pk} ({self.get_state_display()}, {self.get_trigger_display()})"

    def held_out_f1(self, side: str) -> dict[str, float | None]:
        """Held-out F1 per category of ``side``: "candidate" or "active" (measured on the same rows)."""
        block = (self.metrics.get(side) or {}).get("held_out") or {}
        return {slug: row.get("f1") for slug, row in block.items()}


class Experiment(models.Model):
    """An A/B test: a share of new items of one kind is routed by a candidate model's scores.

    An item's arm is a stable hash of the experiment and the item (``classifiers.experiments.arm_of``),
    so re-routing an item repeats its arm. The candidate scores every new item in ``shadow``
    status while the experiment runs; stopping the experiment leaves its status alone.
    """

    kind = models.CharField(max_length=8, choices=ModelVersion.Kind.choices)
    candidate = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="experiments")
    control = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
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
        db_table = "queues_experiment"
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


class ImageNetClassPrior(models.Model):
    """One row of the table that turns what the pretrained image backbone recognises into a cold-start prior.

    The packaged EfficientNet-Lite0 backbone was trained on ImageNet's 1,000 classes, some of which matter
    to policy (an assault rifle, a syringe, a bikini). Before a category has a trained head, each active
    row adds ``weight`` x the backbone's probability of its class to the category's prior, at most ``cap``;
    the category's prior is the sum over its rows, never above the largest cap of its rows nor below its
    base rate (``classifiers.imagenet_table.category_priors``). Admins edit the table; the caps keep a prior
    from ever reaching certainty, since no row has been validated on real moderation images.
    """

    MAX_CAP = 0.9  # a prior orders a cold queue; it must not look like a trained model's certainty

    NUM_CLASSES = 1000

    imagenet_index = models.PositiveSmallIntegerField(
        help_text="The ImageNet-1k class index (0-999) the backbone predicts."
    )
    category = models.ForeignKey(PolicyCategory, on_delete=models.CASCADE, related_name="imagenet_priors")
    weight = models.FloatField(help_text="How much of the class's probability counts for the category (0-1).")
    cap = models.FloatField(help_text=f"The most this row can raise the category's prior to (0-{MAX_CAP}).")
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, help_text="Why the class matters to the category.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category__position", "imagenet_index"]
        verbose_name = "ImageNet class prior"
        constraints = [
            models.UniqueConstraint(fields=["imagenet_index", "category"], name="imagenet_prior_unique"),
            models.CheckConstraint(condition=models.Q(imagenet_index__lte=999), name="imagenet_prior_index_0_to_999"),
            models.CheckConstraint(
                condition=models.Q(weight__gte=0, weight__lte=1), name="imagenet_prior_weight_0_to_1"
            ),
            models.CheckConstraint(condition=models.Q(cap__gte=0, cap__lte=0.9), name="imagenet_prior_cap_0_to_0_9"),
        ]

    def __str__(self) -> str:
        return f"ImageNet class {self.imagenet_index} -> {self.category_id} (x{self.weight}, cap {self.cap})"

    def clean(self) -> None:
        """Refuse a row that cannot be used, field by field, in words an admin can act on."""
        errors: dict[str, str] = {}
        if self.imagenet_index is not None and not 0 <= self.imagenet_index < self.NUM_CLASSES:
            errors["imagenet_index"] = (
                f"ImageNet-1k has classes 0-{self.NUM_CLASSES - 1}; {self.imagenet_index} is not one of them."
            )
        if self.weight is not None and not 0.0 <= self.weight <= 1.0:
            errors["weight"] = f"The weight is a share of the class's probability, between 0 and 1; got {self.weight}."
        if self.cap is not None and not 0.0 <= self.cap <= self.MAX_CAP:
            errors["cap"] = (
                f"The cap must be between 0 and {self.MAX_CAP} (a prior never reaches certainty); got {self.cap}."
            )
        if errors:
            raise ValidationError(errors)


class ReembeddingJob(models.Model):
    """Embedding every stored image into one image version's space: background work, in batches, resumable.

    A new backbone is a new embedding space (``Embedding.backbone``). The row is the source of truth
    (DESIGN.md invariant 1): ``cursor`` is the last item id whose batch is stored, written in the same
    transaction as that batch's embeddings, so a worker that dies loses at most the batch in hand and the next
    attempt starts after the cursor. Embeddings are upserts keyed by (item, backbone): an item already in the
    space is skipped, never embedded twice. A worker holds the job under a lease it renews every batch.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        ACTIVATION = "activation", "A new backbone became active"
        ADMIN = "admin", "Started by an admin"

    OPEN_STATES = (State.QUEUED, State.RUNNING)

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="reembedding_jobs")
    backbone = models.CharField(max_length=120, blank=True, help_text="The embedding space, named by the worker.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cursor = models.BigIntegerField(default=0, help_text="Items up to this id are done.")
    total = models.PositiveIntegerField(default=0, help_text="Stored images when the job started.")
    processed = models.PositiveIntegerField(default=0)
    embedded = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Already in this space.")
    failed = models.PositiveIntegerField(default=0, help_text="Images that could not be read or decoded.")
    last_error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    worker_token = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version"], condition=models.Q(state__in=["queued", "running"]), name="one_open_reembedding"
            ),
        ]

    def __str__(self) -> str:
        return f"re-embedding {self.pk} for {self.version_id} ({self.get_state_display()}, {self.progress})"

    @property
    def progress(self) -> str:
        share = f" ({self.processed / self.total:.0%})" if self.total else ""
        return f"{self.processed} of {self.total} images{share}"
