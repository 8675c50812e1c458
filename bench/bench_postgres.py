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


def insert_select(conn, model, values: dict[str, str], source: str, params: dict | None = None) -> None:  # noqa: ANN001
    """``INSERT INTO <model's table> (...) SELECT <values>, <defaults> <source>`` on the raw connection ``conn``.

    ``values`` maps column names to SQL expressions over ``source`` (a FROM clause, with ``%(name)s``
    placeholders from ``params``). Every other column of the model gets what the ORM would write for an object
    created without it: ``now()`` for ``auto_now``/``auto_now_add``, the field's default, its database default,
    NULL when it is nullable, '' when it may be blank. So a column added to the model later cannot break the
    generator; one that is required and has no default stops it with a message naming the column. Needs Django
    set up (``django.setup()``) for the model's fields; the SQL runs on ``conn``, not on Django's connection.
    """
    from django.db import connection as django_connection

    params = dict(params or {})
    columns, expressions = list(values), list(values.values())
    for field in model._meta.concrete_fields:
        column = field.column
        if column in values or field.primary_key:
            continue  # given, or the serial/identity default
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expression = "now()"
        elif field.has_db_default():
            continue
        elif field.has_default():
            params[f"default__{column}"] = field.get_db_prep_save(field.get_default(), django_connection)
            expression = f"%(default__{column})s"
        elif field.null:
            continue
        elif field.blank and field.empty_strings_allowed:
            expression = "''"
        else:
            sys.exit(
                f"{model._meta.db_table}.{column} is required and has no default: the bench's generator must give it "
                "a value (add it to the values of its insert_select call)."
            )
        columns.append(column)
        expressions.append(expression)
    quoted = ", ".join(f'"{column}"' for column in columns)  # a column may be named like a keyword ("values")
    conn.execute(
        f"INSERT INTO {model._meta.db_table} ({quoted}) SELECT {', '.join(expressions)} {source}",
        params,
    )


def create_database_sql(name: str) -> str:
    """``CREATE DATABASE`` for a bench database: a copy of ``BENCH_POSTGRES_TEMPLATE`` when that names a migrated
    database (the tiny CI runs set it), so the ``migrate`` every benchmark still runs finds nothing to do."""
    template = os.environ.get("BENCH_POSTGRES_TEMPLATE")
    return f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
