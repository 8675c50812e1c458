"""Create the default queue that catches every item no routing rule matches."""

from datetime import timedelta

from django.db import migrations


def create(apps, schema_editor):
    Queue = apps.get_model("queues", "Queue")
    if not Queue.objects.filter(is_default=True).exists():
        Queue.objects.create(
            name="General review",
            slug="general",
            description="Everything no routing rule sends elsewhere.",
            deadline=timedelta(hours=24),
            is_default=True,
        )


class Migration(migrations.Migration):
    dependencies = [("queues", "0003_item_duplicate_group_item_image_phash_and_more")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
