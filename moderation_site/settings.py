"""Settings for the moderation site, read from environment variables.

Two modes, chosen by ``MODERATION_ENV``:

* ``embedded`` (the default): one machine, nothing to install. SQLite in WAL mode and Celery's
  filesystem broker, both under ``var/``; a secret key generated once into ``var/secret_key``.
* ``production``: ``SECRET_KEY``, ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``ALLOWED_HOSTS`` are
  required, and the HTTPS hardening that ``manage.py check --deploy`` looks for is on.

Any value below can be overridden by the environment variable of the same name.
"""

import os
import re
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from ops.json_logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"The environment variable {name} is required in this mode.")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from exc


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


MODERATION_ENV = env_str("MODERATION_ENV", "embedded")
if MODERATION_ENV not in {"embedded", "production"}:
    raise ImproperlyConfigured(f"MODERATION_ENV must be 'embedded' or 'production', not {MODERATION_ENV!r}.")
PRODUCTION = MODERATION_ENV == "production"

VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))


def _embedded_secret_key() -> str:
    # Generated once and kept, so sessions survive restarts of the embedded app.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") if PRODUCTION else os.environ.get("SECRET_KEY") or _embedded_secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1],testserver")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "csp",
    "ops",
    "audit",
    "webhooks",
    "api",
    "classifiers",
    "intake",
    "queues",
    "review",
    "quality",
    "learning",
    "labeling",
    "accounts",
    "wellness",
    "console",
]

