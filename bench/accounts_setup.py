"""The account benchmarks' database: a fresh PostgreSQL database beside ``DATABASE_URL``, or embedded SQLite."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from bench_postgres import connect, create_database_sql, require_postgres_url, with_database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable)


def fresh_postgres(script: str, name: str) -> str:
    """Drop and create database ``name`` (it must contain 'bench') on the server of ``DATABASE_URL``; its URL."""
    if "bench" not in name:
        sys.exit(f"{script}: refusing to use database {name!r}: its name must contain 'bench'.")
    admin_url = require_postgres_url(script)
    # The maintenance database: the one DATABASE_URL names may not exist (pytest creates test_<name>).
    with connect(with_database(admin_url, "postgres"), autocommit=True) as conn:
        for attempt in range(10):
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.errors.InsufficientPrivilege:
                # An autovacuum worker on the old database: FORCE may not end it without superuser; it ends soon.
                if attempt == 9:
                    raise
                time.sleep(3)
        conn.execute(create_database_sql(name))  # a copy of the migrated template in the tiny CI runs
    return with_database(admin_url, name)


def setup_django(*, database_url: str | None, broker_url: str = "memory://") -> None:
    """Migrate the database (``None``: a new SQLite file in a temporary directory) and set Django up here."""
    os.environ.update(
        {
            "CELERY_BROKER_URL": broker_url,
            "LOG_LEVEL": "WARNING",
            "MODERATION_ENV": "embedded",
            "REVIEW_UNDO_SECONDS": "0",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
        var = Path(tempfile.mkdtemp(prefix="accounts-bench-"))
        os.environ.update({"VAR_DIR": str(var), "MEDIA_ROOT": str(var / "media")})
    subprocess.run([str(PYTHON), "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
