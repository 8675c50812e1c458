"""The index the search's labeler filter reads on PostgreSQL (SQLite, the embedded default, scans instead).

A labeler's newest labelled items lead a filtered page (console.selectors._page_through): review labels by
reviewer and item; the LLM results' index is in 0008. Unapplying this migration keeps the index: the labels
table belongs to review, and going back across the domain-apps move (tests/site/test_upgrade_in_place.py) must
leave that table as it was; an extra index changes no result.
"""

from django.db import migrations

from console.migrations._postgresql import on_postgresql

CREATE = ["CREATE INDEX IF NOT EXISTS console_label_reviewer_item ON queues_label (reviewer_id, item_id)"]


class Migration(migrations.Migration):
    dependencies = [("console", "0006_bulk_rescore")]

    operations = [migrations.RunPython(on_postgresql(CREATE), migrations.RunPython.noop)]
