"""Flagged content as it arrives: items, their authors, the reports against them, and API tokens."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


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
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="item_unique_per_source"),
            models.CheckConstraint(condition=~models.Q(text="") | ~models.Q(image=""), name="item_has_text_or_image"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="item_state_created")]

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
        return scope in self.scopes

    @staticmethod
    def prefix_of(full_secret: str) -> str | None:
        parts = full_secret.split("_", 2)
        if len(parts) != 3 or parts[0] != "mod" or len(parts[1]) != ApiToken.PREFIX_LENGTH:
            return None
        return parts[1]
