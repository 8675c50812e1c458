"""Accounts as a subject of review: their behaviour events, signals, the detection rules over them, cases, actions.

An ``Account`` is not a second copy of the content author: it is a one-to-one extension of ``Author``
keyed by the author's primary key, so the account an event names by ``(source, external_id)`` and the
author of a content item are the same row (issue 16: "content items' authors and event accounts are the
same account"). ``Author`` stays the small identity row intake writes on every item; everything that only
account review needs (state, strikes, signals) lives here, so item intake does not pay for it.
"""

from django.conf import settings
from django.db import models

from accounts.risk_signals import SIGNALS
from intake.models import Author
from learning.models import ModelHealth
from queues.models import Queue, QueueEntry


class Account(models.Model):
    """The reviewable side of an author: what the platform has been told to do with it, and its history here."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        RATE_LIMITED = "rate_limited", "Rate-limited"
        LOCKED = "locked", "Locked"
        SUSPENDED = "suspended", "Suspended"
        BANNED = "banned", "Banned"

    author = models.OneToOneField(Author, primary_key=True, on_delete=models.CASCADE, related_name="account")
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    state_until = models.DateTimeField(null=True, blank=True, help_text="When a suspension or rate limit ends.")
    strikes = models.PositiveIntegerField(default=0)
    signed_up_at = models.DateTimeField(null=True, blank=True, help_text="From the first sign-up event.")
    first_event_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"account {self.author_id} ({self.get_state_display()})"


class AccountEvent(models.Model):
    """One thing an account did, as the platform reported it. Append-only.

    On PostgreSQL the table is partitioned by day on ``occurred_at`` (migration 0001 writes the DDL,
    ``accounts.partitions`` keeps partitions ahead and drops those past ``ACCOUNT_EVENT_RETENTION_DAYS``),
    so retention is a ``DROP TABLE`` of a partition, never a ``DELETE`` over millions of rows. Its primary
    key is ``(id, occurred_at)`` there, as PostgreSQL requires; ``id`` alone is unique by its sequence.
    A client id unique per source cannot be a constraint of a partitioned table (it would have to include
    the time), so ``EventReceipt`` holds it.
    """

    class Type(models.TextChoices):
        SIGNUP = "signup", "Sign-up"
        LOGIN_SUCCEEDED = "login_succeeded", "Login succeeded"
        LOGIN_FAILED = "login_failed", "Login failed"
        PASSWORD_RESET = "password_reset", "Password reset"
        EMAIL_CHANGED = "email_changed", "E-mail changed"
        PAYOUT_CHANGED = "payout_changed", "Payout address changed"
        TWO_FACTOR_CHANGED = "two_factor_changed", "Two-factor settings changed"
        PAYMENT_SUCCEEDED = "payment_succeeded", "Payment succeeded"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        PAYMENT_REFUNDED = "payment_refunded", "Payment refunded"
        PAYMENT_CHARGED_BACK = "payment_charged_back", "Payment charged back"
        MESSAGE_SENT = "message_sent", "Message sent"
        TRAFFIC_SUMMARY = "traffic_summary", "Traffic summary"

    id = models.BigAutoField(primary_key=True)
    # No database foreign key: intake writes the account in the same transaction, and a per-row check on
    # a partitioned table would cost on every one of thousands of inserts a second.
    account = models.ForeignKey(Account, on_delete=models.DO_NOTHING, related_name="events", db_constraint=False)
    event_id = models.CharField(max_length=128, help_text="The client's id of the event, unique per source.")
    type = models.CharField(max_length=24, choices=Type.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    device_id = models.CharField(max_length=128, blank=True)
    country = models.CharField(max_length=2, blank=True)
    payment_fingerprint = models.CharField(max_length=128, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    outcome = models.CharField(max_length=64, blank=True)
    request_count = models.PositiveIntegerField(null=True, blank=True)
    distinct_creators = models.PositiveIntegerField(null=True, blank=True)
    window_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        # Written by migration 0001 (partitioned on PostgreSQL); the ORM only reads and inserts.
        indexes = [models.Index(fields=["account", "occurred_at"], name="account_event_timeline")]

    def __str__(self) -> str:
        return f"{self.type} by {self.account_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class EventReceipt(models.Model):
    """The client id of every event received, with a digest of its content: a retry is recognised, a clash refused.

    Kept as long as events are (``ACCOUNT_EVENT_RETENTION_DAYS``), by ``occurred_at``.
    """

    source = models.CharField(max_length=64)
    event_id = models.CharField(max_length=128)
    digest = models.CharField(max_length=64, help_text="SHA-256 of the event as received, in a canonical form.")
    occurred_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="event_receipt_unique")]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id}"


class EventSourceGrant(models.Model):
    """Restricts an API token to sending events for these sources; a token without any grant may send for any.

    Stops one platform's credentials from writing behaviour into another platform's accounts.
    """

    token = models.ForeignKey("api.ApiToken", on_delete=models.CASCADE, related_name="event_source_grants")
    source = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "source"], name="event_source_grant_unique")]

    def __str__(self) -> str:
        return f"{self.token_id} may send {self.source}"


class AccountSignals(models.Model):
    """An account's signal state and current values, folded in from its events incrementally.

    ``pending_since`` is set by intake in the same transaction as the events, and cleared by the worker that
    folds them in (reading events after ``processed_event_id``): a row with it set is the unit of pending
    work that the sweeper finds when a message is lost (DESIGN.md invariant 1). Intake locks this row
    before it inserts the account's events, and the worker locks it to read them, so for one account
    events commit in id order and a worker never skips an event a slower transaction commits later.
    """

    account = models.OneToOneField(Account, primary_key=True, on_delete=models.CASCADE, related_name="signals")
    state = models.JSONField(default=dict, help_text="Time buckets and last-seen values the windows are counted from.")
    values = models.JSONField(default=dict, help_text="Signal name to value, as of updated_at.")
    processed_event_id = models.BigIntegerField(default=0)
    pending_since = models.DateTimeField(null=True, blank=True, help_text="When the oldest unprocessed event came in.")
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "account signals"
        indexes = [
            models.Index(
                fields=["pending_since"], condition=models.Q(pending_since__isnull=False), name="signals_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"signals of {self.account_id}"


class SignalSnapshot(models.Model):
    """The values of an account's signals after one update: what rule previews and firings are checked against."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="signal_snapshots")
    taken_at = models.DateTimeField(db_index=True)
    values = models.JSONField()
    event_types = models.JSONField(default=list, help_text="Types of the events this update folded in.")
    countries = models.JSONField(default=list, help_text="Countries of the events this update folded in.")

    def __str__(self) -> str:
        return f"signals of {self.account_id} at {self.taken_at:%Y-%m-%d %H:%M}"


