"""The benchmarks' PostgreSQL plumbing: the URL from ``DATABASE_URL``, a database beside it, a raw connection."""

import os
import sys
from urllib.parse import urlparse, urlunparse

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}


def require_postgres_url(script: str) -> str:
    """``DATABASE_URL``, or exit with a message naming ``script`` when it is unset or not PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        sys.exit(
            f"{script}: DATABASE_URL is not set. Run it through scripts/with-services.sh, or point it at "
            "PostgreSQL, e.g. DATABASE_URL=postgres://moderation:moderation@127.0.0.1:5432/moderation"
        )
    scheme = urlparse(url).scheme.lower()
    if scheme not in POSTGRES_SCHEMES:
        sys.exit(f"{script}: DATABASE_URL must be a PostgreSQL URL (postgres://...), not {scheme or url!r}.")
    return url


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    return urlunparse(urlparse(url)._replace(path="/" + name))


def connect(url: str, autocommit: bool = False):  # noqa: ANN201 - a psycopg.Connection
    import psycopg

    parts = urlparse(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=parts.path.lstrip("/"),
        autocommit=autocommit,
    )
