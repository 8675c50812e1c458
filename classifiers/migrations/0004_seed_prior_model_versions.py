"""Start with one active prior-only version per kind, so items are scored before any labels exist."""

from django.db import migrations
from django.utils import timezone

PRIORS = [
    (
        "text-prior",
        "text",
        "all-MiniLM-L6-v2",
        "Cold start: policy-description similarity and an offensive-language model.",
    ),
    ("image-prior", "image", "mobilenetv3_small_100", "Cold start: pixel heuristics; no trained head yet."),
]


def seed(apps, schema_editor):
    ModelVersion = apps.get_model("classifiers", "ModelVersion")
    for name, kind, architecture, notes in PRIORS:
        if not ModelVersion.objects.filter(kind=kind, status="active").exists():
            ModelVersion.objects.get_or_create(
                name=name,
                defaults={
                    "kind": kind,
                    "architecture": architecture,
                    "status": "active",
                    "notes": notes,
                    "activated_at": timezone.now(),
                },
            )


def unseed(apps, schema_editor):
    apps.get_model("classifiers", "ModelVersion").objects.filter(name__in=[p[0] for p in PRIORS]).delete()


class Migration(migrations.Migration):
    dependencies = [("classifiers", "0003_embedding_modelversion_score")]
    operations = [migrations.RunPython(seed, unseed)]