MIDDLEWARE = [
    "ops.request_id.RequestIdMiddleware",
    "ops.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "moderation_site.middleware.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "moderation_site.urls"
WSGI_APPLICATION = "moderation_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL names another (PostgreSQL in production and CI).
if PRODUCTION or os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL"), conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "db.sqlite3"}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # psycopg prepares a statement after 5 runs on a connection, for server-side binding cursors only
    # (api.prepared: the token lookup and the single-item ingestion statement); Django's cursors
    # never prepare. Off for a PgBouncer in transaction mode that does not keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while one writer writes; IMMEDIATE takes the write lock at BEGIN, so concurrent
    # writers queue on the busy timeout instead of failing to upgrade. The same for a sqlite:// DATABASE_URL.
    sqlite_options = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["OPTIONS"] = {**sqlite_options, **DATABASES["default"].get("OPTIONS", {})}
    if "TEST" not in DATABASES["default"]:
        # A file-backed test database, so tests that use threads or worker processes share it.
        DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# ModelBackend with a user's permissions in one query (the page menu asks them on every page). Sessions
# signed in under ModelBackend's name before this setting are signed out once.
AUTHENTICATION_BACKENDS = ["moderation_site.auth_backends.PermissionsInOneQuery"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: images go through an authenticated view
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# In the embedded mode static files are served straight from the finders, no collectstatic needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Limits on what the ingestion API accepts.
MODERATION_MAX_BATCH_ITEMS = env_int("MODERATION_MAX_BATCH_ITEMS", 500)
MODERATION_MAX_TEXT_CHARS = env_int("MODERATION_MAX_TEXT_CHARS", 20_000)
MODERATION_MAX_IMAGE_BYTES = env_int("MODERATION_MAX_IMAGE_BYTES", 10 * 1024 * 1024)
MODERATION_MAX_IMAGE_PIXELS = env_int("MODERATION_MAX_IMAGE_PIXELS", 40_000_000)
MODERATION_MAX_JSON_FIELD_BYTES = env_int("MODERATION_MAX_JSON_FIELD_BYTES", 64 * 1024)
MODERATION_MAX_REPORTS_PER_ITEM = env_int("MODERATION_MAX_REPORTS_PER_ITEM", 100)
MODERATION_MAX_REQUEST_BYTES = env_int("MODERATION_MAX_REQUEST_BYTES", 64 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MODERATION_MAX_REQUEST_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = MODERATION_MAX_IMAGE_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasTokenScope"],
    "DEFAULT_PARSER_CLASSES": [
        "api.json_input.StrictJSONParser",
        "api.json_input.StrictMultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
}
# Requests per token (or per signed-in user) and period: "600/min", "20/s", "10000/hour"; empty = no limit.
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "600/min")
if API_RATE_LIMIT and not re.fullmatch(r"[1-9]\d*/\d*(s|sec|second|m|min|minute|h|hour|d|day)", API_RATE_LIMIT):
    raise ImproperlyConfigured(f"API_RATE_LIMIT must look like '600/min', '20/s' or '10000/hour': {API_RATE_LIMIT!r}.")
# django-ratelimit counts API requests (api.throttling); a cache that cannot be written lets them through.
RATELIMIT_FAIL_OPEN = True
# How long the API reuses its queue stats (depth, oldest, past deadline) before counting again; 0 = every call.
API_QUEUE_STATS_SECONDS = env_int("API_QUEUE_STATS_SECONDS", 10)

# The cache holds the API's rate-limit counters. Embedded: in process memory, so each web process
# counts on its own. With Redis, every process on every machine shares the counts.
_cache_url = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL")
if _cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "moderation"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SPECTACULAR_SETTINGS = {
    "TITLE": "Moderation API",
    "DESCRIPTION": (
        "Send flagged content for review and read back its state. Authenticate with "
        "`Authorization: Bearer <token>`; tokens are created in the admin and shown once."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.state_query_text_rules",
        "api.schema.require_bodies_that_need_fields",
    ],
    "ENUM_NAME_OVERRIDES": {
        "DecisionActionEnum": "queues.models.Decision.Action",
        "ReviewActionEnum": ["no_violation", "remove", "needs_context"],
        # The decision body's "which action goes with which categories" rules (api.schema) name one action each.
        "NoViolationActionEnum": ["no_violation"],
        "RemoveActionEnum": ["remove"],
        "NeedsContextActionEnum": ["needs_context"],
        "ItemKindEnum": "intake.models.Item.Kind",
        "ModelVersionKindEnum": "classifiers.models.ModelVersion.Kind",
        "ModelHealthStateEnum": ["ok", "alert", "insufficient", "not_checked"],
        "ItemStateEnum": "intake.models.Item.State",
        "ModelVersionStatusEnum": "classifiers.models.ModelVersion.Status",
    },
}

# Celery: the database is the source of truth; the broker only carries ids (see DESIGN.md).
# A sender tries the broker once (and once more at once), instead of kombu's default of three tries seconds
# apart: a web request that queues work must not hang while the broker is down (the work waits in the
# database for the sweeper). Workers reconnect on their own schedule (broker_connection_retry).
BROKER_FAIL_FAST_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") if PRODUCTION else env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = BROKER_FAIL_FAST_OPTIONS
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Separate queues, so a retrain never starves scoring and housekeeping never waits behind either.
CELERY_TASK_ROUTES = {
    "queues.tasks.score_items": {"queue": "inference"},
    "queues.tasks.reroute_pending": {"queue": "inference"},
    "*.train_*": {"queue": "training"},
    "queues.tasks.retrain_heads": {"queue": "training"},
    "queues.tasks.retrain_text_heads": {"queue": "training"},  # its old name, for messages sent before
    "learning.tasks.reembed_images": {"queue": "training"},
    # LLM labelers wait on outside endpoints: their own queue, so a slow or dead endpoint never holds up scoring.
    "labeling.tasks.*": {"queue": "llm"},
    "labeling.tasks.refresh_labeler_tables": {"queue": "default"},  # database work only: not behind the LLM runs
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    # Accounts: signal updates whose message was lost, event partitions ahead and past retention, strikes.
    "sweep-account-signals": {"task": "accounts.tasks.sweep_signals", "schedule": 30},
    "maintain-event-partitions": {"task": "accounts.tasks.maintain_event_partitions", "schedule": 3600},
    "count-strikes": {"task": "accounts.tasks.count_strikes", "schedule": 60},
    # Account risk model health (precision and recall against case verdicts, drift), stored for the model pages.
    "check-risk-model-health": {
        "task": "accounts.tasks.check_risk_model_health",
        "schedule": env_int("MONITOR_INTERVAL_SECONDS", 900),
    },
    # Re-queues items whose scoring message was lost or whose worker died (DESIGN.md invariant 1).
    "sweep-scoring": {"task": "queues.tasks.sweep_scoring", "schedule": env_int("SCORING_SWEEP_SECONDS", 30)},
    "release-expired-leases": {"task": "queues.tasks.release_expired_leases", "schedule": 30},
    "sample-queue-depths": {"task": "queues.tasks.sample_queue_depths", "schedule": 300},
    "rerank-labelling-queues": {"task": "queues.tasks.rerank_labelling_queues", "schedule": 300},
    # Sends webhook retries when due, and deliveries whose message or worker was lost.
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_deliveries",
        "schedule": env_int("WEBHOOK_SWEEP_SECONDS", 10),
    },
    # Retraining: daily, after RETRAIN_AFTER_LABELS new labels, and a sweeper for lost or crashed runs.
    "retrain-daily": {
        "task": "queues.tasks.retrain_scheduled",
        "schedule": crontab(hour=env_int("RETRAIN_DAILY_HOUR", 3), minute=0),
    },
    "retrain-after-new-labels": {"task": "queues.tasks.retrain_after_new_labels", "schedule": 300},
    "sweep-retraining": {"task": "queues.tasks.sweep_retraining", "schedule": 60},
    "sweep-reembedding": {"task": "learning.tasks.sweep_reembedding", "schedule": 60},
    # Model monitoring: live precision, calibration and drift per active and shadow version, and the alert state.
    "check-model-health": {
        "task": "queues.tasks.check_model_health",
        "schedule": env_int("MONITOR_INTERVAL_SECONDS", 900),
    },
    # Re-sends LLM runs whose message was lost or whose worker died (labeling/llm_runs.py).
    "requeue-stalled-llm-runs": {"task": "labeling.tasks.requeue_stalled_llm_runs", "schedule": 300},
    # Recomputes the labeler table of each period the quality page offers (labeling/labeler_table.py).
    "refresh-labeler-tables": {"task": "labeling.tasks.refresh_labeler_tables", "schedule": 600},
    # Sends a complete crowd task set to aggregation when its message was lost (labeling/crowd.py).
    "sweep-crowd-aggregation": {"task": "labeling.tasks.sweep_unaggregated_task_sets", "schedule": 120},
    # Re-sends bulk actions no worker has started, their message lost (console/bulk.py).
    "sweep-bulk-actions": {"task": "console.tasks.sweep_pending_bulk_actions", "schedule": 60},
}

# LLM labelers (labeling/llm_runs.py): a task labels for this long, then sends the run again for the rest (the
# requests still in flight then finish, up to timeout x attempts, within the task's 300 s soft limit);
# the first retry of a failed request waits this long, doubling each time (or the endpoint's Retry-After).
LLM_RUN_SLICE_SECONDS = env_int("LLM_RUN_SLICE_SECONDS", 150)
LLM_RETRY_BASE_SECONDS = float(os.environ.get("LLM_RETRY_BASE_SECONDS", "0.5"))
# Where each LLM endpoint's in-flight slots are counted across workers (labeling/endpoint_slots.py); empty: in
# this process only (the embedded set-up has one).
# How old a labeler table the quality pages may show (labeling/labeler_table.py); the beat refreshes it sooner.
LABELER_TABLE_CACHE_SECONDS = env_int("LABELER_TABLE_CACHE_SECONDS", 900)
LLM_SLOTS_REDIS_URL = os.environ.get("LLM_SLOTS_REDIS_URL") or os.environ.get("REDIS_URL", "")

# Training data and retraining (learning/training_data.py, learning/retraining.py).
TRAINING_SNAPSHOT_DIR = Path(env_str("TRAINING_SNAPSHOT_DIR", str(VAR_DIR / "training-snapshots")))
# Held out: the randomly sampled items when there are this many, else those plus a hash split of the rest.
TRAINING_MIN_RANDOM_HELD_OUT = env_int("TRAINING_MIN_RANDOM_HELD_OUT", 200)
TRAINING_HELD_OUT_FRACTION = float(os.environ.get("TRAINING_HELD_OUT_FRACTION", "0.2"))
RETRAIN_AFTER_LABELS = env_int("RETRAIN_AFTER_LABELS", 2000)  # new current labels (one per category decided); 0 = off
RETRAIN_LEASE_SECONDS = env_int("RETRAIN_LEASE_SECONDS", 300)
RETRAIN_MAX_ATTEMPTS = env_int("RETRAIN_MAX_ATTEMPTS", 3)
RETRAIN_TIME_LIMIT_SECONDS = env_int("RETRAIN_TIME_LIMIT_SECONDS", 3600)
# Image runs fine-tune the timm backbone for this many epochs before training heads; 0 (default): heads only.
RETRAIN_IMAGE_FINE_TUNE_EPOCHS = env_int("RETRAIN_IMAGE_FINE_TUNE_EPOCHS", 0)
# > 0: image runs fine-tune in stages instead (classifiers/fine_tuning.py: frozen head, last blocks, all; a
# validation split of the training rows picks one), spending at most this much process CPU time (summed over its
# threads), each stage at most RETRAIN_IMAGE_FINE_TUNE_EPOCHS epochs (10 when 0), on this many torch threads.
RETRAIN_IMAGE_FINE_TUNE_SECONDS = env_int("RETRAIN_IMAGE_FINE_TUNE_SECONDS", 0)
RETRAIN_IMAGE_FINE_TUNE_THREADS = env_int("RETRAIN_IMAGE_FINE_TUNE_THREADS", 2)
# Text runs with at least RETRAIN_TEXT_TUNE_MIN_LABELS labelled training items (0 = never) first train the sentence
# encoder's last layer on them (classifiers.text_tuning): SpamAssassin with every label, F1 0.9797 -> 0.9838 over 5
# splits (bench/RESULTS.md, session 15). At most RETRAIN_TEXT_TUNE_EPOCHS epochs and RETRAIN_TEXT_TUNE_SECONDS of
# process CPU (0 = no limit; two epochs of one layer took 0.08 CPU-s per item), on this many torch threads. LAYERS:
# how many of the encoder's last layers train (1-6; each adds about the cost of the first).
RETRAIN_TEXT_TUNE_MIN_LABELS = env_int("RETRAIN_TEXT_TUNE_MIN_LABELS", 1000)
RETRAIN_TEXT_TUNE_EPOCHS = env_int("RETRAIN_TEXT_TUNE_EPOCHS", 2)
RETRAIN_TEXT_TUNE_LAYERS = env_int("RETRAIN_TEXT_TUNE_LAYERS", 1)
RETRAIN_TEXT_TUNE_SECONDS = env_int("RETRAIN_TEXT_TUNE_SECONDS", 1800)
RETRAIN_TEXT_TUNE_THREADS = env_int("RETRAIN_TEXT_TUNE_THREADS", 2)
# At most this many training texts (a seeded random draw; 0 = all) tune the layer: each costs about 0.12 CPU-s to
# encode and 170 KB of disk for its layer inputs, and the CPU budget above covers two epochs of about 20,000.
RETRAIN_TEXT_TUNE_MAX_TEXTS = env_int("RETRAIN_TEXT_TUNE_MAX_TEXTS", 20_000)
# Regularisation of the staged schedule (bench/RESULTS.md measures them on Fashion-MNIST): the peak learning rate
# of the "all" stage (0: the same 1e-3 as the other stages), the share of training images with a random rectangle
# erased, the mixup alpha (0: no mixup), and whether the chosen path is trained again on every label (the
# validation split included) once that split has chosen it. Erasing a quarter of the images and mixup 0.2 are on
# by default: with self-training they raised Fashion-MNIST from 0.9156 to 0.9211 at 5,000 labels and from 0.8808
# to 0.8892 at 1,000, teacher and student alike, each at the same CPU budget.
RETRAIN_IMAGE_FINE_TUNE_ALL_LR = float(os.environ.get("RETRAIN_IMAGE_FINE_TUNE_ALL_LR", "0"))
RETRAIN_IMAGE_FINE_TUNE_ERASE = float(os.environ.get("RETRAIN_IMAGE_FINE_TUNE_ERASE", "0.25"))
RETRAIN_IMAGE_FINE_TUNE_MIXUP = float(os.environ.get("RETRAIN_IMAGE_FINE_TUNE_MIXUP", "0.2"))
RETRAIN_IMAGE_FINE_TUNE_REFIT_ON_ALL = env_bool("RETRAIN_IMAGE_FINE_TUNE_REFIT_ON_ALL", False)
# Self-training of the staged schedule (only when RETRAIN_IMAGE_FINE_TUNE_SECONDS > 0): this many of the most recent
# stored images nobody labelled are pseudo-labelled by the chosen network (0: off), predictions of at least this
# softmax probability kept, and the student trained on labels + pseudo-labels; self-training takes this share of
# the CPU budget. The student is kept unless the validation split shows it worse than its teacher beyond chance. On
# by default: on Fashion-MNIST it added 1.1-1.7 test points at 1,000 labels and 0.3-0.8 at 5,000 in every run
# (bench/RESULTS.md), and a student that validates significantly worse is not kept; the price is half the budget
# taken from the stages. Label smoothing 0.1 caps what the network says near 0.9 + 0.1/K for K classes: a
# confidence above that keeps nothing.
RETRAIN_IMAGE_SELF_TRAIN_POOL = env_int("RETRAIN_IMAGE_SELF_TRAIN_POOL", 10000)
RETRAIN_IMAGE_SELF_TRAIN_CONFIDENCE = float(os.environ.get("RETRAIN_IMAGE_SELF_TRAIN_CONFIDENCE", "0.7"))
RETRAIN_IMAGE_SELF_TRAIN_SHARE = float(os.environ.get("RETRAIN_IMAGE_SELF_TRAIN_SHARE", "0.5"))

# Model monitoring (learning/monitoring.py): alert when live precision at the routing threshold falls under the
# floor, or the score distribution drifts past the PSI threshold; figures need MONITOR_MIN_SUPPORT labels or scores.
MONITOR_PRECISION_FLOOR = float(os.environ.get("MONITOR_PRECISION_FLOOR", "0.7"))
MONITOR_DRIFT_THRESHOLD = float(os.environ.get("MONITOR_DRIFT_THRESHOLD", "0.2"))
MONITOR_DEFAULT_THRESHOLD = float(os.environ.get("MONITOR_DEFAULT_THRESHOLD", "0.5"))  # categories no rule names
MONITOR_MIN_SUPPORT = env_int("MONITOR_MIN_SUPPORT", 30)
MONITOR_WINDOW_DAYS = env_int("MONITOR_WINDOW_DAYS", 7)
MONITOR_HISTORY_DAYS = env_int("MONITOR_HISTORY_DAYS", 28)
MONITOR_DRIFT_BASELINE_DAYS = env_int("MONITOR_DRIFT_BASELINE_DAYS", 7)
MONITOR_MAX_LABELS = env_int("MONITOR_MAX_LABELS", 200_000)  # the most recent labels one check reads

# Accounts (accounts/): behaviour events, signals, detection rules and cases.
ACCOUNT_EVENT_RETENTION_DAYS = env_int("ACCOUNT_EVENT_RETENTION_DAYS", 90)  # daily partitions older are dropped
ACCOUNT_EVENT_MAX_AGE_DAYS = env_int("ACCOUNT_EVENT_MAX_AGE_DAYS", 7)  # older events are refused at intake
ACCOUNT_EVENT_MAX_FUTURE_SECONDS = env_int("ACCOUNT_EVENT_MAX_FUTURE_SECONDS", 300)  # clock skew tolerated
ACCOUNT_EVENT_BATCH_MAX = env_int("ACCOUNT_EVENT_BATCH_MAX", 1000)
ACCOUNT_TAKEOVER_WINDOW_MINUTES = env_int("ACCOUNT_TAKEOVER_WINDOW_MINUTES", 30)  # new device -> sensitive change
ACCOUNT_SIGNAL_TASK_BATCH = env_int("ACCOUNT_SIGNAL_TASK_BATCH", 500)  # accounts per signal-update message
ACCOUNT_STRIKE_THRESHOLD_DEFAULT = env_int("ACCOUNT_STRIKE_THRESHOLD_DEFAULT", 3)  # removals per category
ACCOUNT_STRIKE_THRESHOLDS = {
    slug: int(n) for slug, _, n in (pair.partition("=") for pair in env_list("ACCOUNT_STRIKE_THRESHOLDS", ""))
}  # e.g. "hate=2,spam=5"
ACCOUNT_STRIKE_QUEUE = env_str("ACCOUNT_STRIKE_QUEUE", "account-cases")  # slug of the queue for policy cases
ACCOUNT_APPEALS_QUEUE = env_str("ACCOUNT_APPEALS_QUEUE", "account-appeals")

# Reviewing: how long a claim lasts without a heartbeat, and how long a skipped item stays away.
REVIEW_LEASE_SECONDS = env_int("REVIEW_LEASE_SECONDS", 600)
REVIEW_SKIP_COOLDOWN_SECONDS = env_int("REVIEW_SKIP_COOLDOWN_SECONDS", 300)
REVIEW_UNDO_SECONDS = env_int("REVIEW_UNDO_SECONDS", 10)
# Cold-start prior scores count this much in risk (they rank items but are not calibrated per category).
RISK_PRIOR_WEIGHT = float(os.environ.get("RISK_PRIOR_WEIGHT", "0.5"))
# How long a worker reuses the trained heads' typical uncertainty that weighs exploration of small batches.
EXPLORATION_TYPICAL_SECONDS = env_int("EXPLORATION_TYPICAL_SECONDS", 10)
REVIEW_IMAGE_MAX_SIDE = env_int("REVIEW_IMAGE_MAX_SIDE", 1024)

# Webhooks: the event types there are, the wait after each failed attempt (5 s ... 8 h, 31.7 h in all, then the
# delivery fails), timeouts, and the networks an operator allows besides public addresses (SSRF guard), e.g.
# "10.20.0.0/16,127.0.0.1/32" for a receiver inside the network.
WEBHOOK_EVENT_TYPES = [
    "item.created", "item.scored", "item.routed", "decision.created", "decision.overturned", "item.escalated",
    "model.promoted", "account.actioned", "appeal.decided", "llm_run.finished", "crowd_task_set.aggregated",
]  # fmt: skip
_WEBHOOK_RETRIES = "5,30,120,600,1800,3600,7200,14400,28800,28800,28800"
WEBHOOK_RETRY_SCHEDULE = [int(seconds) for seconds in env_list("WEBHOOK_RETRY_SCHEDULE", _WEBHOOK_RETRIES)]
WEBHOOK_CONNECT_TIMEOUT = float(os.environ.get("WEBHOOK_CONNECT_TIMEOUT", "3"))
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", "10"))  # the whole attempt, connecting included
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", "")
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60)
WEBHOOK_TASK_BATCH = env_int("WEBHOOK_TASK_BATCH", 10)  # deliveries per task message
# How many proxies in front of the web servers append to X-Forwarded-For; the audit log records the address
# the nearest one saw. 0: the peer address itself.
AUDIT_TRUSTED_PROXIES = env_int("AUDIT_TRUSTED_PROXIES", 1 if PRODUCTION else 0)

