#!/usr/bin/env python
"""The labeler table with many labels: computed per request (before) against the cached page (after).

    .venv/bin/python bench/labeler_table.py [--items 20000] [--repeats 3]

On the embedded set-up (SQLite in a temporary ``VAR_DIR``, an in-process cache), writes ``--items`` items, each
decided by one of 20 moderators with a label per active category (a tenth checked by a senior in QA), answered by
two LLM prompt versions, scored by a model version, and a crowd task set over a tenth of them with 3 answers each.
Then, in one run:

- ``labeler_table()`` + ``prompt_comparisons()`` computed directly, ``--repeats`` times (what every page view did);
- the page (``/labeling/labelers/``) through Django's test client: the first view (cache cold: it computes and
  stores), then ``--repeats`` views that read the cached copy.

Prints the median seconds of each and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_embedded import setup_embedded_django  # noqa: E402

MODERATORS = 20
CROWD_WORKERS = 10


def populate(items: int) -> dict[str, int]:
    import random

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from classifiers.models import ModelVersion, PolicyCategory, Score
    from intake.models import Item
    from labeling import llm_runs
    from labeling.models import CrowdAssignment, CrowdTask, CrowdTaskSet, Labeler, LLMEndpoint, LLMResult, LLMRun
    from queues.models import Decision
    from review.models import Label, QAReview

    rng = random.Random(0)
    users = get_user_model().objects
    moderators = [users.create_user(username=f"mod{n}") for n in range(MODERATORS)]
    senior = users.create_user(username="senior")
    workers = [users.create_user(username=f"crowd{n}") for n in range(CROWD_WORKERS)]
    categories = list(PolicyCategory.objects.filter(is_active=True))
    spam = next(c for c in categories if c.slug == "spam")
    with transaction.atomic():
        rows = Item.objects.bulk_create(
            Item(source="bench", external_id=f"t{n}", text=f"bench item {n}") for n in range(items)
        )
        truth = {item.pk: rng.random() < 0.3 for item in rows}
        decisions = Decision.objects.bulk_create(
            Decision(
                item=item,
                reviewer=rng.choice(moderators),
                action=Decision.Action.REMOVE if truth[item.pk] else Decision.Action.NO_VIOLATION,
            )
            for item in rows
        )
        labels = []
        for decision in decisions:
            for category in categories:
                value = truth[decision.item_id] if category is spam else False
                if rng.random() < 0.1:
                    value = not value  # moderators are wrong now and then
                labels.append(
                    Label(
                        item_id=decision.item_id,
                        category=category,
                        value=value,
                        decision=decision,
                        reviewer=decision.reviewer,
                    )
                )
        Label.objects.bulk_create(labels, batch_size=5000)
        checked = decisions[: max(1, items // 10)]
        # A senior agreed: those decisions' labels become the moderators' reference.
        QAReview.objects.bulk_create(
            QAReview(decision=d, reviewer=senior, verdict=QAReview.Verdict.AGREE) for d in checked
        )
        endpoint = LLMEndpoint.objects.create(name="bench", base_url="http://127.0.0.1:9/v1", model="bench-model")
        for version in (1, 2):
            prompt = llm_runs.create_prompt_version(category=spam, policy_text=f"v{version}", examples=[])
            labeler = llm_runs.llm_labeler_for(prompt=prompt, endpoint=endpoint)
            run = LLMRun.objects.create(labeler=labeler, state=LLMRun.State.DONE)
            LLMResult.objects.bulk_create(
                (
                    LLMResult(
                        run=run,
                        labeler=labeler,
                        item=item,
                        content_hash=str(item.pk),
                        state=LLMResult.State.DONE,
                        verdict=truth[item.pk] if rng.random() < 0.8 else not truth[item.pk],
                        probability=0.5,
                        latency_ms=rng.randint(200, 3000),
                        prompt_tokens=300,
                        completion_tokens=40,
                        finished_at=item.created_at,
                    )
                    for item in rows
                ),
                batch_size=5000,
            )
        version = ModelVersion.objects.create(name="bench-text", kind=ModelVersion.Kind.TEXT, architecture="x")
        Score.objects.bulk_create(
            (
                Score(item_id=item.pk, model_version=version, category=c, probability=rng.random(), from_prior=False)
                for item in rows
                for c in categories
            ),
            batch_size=5000,
        )
        task_set = CrowdTaskSet.objects.create(name="bench", labels_per_item=3)
        task_set.categories.set([spam])
        tasks = CrowdTask.objects.bulk_create(CrowdTask(task_set=task_set, item=item) for item in rows[: items // 10])
        assignments = []
        for task in tasks:
            for worker in rng.sample(workers, 3):
                answer = "spam" if truth[task.item_id] == (rng.random() < 0.85) else "none"
                assignments.append(
                    CrowdAssignment(task=task, labeler=worker, answer=answer, answered_at=task.created_at, seconds=5)
                )
        CrowdAssignment.objects.bulk_create(assignments, batch_size=5000)
        for worker in workers:
            Labeler.objects.create(kind=Labeler.Kind.CROWD, user=worker, name=f"crowd:{worker.username}")
    return {
        "items": items,
        "labels": Label.objects.count(),
        "llm_results": LLMResult.objects.count(),
        "scores": Score.objects.count(),
        "crowd_answers": CrowdAssignment.objects.count(),
    }


def measure(repeats: int) -> dict[str, float]:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from labeling.labeler_table import cache_key, compute_and_cache, labeler_table, prompt_comparisons

    direct, shared = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        table = labeler_table(days=90)
        prompt_comparisons(days=90)
        direct.append(time.perf_counter() - started)
        started = time.perf_counter()
        compute_and_cache(days=90)  # what a cache miss and the beat's refresh do: the reference read once
        shared.append(time.perf_counter() - started)
    client = Client()
    client.force_login(get_user_model().objects.create_user(username="bench-staff", is_staff=True))
    cache.delete(cache_key(90))
    started = time.perf_counter()
    first = client.get("/labeling/labelers/")
    cold = time.perf_counter() - started
    assert first.status_code == 200, first.status_code
    warm = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get("/labeling/labelers/")
        warm.append(time.perf_counter() - started)
        assert response.status_code == 200
    figures = {
        "rows": len(table.rows),
        "direct": statistics.median(direct),
        "refresh": statistics.median(shared),
        "page_cold": cold,
        "page_cached": statistics.median(warm),
    }
    figures["speedup"] = figures["direct"] / figures["page_cached"]
    print(
        f"labeler table ({figures['rows']} rows), median of {repeats}: computed per request "
        f"{figures['direct']:.3f} s; one refresh (reference read once) {figures['refresh']:.3f} s; "
        f"page, cache cold {cold:.3f} s; "
        f"page from the cache {figures['page_cached']:.4f} s; "
        f"per-request compute / cached page = {figures['speedup']:.0f}x"
    )
    return figures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as var:
        from django.apps import apps

        if not apps.ready:  # the tiny test runs main() inside the test suite's Django, on its test database
            setup_embedded_django(Path(var), REDIS_URL="", CACHE_URL="")
        started = time.perf_counter()
        counts = populate(args.items)
        print(f"data: {counts} written in {time.perf_counter() - started:.1f} s")
        return {"counts": counts, **measure(args.repeats)}


if __name__ == "__main__":
    main()
