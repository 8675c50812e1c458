"""``queues_item.search_vector`` is computed once an item leaves the scoring pipeline (PostgreSQL only).

0002 made it a stored generated column: PostgreSQL computed ``to_tsvector`` of the text at ingest, and each of the
pipeline's updates of the row (claimed for scoring, scored, routed) wrote a new row version whose whole vector went
into the GIN index again. Without the column the scoring benchmark's end-to-end throughput rose from 88 % to 91 % of
the bare model, and its 500-mail ingest took half the time (bench/RESULTS.md, session 12). Now the column is a plain one
that a trigger fills when the item is routed or decided (any state but received, scoring and scored), and
recomputes (or, during scoring, clears) when its text changes: the pipeline's updates carry a NULL vector, and the
vector enters the index once.

Until then the console's search tests the text of those few items directly, found through a partial index of the
items without a vector (``console.selectors._text_match``). Rows that already have a vector keep it.
"""

from django.db import migrations

from console.migrations._postgresql import on_postgresql

PIPELINE_STATES = "('received', 'scoring', 'scored')"
VECTOR = "to_tsvector('simple'::regconfig, COALESCE(text, ''))"

CREATE = [
    "ALTER TABLE queues_item ALTER COLUMN search_vector DROP EXPRESSION",
    # An item being scored has no vector, whatever happened before: text changed mid-pipeline must not leave the
    # old text's vector behind for the routing update to keep.
    f"""CREATE FUNCTION console_item_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.state IN {PIPELINE_STATES} THEN
                NEW.search_vector := NULL;
            ELSE
                NEW.search_vector := to_tsvector('simple'::regconfig, COALESCE(NEW.text, ''));
            END IF;
            RETURN NEW;
        END $$""",
    f"""CREATE TRIGGER console_item_search_vector_insert BEFORE INSERT ON queues_item FOR EACH ROW
        WHEN (NEW.state NOT IN {PIPELINE_STATES}) EXECUTE FUNCTION console_item_search_vector()""",
    # OF state, text: Django's update() names only the columns it sets, and the WHEN clause is evaluated without
    # calling the function, so the pipeline's updates cost a comparison each.
    f"""CREATE TRIGGER console_item_search_vector_update BEFORE UPDATE OF state, text ON queues_item FOR EACH ROW
        WHEN ((NEW.state NOT IN {PIPELINE_STATES} AND NEW.search_vector IS NULL) OR NEW.text IS DISTINCT FROM OLD.text)
        EXECUTE FUNCTION console_item_search_vector()""",
    "CREATE INDEX console_item_without_search_vector ON queues_item (id) WHERE search_vector IS NULL",
]
DROP = [
    "DROP INDEX IF EXISTS console_item_without_search_vector",
    "DROP TRIGGER IF EXISTS console_item_search_vector_update ON queues_item",
    "DROP TRIGGER IF EXISTS console_item_search_vector_insert ON queues_item",
    "DROP FUNCTION IF EXISTS console_item_search_vector()",
    # Back to 0002's generated column (a plain column cannot become one), its index and 0004's statistics.
    "ALTER TABLE queues_item DROP COLUMN search_vector",
    f"ALTER TABLE queues_item ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({VECTOR}) STORED",
    "CREATE INDEX console_item_search_vector ON queues_item USING gin (search_vector)",
    "ALTER TABLE queues_item ALTER COLUMN search_vector SET STATISTICS 1000",
]


class Migration(migrations.Migration):
    dependencies = [("console", "0008_bulk_crowd")]

    operations = [migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP))]
