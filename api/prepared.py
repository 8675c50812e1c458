"""A cursor for the statements every API request runs, kept prepared by PostgreSQL.

Django's psycopg cursors bind parameters client-side, so PostgreSQL parses and plans each statement
anew. For the single-item ingestion statement (seven CTEs) that was more than half of its ~2 ms of
PostgreSQL CPU. A server-side binding cursor lets psycopg prepare a statement once it has run
``prepare_threshold`` times on a connection (``DATABASE_PREPARED_STATEMENTS`` in settings); Django's
own cursors never prepare, whatever the threshold. Without a threshold (e.g. behind a PgBouncer in
transaction mode older than 1.21), and on SQLite, this is Django's usual cursor.
"""

from django.db import connection
from django.db.backends.utils import CursorWrapper


def prepared_cursor() -> CursorWrapper:
    """A cursor, as ``connection.cursor()`` gives one, whose statements psycopg may prepare."""
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    # What BaseDatabaseWrapper._cursor() does, with a server-side binding cursor: health check,
    # connect, and Django's wrapper (error translation, query logging, execute wrappers).
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))
