"""Bulk "add to a crowd task set", and the LLM results' index the search's labeler filter reads on PostgreSQL
(see 0007; this one needs labeling's tables, so it comes after them)."""

import django.db.models.deletion
from django.db import migrations, models

from console.migrations._postgresql import on_postgresql

CREATE = [
    "CREATE INDEX IF NOT EXISTS console_llmresult_labeler_item ON labeling_llmresult (labeler_id, item_id)",
]
DROP = [
    "DROP INDEX IF EXISTS console_llmresult_labeler_item",
]


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0007_labeler_filter_indexes"),
        ("labeling", "0003_prompt_previews"),
    ]

    operations = [
        migrations.RunPython(on_postgresql(CREATE), on_postgresql(DROP)),
        migrations.AddField(
            model_name="bulkaction",
            name="target_task_set",
            field=models.ForeignKey(
                blank=True,
                help_text="The crowd task set the items are added to.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="labeling.crowdtaskset",
            ),
        ),
        migrations.AlterField(
            model_name="bulkaction",
            name="kind",
            field=models.CharField(
                choices=[
                    ("decide", "Decide"),
                    ("move", "Move to a queue"),
                    ("escalate", "Escalate"),
                    ("rescore", "Score again (failed items)"),
                    ("crowd", "Add to a crowd task set"),
                ],
                default="decide",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="bulkactionitem",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("pending", "Not yet"),
                    ("decided", "Decided"),
                    ("moved", "Moved"),
                    ("sent", "Sent for scoring"),
                    ("added", "Added to the task set"),
                    ("failed", "Left alone"),
                    ("undone", "Undone"),
                ],
                default="pending",
                max_length=8,
            ),
        ),
    ]