class SignalReading(models.Model):
    """The numbers of one ``SignalSnapshot``, one nullable column per signal: what rule previews scan.

    A snapshot's ``values`` are ~1.2 kB of JSON; a 7-day preview over a million accounts read 2 GB of them
    (2.6 s for a bare count). This row is written in the same statement as its snapshot and is ~330 bytes,
    and the preview reads only the columns its conditions name. Doubles, not reals: a signal's JSON number
    (an int or a float) round-trips exactly, so a preview decides exactly as live detection did. A new signal
    in ``accounts.risk_signals.SIGNALS`` is a new column here (``makemigrations``).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="signal_readings")
    taken_at = models.DateTimeField(db_index=True)
    event_types = models.JSONField(default=list, help_text="Types of the events this update folded in.")
    countries = models.JSONField(default=list, help_text="Countries of the events this update folded in.")

    def __str__(self) -> str:
        return f"signal numbers of {self.account_id} at {self.taken_at:%Y-%m-%d %H:%M}"


for _signal in SIGNALS:
    SignalReading.add_to_class(_signal, models.FloatField(null=True, blank=True))


class AccountIdentifier(models.Model):
    """A device id, payment fingerprint, IP or sign-up network an account was seen with: how rings are linked."""

    class Kind(models.TextChoices):
        DEVICE = "device", "Device id"
        PAYMENT = "payment", "Payment fingerprint"
        IP = "ip", "IP address"
        SIGNUP_DEVICE = "signup_device", "Sign-up device"
        SIGNUP_NETWORK = "signup_network", "Sign-up network (/24 or /48)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=128)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="identifiers")
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value", "account"], name="account_identifier_unique"),
        ]
        indexes = [models.Index(fields=["account", "kind"], name="identifier_by_account")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value} on {self.account_id}"


class CaseType(models.TextChoices):
    FRAUD = "fraud", "Payment fraud"
    FAKE_ACCOUNT = "fake_account", "Fake account"
    TAKEOVER = "takeover", "Account takeover"
    SCRAPING = "scraping", "Scraping"
    POLICY = "policy", "Repeated policy violations"


class Severity(models.IntegerChoices):
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"
    CRITICAL = 4, "Critical"


class DetectionRule(models.Model):
    """An ordered rule over an account's signals and the events of an update (see ``accounts.detection``).

    In ``shadow`` mode it records would-have-fired and opens nothing, so its precision against reviewer
    decisions can be read before an admin turns it on.
    """

    class Mode(models.TextChoices):
        ACTIVE = "active", "Active: opens cases"
        SHADOW = "shadow", "Shadow: records only"
        OFF = "off", "Off"

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text="Why the rule exists, for the reviewer who sees it fire.")
    position = models.PositiveIntegerField(default=0, help_text="Rules are tried in this order.")
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.SHADOW)
    conditions = models.JSONField(
        default=list, help_text='All must hold, e.g. [{"field": "signal.failed_logins_1h", "op": ">=", "value": 20}]'
    )
    case_type = models.CharField(max_length=16, choices=CaseType.choices)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.MEDIUM)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # An active rule with an action acts by itself (the platform is told at once); a sampled share of its
    # firings still opens a case, so a human checks the rule's work and their verdicts measure its precision.
    action = models.CharField(
        max_length=20,
        blank=True,
        choices=[
            ("warn", "Warn"),
            ("reset_credentials", "Force a password reset and sign out all sessions"),
            ("lock", "Lock"),
            ("suspend", "Suspend for a duration"),
            ("ban", "Ban"),
            ("rate_limit", "Rate-limit"),
        ],
        help_text="Blank: only open a case. Otherwise the rule takes this action automatically.",
    )
    action_duration = models.DurationField(null=True, blank=True, help_text="For a suspension or a rate limit.")
    review_share = models.FloatField(
        default=0.1, help_text="Of an acting rule's firings, the share (0 to 1) also sent to a human as a case."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(review_share__gte=0, review_share__lte=1), name="rule_review_share_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class AccountCase(models.Model):
    """A question about one account for a reviewer: is this fraud, a fake, a takeover, a scraper?"""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="cases")
    case_type = models.CharField(max_length=16, choices=CaseType.choices)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    rule = models.ForeignKey(DetectionRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases")
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The case's place in its queue: claimed, leased and closed by the same machinery as content (review.claims).
    entry = models.OneToOneField(
        QueueEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="account_case"
    )
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # The reviewer's verdict is the label of the case type (issue 16, learning from case decisions).
    violation = models.BooleanField(null=True, blank=True, help_text="Decided: was it what the case type says?")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The learned risk of this case type when the case was opened or last refreshed (accounts.risk_versions):
    # the active version's orders the queue beside the severity; a shadow version's is kept for comparison only.
    model_risk = models.FloatField(null=True, blank=True, help_text="The active risk model's probability.")
    model_version = models.ForeignKey(
        "RiskModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    shadow_risk = models.FloatField(null=True, blank=True, help_text="The newest shadow risk model's probability.")
    shadow_version = models.ForeignKey(
        "RiskModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The A/B experiment the case took part in (accounts.risk_experiments): arm b was ordered by the candidate
    # (its risk is ``shadow_risk``), arm a by the active version; empty when no experiment ran.
    risk_experiment = models.ForeignKey(
        "RiskExperiment", null=True, blank=True, on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    risk_arm = models.CharField(max_length=1, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "case_type"], condition=models.Q(status="open"), name="one_open_case_per_type"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "opened_at"], name="case_status_opened"),
            models.Index(
                fields=["risk_experiment", "risk_arm"],
                condition=models.Q(risk_experiment__isnull=False),
                name="case_risk_experiment_arm",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_case_type_display()} case on {self.account_id}"


class RuleFiring(models.Model):
    """A rule matched an account: when, with which values, and the case it opened or joined (none in shadow)."""

    rule = models.ForeignKey(DetectionRule, on_delete=models.CASCADE, related_name="firings")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="rule_firings")
    case = models.ForeignKey(AccountCase, null=True, blank=True, on_delete=models.SET_NULL, related_name="firings")
    shadow = models.BooleanField(default=False)
    values = models.JSONField(help_text="The value of every field the rule's conditions name, when it fired.")
    fired_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["rule", "account", "fired_at"], name="firing_rule_account")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} on {self.account_id}"


class AccountAction(models.Model):
    """What a reviewer (or a rule) told the platform to do with an account; the platform enforces it.

    Reversible: a reversal is a later row naming this one in ``reverses``, never an edit, so the history
    of an account reads top to bottom.
    """

    class Kind(models.TextChoices):
        NONE = "none", "No action"
        WARN = "warn", "Warn"
        RESET_CREDENTIALS = "reset_credentials", "Force a password reset and sign out all sessions"
        LOCK = "lock", "Lock"
        SUSPEND = "suspend", "Suspend for a duration"
        BAN = "ban", "Ban"
        RATE_LIMIT = "rate_limit", "Rate-limit"
        RESTORE = "restore", "Restore (reverse an earlier action)"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="actions")
    case = models.ForeignKey(AccountCase, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    duration = models.DurationField(null=True, blank=True, help_text="For a suspension or a rate limit.")
    notice = models.TextField(blank=True, help_text="Shown to the user by the platform.")
    notice_template = models.ForeignKey(
        "NoticeTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The template the notice was written from, when the decider gave none of their own.",
    )  # fmt: skip
    note = models.TextField(blank=True, help_text="For other reviewers; never sent.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automatic = models.BooleanField(default=False)
    state_before = models.CharField(max_length=12, choices=Account.State.choices)
    state_after = models.CharField(max_length=12, choices=Account.State.choices)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.account_id}"


class NoticeTemplate(models.Model):
    """What the platform shows the user after an action, written once by policy staff instead of per decision.

    Used when a reviewer (or an acting rule) gives no notice of their own: the template of the action and the
    case's type, else the action's general one. Placeholders: ``{handle}``, ``{until}`` (the end of a
    suspension or rate limit), ``{case_type}``; ``accounts.notices`` fills them and refuses any other.
    """

    action = models.CharField(max_length=20, choices=AccountAction.Kind.choices)
    case_type = models.CharField(max_length=16, choices=CaseType.choices, blank=True, help_text="Blank: any type.")
    slug = models.SlugField(max_length=60, unique=True, help_text="Sent with the notice, for the platform's records.")
    text = models.TextField(max_length=2000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action", "case_type"], name="one_notice_template_per_action_type"),
        ]

    def __str__(self) -> str:
        return self.slug


class Strike(models.Model):
    """A removal of the account's content in one policy category: counted towards that category's threshold."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="strike_records")
    # The removal itself: undoing the decision deletes it and, with it, the strike.
    decision = models.ForeignKey("queues.Decision", on_delete=models.CASCADE, related_name="+")
    category = models.SlugField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision", "category"], name="one_strike_per_decision_category")
        ]
        indexes = [models.Index(fields=["account", "category"], name="strike_account_category")]

    def __str__(self) -> str:
        return f"strike {self.category} on {self.account_id}"


