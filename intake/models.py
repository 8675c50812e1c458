"""Flagged content as it arrives: items, their authors and the reports against them.

The tables keep the names they had when these models lived in ``queues`` (``db_table``), so moving
the models between apps changed no data (migration intake 0001).
"""

from django.db import models


def author_key(source: str | None, external_id: str | None) -> str:
    """The opaque key the text models know an item's author by (``classifiers.inference.text.with_author``):
    ``source:external_id``, "" for an item without an author."""
    return f"{source}:{external_id}" if source and external_id else ""


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
        db_table = "queues_author"
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="author_unique_per_source")]
        # The API filters items by author id alone (any source): without this, a scan of every author.
        indexes = [models.Index(fields=["external_id"], name="author_external_id")]

    def __str__(self) -> str:
        return self.handle or f"{self.source}:{self.external_id}"

    @property
    def key(self) -> str:
        """What the text models know this author by (``author_key``)."""
        return author_key(self.source, self.external_id)


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
        db_table = "queues_item"
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
        db_table = "queues_report"
        ordering = ["reported_at", "id"]
        constraints = [models.UniqueConstraint(fields=["item", "fingerprint"], name="report_unique_per_item")]

    def __str__(self) -> str:
        return f"{self.reason} on {self.item_id}"
