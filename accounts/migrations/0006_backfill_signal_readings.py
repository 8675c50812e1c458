"""Give every signal snapshot written before readings existed (0003_signal_readings) its reading.

The risk model's features are now the highest reading of each signal (``accounts.risk_model.peak_values``,
one SQL ``MAX()`` per column); without this, an account's history from before readings would be forgotten.
Snapshots and their readings share the account and ``taken_at``; only snapshots without one are copied.
"""

from django.db import migrations, models

CHUNK = 5000


def backfill(apps, schema_editor) -> None:  # noqa: ANN001
    snapshots = apps.get_model("accounts", "SignalSnapshot").objects
    reading = apps.get_model("accounts", "SignalReading")
    columns = [f.name for f in reading._meta.fields if isinstance(f, models.FloatField)]
    last = 0
    while True:
        chunk = list(
            snapshots.filter(pk__gt=last)
            .order_by("pk")
            .values("pk", "account_id", "taken_at", "values", "event_types", "countries")[:CHUNK]
        )
        if not chunk:
            return
        last = chunk[-1]["pk"]
        have = set(
            reading.objects.filter(
                account_id__in={s["account_id"] for s in chunk},
                taken_at__gte=min(s["taken_at"] for s in chunk),
                taken_at__lte=max(s["taken_at"] for s in chunk),
            ).values_list("account_id", "taken_at")
        )
        reading.objects.bulk_create(
            reading(
                account_id=s["account_id"],
                taken_at=s["taken_at"],
                event_types=s["event_types"],
                countries=s["countries"],
                **{name: float(v) if isinstance(v := s["values"].get(name), int | float) else None for name in columns},
            )  # fmt: skip
            for s in chunk
            if (s["account_id"], s["taken_at"]) not in have
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_risk_experiments")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
