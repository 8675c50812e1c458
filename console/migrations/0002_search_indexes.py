"""The indexes the console's search reads, on PostgreSQL only (SQLite searches by scanning).

They sit on the items and authors tables (``queues_item``, ``queues_author``) because only the search
needs them: full-text over the text, trigrams over handles, and exact lookups of the identifiers a
person pastes in (an external id without its source, a ticket id).
"""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # The exact expression Django's SearchVector("text", config="simple") compiles to, so the planner uses it.
    "CREATE INDEX IF NOT EXISTS console_item_text_fts ON queues_item "
    "USING gin (to_tsvector('simple'::regconfig, COALESCE(text, '')))",
    "CREATE INDEX IF NOT EXISTS console_item_external_id ON queues_item (external_id)",
    "CREATE INDEX IF NOT EXISTS console_item_ticket_id ON queues_item (ticket_id) WHERE ticket_id <> ''",
    "CREATE INDEX IF NOT EXISTS console_author_handle_trgm ON queues_author USING gin (UPPER(handle) gin_trgm_ops)",
]
DROP = [
    "DROP INDEX IF EXISTS console_item_text_fts",
    "DROP INDEX IF EXISTS console_item_external_id",
    "DROP INDEX IF EXISTS console_item_ticket_id",
    "DROP INDEX IF EXISTS console_author_handle_trgm",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("console", "0001_initial"), ("queues", "0017_queue_explore_rate_quarter")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
