"""Phase 1 only (before the layout lands): the project's settings with the accounts app installed.

Deleted when accounts/ is wired into moderation_site/settings.py.
"""

from moderation_site.settings import *  # noqa: F403
from moderation_site.settings import INSTALLED_APPS, WEBHOOK_EVENT_TYPES

INSTALLED_APPS = [*INSTALLED_APPS, "accounts"]
ROOT_URLCONF = "tests.accounts.urls_phase1"
WEBHOOK_EVENT_TYPES = [*WEBHOOK_EVENT_TYPES, "account.actioned"]
ACCOUNT_EVENT_RETENTION_DAYS = 90
ACCOUNT_EVENT_MAX_AGE_DAYS = 7
ACCOUNT_EVENT_MAX_FUTURE_SECONDS = 300
ACCOUNT_EVENT_BATCH_MAX = 1000
ACCOUNT_TAKEOVER_WINDOW_MINUTES = 30
ACCOUNT_SIGNAL_TASK_BATCH = 500
ACCOUNT_STRIKE_THRESHOLD_DEFAULT = 3
ACCOUNT_STRIKE_THRESHOLDS: dict[str, int] = {}
ACCOUNT_STRIKE_QUEUE = "account-cases"
ACCOUNT_APPEALS_QUEUE = "account-appeals"
WEBHOOK_EVENT_TYPES = [*WEBHOOK_EVENT_TYPES, "appeal.decided"]