class Appeal(models.Model):
    """The platform's request, on the user's behalf, to look again at an account action.

    Decided by a reviewer other than the one who took the action; overturned, the action is reversed and
    the case's verdict withdrawn (it no longer counts as a violation for learning).
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UPHELD = "upheld", "Upheld"
        OVERTURNED = "overturned", "Overturned"

    source = models.CharField(max_length=64)
    appeal_id = models.CharField(max_length=128, help_text="The platform's id of the appeal, unique per source.")
    action = models.ForeignKey(AccountAction, on_delete=models.PROTECT, related_name="appeals")
    reason = models.TextField(blank=True, help_text="The user's words.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Queued like content; the entry excludes the reviewer who took the action (QueueEntry.excluded_reviewer).
    entry = models.OneToOneField(QueueEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="appeal")
    opened_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "appeal_id"], name="appeal_unique_per_source"),
            models.UniqueConstraint(
                fields=["action"], condition=models.Q(status="open"), name="one_open_appeal_per_action"
            ),
        ]

    def __str__(self) -> str:
        return f"appeal {self.source}:{self.appeal_id} of action {self.action_id}"


class RiskModelVersion(models.Model):
    """One retraining of the account risk models (one per case type, in one artifact), learned from case decisions.

    Not a ``classifiers.ModelVersion``: every active or shadow version there is loaded to score content items
    (``classifiers.runtime``), counted in the items' exploration and monitored over item scores
    (``queues.enqueue``, ``learning.monitoring``), and A/B-tested on items (``learning.experiments``); an
    account model would be mistaken for a text or image model in each. Exactly one version is active: its
    risk orders the account queues. The first is active at once; later ones start in shadow until an admin
    promotes them (``accounts.risk_versions.promote``).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SHADOW = "shadow", "Shadow"
        RETIRED = "retired", "Retired"

    name = models.SlugField(max_length=100, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.SHADOW)
    artifact = models.FileField(max_length=255, help_text="The pickled models, one per case type (joblib).")
    artifact_sha256 = models.CharField(max_length=64, help_text="Checked before every load.")
    case_types = models.JSONField(default=list, help_text="The case types it has a model of.")
    features = models.JSONField(default=list, help_text="Signal names, in the order the models read them.")
    metrics = models.JSONField(
        default=dict, help_text="Per case type: decisions trained on and held out, held-out average precision."
    )
    decisions_until = models.DateTimeField(help_text="Case decisions closed up to this time were learned from.")
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="active"), name="one_active_risk_model_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"


