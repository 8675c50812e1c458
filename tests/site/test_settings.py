"""Production settings pass Django's deployment checklist; missing required values fail loudly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    ignored = {"DATABASE_URL", "SECRET_KEY", "MODERATION_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in ignored}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "MODERATION_ENV": "production",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "DATABASE_URL": "postgres://moderation:secret@db.internal:5432/moderation",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "moderation.example.com",
}


def test_production_settings_pass_check_deploy_with_no_warnings(tmp_path):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", VAR_DIR=str(tmp_path), **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_a_required_variable(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}
    result = run_manage("check", VAR_DIR=str(tmp_path), **env)
    assert result.returncode != 0
    assert missing in result.stderr


@pytest.mark.parametrize("rate", ["600", "fast", "0/min", "10/week"])
def test_a_rate_limit_that_cannot_be_read_stops_start_up(tmp_path, rate):
    result = run_manage("check", VAR_DIR=str(tmp_path), API_RATE_LIMIT=rate)
    assert result.returncode != 0
    assert "API_RATE_LIMIT" in result.stderr


def test_the_embedded_mode_needs_no_configuration_and_keeps_its_secret_key(tmp_path):
    first = run_manage("check", VAR_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    run_manage("check", VAR_DIR=str(tmp_path))
    assert (tmp_path / "secret_key").read_text() == key


def test_a_sqlite_database_url_works_and_gets_the_embedded_databases_options(tmp_path):
    # It used to get PostgreSQL's prepare_threshold, which SQLite's connect() refuses: every command crashed.
    url = f"sqlite:///{tmp_path / 'chosen.sqlite3'}"
    result = run_manage("migrate", "-v0", VAR_DIR=str(tmp_path), DATABASE_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "chosen.sqlite3").exists() and not (tmp_path / "db.sqlite3").exists()
    shown = run_manage(
        "shell", "-c", "from django.db import connection; print(connection.settings_dict['OPTIONS'])",
        VAR_DIR=str(tmp_path), DATABASE_URL=url,
    )  # fmt: skip
    assert "journal_mode=WAL" in shown.stdout and "prepare_threshold" not in shown.stdout, shown.stderr
