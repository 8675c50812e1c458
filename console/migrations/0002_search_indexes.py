"""What the console's search reads on PostgreSQL (SQLite searches by scanning).

On the items, authors and decisions tables (``queues_item``, ``queues_author``, ``queues_decision``),
because only the search needs them:

- ``queues_item.search_vector``: the text's ``to_tsvector('simple', ...)``, a stored generated column with a
  GIN index. Stored, not an expression index, because testing a stored vector costs about a microsecond: for
  a common word PostgreSQL walks the newest items and stops after a page instead of computing the vector of
  every row it passes (measured by bench/console_search.py: 371 ms down to 28 ms for a word in 0.5 % of 1M items).
  Not a model field, so SQLite (the embedded default) and code that writes items need not know it;
- trigrams over author handles (``pg_trgm``), and exact lookups of the identifiers a person pastes in
  (an external id without its source, a ticket id);
- decisions by action and by reviewer, with the item: the "decided as" and "decided by" filters.
"""

from django.db import migrations

from console.migrations._postgresql import on_postgresql

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE queues_item ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, COALESCE(text, ''))) STORED",
    "CREATE INDEX IF NOT EXISTS console_item_search_vector ON queues_item USING gin (search_vector)",
    "CREATE INDEX IF NOT EXISTS console_item_external_id ON queues_item (external_id)",
    "CREATE INDEX IF NOT EXISTS console_item_ticket_id ON queues_item (ticket_id) WHERE ticket_id <> ''",
    "CREATE INDEX IF NOT EXISTS console_author_handle_trgm ON queues_author USING gin (UPPER(handle) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS console_decision_action_item ON queues_decision (action, item_id)",
    "CREATE INDEX IF NOT EXISTS console_decision_reviewer_item ON queues_decision (reviewer_id, item_id)",
]
DROP = [
    "DROP INDEX IF EXISTS console_decision_reviewer_item",
    "DROP INDEX IF EXISTS console_decision_action_item",
    "DROP INDEX IF EXISTS console_author_handle_trgm",
    "DROP INDEX IF EXISTS console_item_ticket_id",
    "DROP INDEX IF EXISTS console_item_external_id",
    "ALTER TABLE queues_item DROP COLUMN IF EXISTS search_vector",  # drops its index too
]


class Migration(migrations.Migration):
    # The tables as they were before the domain-apps move (queues 0017): the move is state-only, so this holds
    # after it too, and moving back and forth across it (tests/site/test_upgrade_in_place.py) leaves these alone.
    dependencies = [("console", "0001_initial"), ("queues", "0017_queue_explore_rate_quarter")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP))]
