"""API tokens: who may call the REST API, with which scopes. Only a hash of each secret is kept."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


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
        EVENTS_WRITE = "events:write", "Send account events"
        APPEALS_WRITE = "appeals:write", "Appeal account actions"
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
        db_table = "queues_apitoken"
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
