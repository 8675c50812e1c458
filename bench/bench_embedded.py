"""The benchmarks' embedded set-up: Django on a fresh SQLite database in a temporary ``VAR_DIR``, no broker server."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_embedded_django(var: Path, **settings: str) -> None:
    """Migrate a fresh database under ``var`` and set Django up in this process; ``settings`` are extra env vars.

    Messages go to an in-memory broker (the benchmarks call the tasks' code directly), and labels are final at
    once (``REVIEW_UNDO_SECONDS=0``: a simulated reviewer never undoes).

    With ``BENCH_SQLITE_TEMPLATE`` naming a migrated SQLite file (the tiny CI runs set it), the database starts as
    a copy of it; ``migrate`` still runs, so a stale copy is brought up to date, but an up-to-date one costs ~1 s of
    CPU instead of ~6.
    """
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        {
            "VAR_DIR": str(var),
            "MEDIA_ROOT": str(var / "media"),
            "CELERY_BROKER_URL": "memory://",
            "REVIEW_UNDO_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "moderation_site.settings",
            **settings,
        }
    )
    template = os.environ.get("BENCH_SQLITE_TEMPLATE")
    if template:
        var.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, var / "db.sqlite3")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
