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


def fetch_together(statements: list[tuple[str, dict]]) -> list[list[tuple]]:
    """Every row of each ``(sql, params)``, in order, through ``prepared_cursor``.

    On PostgreSQL the statements go out together in one pipeline (psycopg's pipeline mode: sent without waiting
    for each result, answered in one batch), so a page that needs three independent reads waits for the
    database once instead of three times; on a loaded machine each wait costs more than a small query's work.
    Elsewhere (SQLite), or for one statement, they run one after the other.
    """
    cursors = [prepared_cursor() for _ in statements]
    try:
        if connection.vendor != "postgresql" or len(statements) == 1:  # a pipeline of one only adds its sync
            rows = []
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
                rows.append(cursor.fetchall())
            return rows
        # The pipeline's results arrive as its block ends, where an error in any statement is raised.
        with connection.wrap_database_errors, connection.connection.pipeline():
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()
