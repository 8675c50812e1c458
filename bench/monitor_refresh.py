#!/usr/bin/env python
"""How long one model version's monitoring refresh takes ("Recompute now", the periodic check), per version.

    scripts/with-services.sh env DATABASE_URL=postgres://.../moderation_bench_api \
        .venv/bin/python bench/monitor_refresh.py

Runs ``learning.monitoring.refresh_model_health`` once for every model version in the database that
``DATABASE_URL`` names (for instance the one ``bench/api_lists.py`` fills with 1,000,000 items and
490,000 labels) and prints wall and CPU seconds. It writes each version's ``ModelHealth`` row, as the
periodic task would. Why it matters: the page's "Recompute now" used to run this in the web request.
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    from bench_postgres import require_postgres_url

    require_postgres_url("bench/monitor_refresh.py")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderation_site.settings")
    import django

    django.setup()
    from classifiers.models import ModelVersion
    from learning import monitoring
    from queues.models import Decision
    from review.models import Label

    labels, decisions = Label.objects.count(), Decision.objects.count()
    print(f"{labels} labels, {decisions} decisions; load average {os.getloadavg()[0]:.1f}")
    print("| version | status | state | wall s | CPU s |")
    print("| --- | --- | --- | --- | --- |")
    for version in ModelVersion.objects.order_by("pk"):
        wall, cpu = time.perf_counter(), time.process_time()
        health = monitoring.refresh_model_health(version=version)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"| {version.name} | {version.status} | {health.state} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
