"""Celery tasks. Each takes ids, and calls one service; redelivery changes nothing twice."""

from celery import shared_task
from django.conf import settings

from queues import enqueue, review, scoring


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def score_items(item_ids: list[int]) -> int:
    """Score a micro-batch, starting with ``item_ids``; a no-op for items already taken or done."""
    return scoring.score_pending_items(item_ids=item_ids)


@shared_task(ignore_result=True)
def sweep_scoring() -> int:
    """Periodic: re-queue items stuck in scoring (lost message, killed worker)."""
    return scoring.requeue_stuck_scoring()


@shared_task(ignore_result=True)
def release_expired_leases() -> int:
    """Periodic: items whose reviewer's lease ran out go back to their queue."""
    return review.release_expired_leases()


@shared_task(ignore_result=True)
def reroute_pending() -> int:
    """After a model version becomes active: score pending items with it and route them again."""
    return enqueue.reroute_pending_items()


@shared_task(ignore_result=True)
def sample_queue_depths() -> int:
    """Periodic: record each queue's depth for the overview charts."""
    return enqueue.sample_queue_depths()


RETRAIN_TASK_OPTIONS = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "soft_time_limit": settings.RETRAIN_TIME_LIMIT_SECONDS,
    "time_limit": settings.RETRAIN_TIME_LIMIT_SECONDS + 60,
}


@shared_task(**RETRAIN_TASK_OPTIONS)
def retrain_heads(run_id: int) -> str:
    """Run one retraining of either kind (queue ``training``): snapshot, train heads, evaluate, register a candidate."""
    from queues.retraining import run_retraining

    return run_retraining(run_id=run_id)


@shared_task(**RETRAIN_TASK_OPTIONS)
def retrain_text_heads(run_id: int) -> str:
    """The old name of ``retrain_heads``, from before image runs: kept so that messages already in a broker run."""
    return retrain_heads(run_id)


@shared_task(ignore_result=True)
def sweep_retraining() -> int:
    """Periodic: re-send retraining runs whose message was lost or whose worker died."""
    from queues.retraining import sweep_retraining_runs

    return sweep_retraining_runs()


@shared_task(ignore_result=True)
def retrain_after_new_labels() -> bool:
    """Periodic: start a retraining once ``RETRAIN_AFTER_LABELS`` new labels are in."""
    from queues.retraining import retrain_if_enough_new_labels

    return retrain_if_enough_new_labels() is not None


@shared_task(ignore_result=True)
def retrain_scheduled() -> bool:
    """Daily: start a retraining if any label came in since the last run."""
    from queues.retraining import retrain_on_schedule

    return retrain_on_schedule() is not None


@shared_task(ignore_result=True)
def check_model_health() -> int:
    """Periodic: recompute live precision, calibration and drift of active and shadow models, and their alerts."""
    from queues.monitoring import refresh_all_model_health

    return refresh_all_model_health()


@shared_task(ignore_result=True, acks_late=True)
def refresh_model_health(version_id: int) -> str:
    """On demand ("Recompute now"): one version's monitoring report and alert state; returns the state."""
    from classifiers.models import ModelVersion
    from queues.monitoring import refresh_model_health as refresh

    version = ModelVersion.objects.filter(pk=version_id).first()
    return refresh(version=version).state if version else "gone"


@shared_task(ignore_result=True)
def rerank_labelling_queues() -> int:
    """Periodic: order the most uncertain items of labelling queues for diversity (queues.active_learning)."""
    from queues.active_learning import rerank_labelling_queues as rerank

    return rerank()
