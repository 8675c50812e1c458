"""The benchmarks' embedded set-up: Django on a fresh SQLite database in a temporary ``VAR_DIR``, no broker server."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_embedded_django(var: Path, **settings: str) -> None:
    """Migrate a fresh database under ``var`` and set Django up in this process; ``settings`` are extra env vars.

    Messages go to an in-memory broker (the benchmarks call the tasks' code directly), and labels are final at
    once (``REVIEW_UNDO_SECONDS=0``: a simulated reviewer never undoes).
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
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
