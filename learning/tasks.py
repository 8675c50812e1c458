"""Celery tasks of learning: retraining and model monitoring. Names keep the ``queues.tasks`` prefix they had,
so messages already queued and beat entries still match."""

from celery import shared_task
from django.conf import settings

from classifiers.models import ModelVersion
from learning.monitoring import refresh_all_model_health
from learning.monitoring import refresh_model_health as refresh
from learning.reembedding import run_reembedding, sweep_reembedding
from learning.retraining import (
    retrain_if_enough_new_labels,
    retrain_on_schedule,
    run_retraining,
    sweep_retraining_runs,
)

RETRAIN_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "soft_time_limit": settings.RETRAIN_TIME_LIMIT_SECONDS,
    "time_limit": settings.RETRAIN_TIME_LIMIT_SECONDS + 60,
}


@shared_task(**RETRAIN_TASK_OPTIONS, name="queues.tasks.retrain_heads")
def retrain_heads(run_id: int) -> str:
    """Run one retraining of either kind (queue ``training``): snapshot, train heads, evaluate, register a candidate."""
    return run_retraining(run_id=run_id)


@shared_task(**RETRAIN_TASK_OPTIONS, name="queues.tasks.retrain_text_heads")
def retrain_text_heads(run_id: int) -> str:
    """The old name of ``retrain_heads``, from before image runs: kept so that messages already in a broker run."""
    return retrain_heads(run_id)


@shared_task(ignore_result=True, name="queues.tasks.sweep_retraining")
def sweep_retraining() -> int:
    """Periodic: re-send retraining runs whose message was lost or whose worker died."""
    return sweep_retraining_runs()


@shared_task(ignore_result=True, name="queues.tasks.retrain_after_new_labels")
def retrain_after_new_labels() -> bool:
    """Periodic: start a retraining once ``RETRAIN_AFTER_LABELS`` new labels are in."""
    return retrain_if_enough_new_labels() is not None


@shared_task(ignore_result=True, name="queues.tasks.retrain_scheduled")
def retrain_scheduled() -> bool:
    """Daily: start a retraining if any label came in since the last run."""
    return retrain_on_schedule() is not None


@shared_task(ignore_result=True, name="queues.tasks.check_model_health")
def check_model_health() -> int:
    """Periodic: recompute live precision, calibration and drift of active and shadow models, and their alerts."""
    return refresh_all_model_health()


@shared_task(ignore_result=True, acks_late=True, name="queues.tasks.refresh_model_health")
def refresh_model_health(version_id: int) -> str:
    """On demand ("Recompute now"): one version's monitoring report and alert state; returns the state."""
    version = ModelVersion.objects.filter(pk=version_id).first()
    return refresh(version=version).state if version else "gone"


@shared_task(**RETRAIN_TASK_OPTIONS, name="learning.tasks.reembed_images")
def reembed_images(job_id: int) -> str:
    """Embed stored images into a new image backbone's space (queue ``training``), resuming after the job's cursor."""
    return run_reembedding(job_id)


@shared_task(ignore_result=True, name="learning.tasks.sweep_reembedding")
def sweep_reembedding_jobs() -> int:
    """Periodic: re-send re-embedding jobs whose message was lost or whose worker died."""
    return sweep_reembedding()
