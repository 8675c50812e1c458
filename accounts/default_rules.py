"""The detection rules a new installation starts with, one or two per case type.

Thresholds were chosen on the simulator's seed 1 (``accounts.simulator``, synthetic data) and are measured
on other seeds by ``bench/accounts_detection.py``; on a real platform, preview each one before turning
it on (they are installed in shadow mode unless asked otherwise).
"""

from django.db import transaction

from accounts.models import CaseType, DetectionRule, Severity
from queues.models import Queue


def _signal(name: str, op: str, value: float) -> dict:
    return {"field": f"signal.{name}", "op": op, "value": value}


DEFAULT_RULES = [
    {
        "name": "Sensitive change right after a new-device login",
        "description": "E-mail, payout, two-factor or password changed within minutes of a login from a new device.",
        "case_type": CaseType.TAKEOVER,
        "severity": Severity.HIGH,
        "conditions": [_signal("new_device_sensitive_changes_7d", ">=", 1), _signal("failed_logins_24h", ">=", 2)],
    },
    {
        "name": "Failed-login burst",
        "description": "Many failed logins in an hour: credential stuffing or guessing.",
        "case_type": CaseType.TAKEOVER,
        "severity": Severity.MEDIUM,
        "conditions": [_signal("failed_logins_1h", ">=", 10)],
    },
    {
        "name": "Card testing",
        "description": "Several different cards tried and failing within a day.",
        "case_type": CaseType.FRAUD,
        "severity": Severity.HIGH,
        "conditions": [_signal("distinct_payment_fingerprints_24h", ">=", 4), _signal("payments_failed_24h", ">=", 3)],
    },
    {
        "name": "Repeated charge-backs",
        "description": "Two or more payments charged back in a week.",
        "case_type": CaseType.FRAUD,
        "severity": Severity.MEDIUM,
        "conditions": [_signal("chargebacks_7d", ">=", 2)],
    },
    {
        "name": "Device farm sign-ups",
        "description": "Signed up from a device that at least four accounts signed up from.",
        "case_type": CaseType.FAKE_ACCOUNT,
        "severity": Severity.MEDIUM,
        "conditions": [_signal("signups_on_device", ">=", 4)],
    },
    {
        "name": "Sign-up burst from one network",
        "description": "Eight or more sign-ups from the same /24 (or /48) within a day.",
        "case_type": CaseType.FAKE_ACCOUNT,
        "severity": Severity.LOW,
        "conditions": [_signal("signups_in_network_24h", ">=", 8)],
    },
    {
        "name": "Scraper: request rate",
        "description": "More than 300 requests a minute in a traffic summary.",
        "case_type": CaseType.SCRAPING,
        "severity": Severity.MEDIUM,
        "conditions": [_signal("requests_per_minute_peak_24h", ">=", 300)],
    },
    {
        "name": "Scraper: breadth",
        "description": "Pages of 500 or more creators viewed in a day.",
        "case_type": CaseType.SCRAPING,
        "severity": Severity.LOW,
        "conditions": [_signal("creators_viewed_24h", ">=", 500)],
    },
]


def install_default_rules(*, queue: Queue | None, mode: str = DetectionRule.Mode.SHADOW) -> list[DetectionRule]:
    """Create the default rules that do not exist yet (by name), in ``mode``, opening cases in ``queue``."""
    with transaction.atomic():
        existing = set(DetectionRule.objects.values_list("name", flat=True))
        created = [
            DetectionRule.objects.create(position=(index + 1) * 10, mode=mode, queue=queue, **rule)
            for index, rule in enumerate(DEFAULT_RULES)
            if rule["name"] not in existing
        ]
    return created
