"""Put back what the data migrations seed. Transactional tests flush every table when they end, and a later
test that starts a separate process (a worker) must not depend on the order tests ran in."""

import importlib

from django.apps import apps

SEEDS = [
    "classifiers.migrations.0002_seed_policy_categories",
    "classifiers.migrations.0004_seed_prior_model_versions",
    "queues.migrations.0004_default_queue",
]


def ensure_seed_data() -> None:
    for module in SEEDS:
        migration = importlib.import_module(module)
        (getattr(migration, "seed", None) or migration.create)(apps, None)