class RiskExperiment(models.Model):
    """An A/B test of a shadow risk model version against the active one, split by case.

    While it runs, a ``share`` of newly opened cases (a stable hash of experiment and case) is ordered in its
    queue by the candidate's risk instead of the active version's; both versions score every case, so the
    comparison against the reviewers' verdicts covers both arms (``accounts.risk_experiments``).
    """

    control = models.ForeignKey(RiskModelVersion, on_delete=models.PROTECT, related_name="+")
    candidate = models.ForeignKey(RiskModelVersion, on_delete=models.PROTECT, related_name="experiments")
    share = models.FloatField(help_text="Share of new cases ordered by the candidate (arm b).")
    # True until stopped: the partial unique index on it lets one experiment run at a time (NULLs of
    # ``stopped_at`` could not: they never collide).
    running = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["running"], condition=models.Q(running=True), name="one_running_risk_experiment"
            ),
            models.CheckConstraint(condition=models.Q(share__gt=0, share__lt=1), name="risk_experiment_share"),
        ]

    def __str__(self) -> str:
        return f"risk A/B {self.candidate_id} vs {self.control_id}"


class RiskModelHealth(models.Model):
    """The latest monitoring verdict on one risk model version, written by a periodic task (``accounts.risk_health``).

    The account side of ``learning.ModelHealth``: pages read this row instead of reading every scored case.
    ``details`` holds the per case type figures and the per-day series the version page draws.
    """

    version = models.OneToOneField(RiskModelVersion, on_delete=models.CASCADE, related_name="health")
    state = models.CharField(max_length=12, choices=ModelHealth.State.choices, default=ModelHealth.State.INSUFFICIENT)
    reasons = models.JSONField(default=list, blank=True, help_text="Why the state is what it is, in words.")
    precision = models.FloatField(null=True, blank=True, help_text="Live precision at risk >= 0.5, all case types.")
    recall = models.FloatField(null=True, blank=True)
    decided = models.PositiveIntegerField(default=0, help_text="Decided cases in the history that it scored.")
    drift_psi = models.FloatField(null=True, blank=True, help_text="The largest PSI over case types.")
    drift_case_type = models.CharField(max_length=20, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Per case type figures and the per-day series.")
    computed_at = models.DateTimeField()
    state_since = models.DateTimeField(help_text="When the state last changed.")

    class Meta:
        verbose_name = "risk model health"
        verbose_name_plural = "risk model health"

    def __str__(self) -> str:
        return f"{self.version_id}: {self.state}"
