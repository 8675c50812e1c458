"""Finer statistics on ``queues_item.search_vector`` (PostgreSQL only).

With the default statistics target the planner guessed about 1,200 matches for any word outside the most common
ones, absent words included, and for an absent word walked all 1,000,000 items newest first looking for a page
(2.1 s measured with parallel workers off; bench/RESULTS.md, "Console (issue 19), session 6"). With 1,000 it knows rare and absent words
are rare and asks the GIN index (0.07 ms).
"""

from django.db import migrations


def _statistics(target: int):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE queues_item ALTER COLUMN search_vector SET STATISTICS {target}")

    return run


class Migration(migrations.Migration):
    dependencies = [("console", "0003_team_page_permission")]

    operations = [migrations.RunPython(_statistics(1000), _statistics(-1))]
