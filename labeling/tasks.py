"""Celery tasks of the labeling app. ``CELERY_TASK_ROUTES`` sends them to the ``llm`` queue, so a slow or dead LLM
endpoint never holds up scoring (``inference``) or housekeeping (``default``)."""

from celery import shared_task

from labeling import crowd, labeler_table, llm_runs


@shared_task(name="labeling.tasks.process_llm_run", soft_time_limit=300, time_limit=360)
def process_llm_run(run_id: int) -> str:
    """Label a slice of the run's pending items; the service re-sends the run for the rest."""
    return llm_runs.process_llm_run(run_id=run_id)


@shared_task(name="labeling.tasks.requeue_stalled_llm_runs")
def requeue_stalled_llm_runs() -> int:
    """Beat: re-send runs whose message was lost or whose worker died."""
    return llm_runs.requeue_stalled_runs()


@shared_task(name="labeling.tasks.aggregate_task_set")
def aggregate_task_set(task_set_id: int) -> int:
    """Dawid-Skene over a task set's answers; sends the items the crowd disagrees on to a moderator."""
    return crowd.aggregate_task_set(task_set_id=task_set_id).sent_to_review


@shared_task(name="labeling.tasks.sweep_unaggregated_task_sets")
def sweep_unaggregated_task_sets() -> int:
    """Beat: aggregate complete task sets whose aggregation message was lost."""
    return crowd.sweep_unaggregated_task_sets()


@shared_task(name="labeling.tasks.run_prompt_preview", soft_time_limit=180, time_limit=240)
def run_prompt_preview(preview_id: int) -> str:
    """Ask the endpoint about a draft prompt's preview items; the admin's page polls for the answers."""
    return llm_runs.run_preview(preview_id=preview_id)


@shared_task(name="labeling.tasks.refresh_labeler_tables")
def refresh_labeler_tables() -> int:
    """Beat: recompute the labeler table of every period the page offers, so a page view reads a warm copy."""
    for days in labeler_table.PERIODS:
        labeler_table.compute_and_cache(days=days)
    return len(labeler_table.PERIODS)