# Scoring: micro-batches, leases, and the share of cores each inference process takes.
SCORING_BATCH_SIZE = env_int("SCORING_BATCH_SIZE", 32)
SCORING_FILL_WAIT_MS = env_int("SCORING_FILL_WAIT_MS", 200)
SCORING_LEASE_SECONDS = env_int("SCORING_LEASE_SECONDS", 120)
SCORING_MAX_ATTEMPTS = env_int("SCORING_MAX_ATTEMPTS", 3)
INFERENCE_PROCESSES = env_int("INFERENCE_PROCESSES", 1)  # worker processes per machine that run models
# "onnx" (default): workers run image backbones exported to ONNX Runtime, same embeddings, no timm import;
# "torch": the timm network itself (classifiers.runtime).
IMAGE_RUNTIME = env_str("IMAGE_RUNTIME", "onnx")
if IMAGE_RUNTIME not in ("onnx", "torch"):
    raise ImproperlyConfigured(f"IMAGE_RUNTIME must be onnx or torch, not {IMAGE_RUNTIME!r}.")
INFERENCE_THREADS = env_int("INFERENCE_THREADS", 0)  # torch threads per process; 0 = cores / processes

# Content-Security-Policy: no inline script or style, no third-party origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# Logs: JSON lines in production (LOG_FORMAT=json), plain text in the embedded app; both carry the request id
# (ops/request_id.py), which follows the work into Celery tasks. Workers log through this too, not Celery's own.
LOG_FORMAT = env_str("LOG_FORMAT", "json" if PRODUCTION else "text")
LOGGING = logging_config(json_lines=LOG_FORMAT == "json", level=env_str("LOG_LEVEL", "INFO"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A prefork child loads its models before it takes tasks (ops.worker_signals); give it time to say it is alive.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env_int("CELERY_WORKER_PROC_ALIVE_TIMEOUT", 180)

# Operations (ops/): who may read /health/* and /metrics, and how heartbeats are judged.
# Allowed: requests from OPS_ALLOWED_NETWORKS (client address as AUDIT_TRUSTED_PROXIES computes it) or with
# "Authorization: Bearer $OPS_TOKEN". Default: loopback only, no token.
OPS_ALLOWED_NETWORKS = env_list("OPS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
OPS_TOKEN = os.environ.get("OPS_TOKEN", "")
OPS_HEARTBEAT_SECONDS = env_int("OPS_HEARTBEAT_SECONDS", 10)
OPS_HEARTBEAT_STALE_SECONDS = env_int("OPS_HEARTBEAT_STALE_SECONDS", 45)
OPS_BEAT_STALE_SECONDS = env_int("OPS_BEAT_STALE_SECONDS", 120)
OPS_REQUIRED_QUEUES = env_list("OPS_REQUIRED_QUEUES", "inference,default")
OPS_BROKER_QUEUES = env_list("OPS_BROKER_QUEUES", "inference,default,training")
OPS_CHECK_TIMEOUT_SECONDS = float(os.environ.get("OPS_CHECK_TIMEOUT_SECONDS", "2"))
# Callables giving (version, kind, status, state, precision, drift) rows of models ops does not own, for the
# model health metrics (read by import string: ops and accounts are peers and never import each other).
OPS_MODEL_HEALTH_SOURCES = ["accounts.risk_health.health_for_metrics"]
CELERY_BEAT_SCHEDULE["ops-beat-tick"] = {"task": "ops.tasks.beat_tick", "schedule": 30}
CELERY_BEAT_SCHEDULE["ops-prune-heartbeats"] = {"task": "ops.tasks.prune_worker_heartbeats", "schedule": 3600}
# JSON nesting: request bodies and multipart JSON parts (api/json_input.py); item metadata is flatter still.
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 12)
MODERATION_MAX_METADATA_DEPTH = env_int("MODERATION_MAX_METADATA_DEPTH", 4)
