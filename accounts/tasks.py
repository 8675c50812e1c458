"""Celery tasks of the accounts app. Each takes ids and calls one service; redelivery changes nothing twice."""

import logging

from celery import shared_task

from accounts import cases, partitions, risk_health, risk_versions, signal_updates, strikes
from accounts.models import RiskModelVersion

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def update_signals(account_ids: list[int]) -> int:
    """Fold these accounts' new events into their signals and run the detection rules; a no-op when none pend."""
    return signal_updates.update_account_signals(account_ids=account_ids)


@shared_task(ignore_result=True)
def sweep_signals() -> int:
    """Periodic: re-send signal updates whose message was lost or whose worker died."""
    return signal_updates.sweep_pending_signals()


@shared_task(ignore_result=True)
def maintain_event_partitions() -> dict:
    """Periodic: create the coming days' event partitions and drop those past retention."""
    return partitions.maintain_event_partitions()


@shared_task(ignore_result=True)
def count_strikes() -> int:
    """Periodic: strikes for new content removals; a policy case when an account reaches a threshold."""
    return strikes.count_strikes()


@shared_task(ignore_result=True)
def retrain_risk_model(actor_label: str = "celery") -> int | None:
    """Train the account risk models from the case decisions and register a version; its id, or None if refused."""
    try:
        version = risk_versions.retrain_risk_models(actor_label=actor_label)
    except risk_versions.RetrainingRefused as refused:
        logger.warning("account risk retraining refused: %s", refused)
        return None
    cases.rescore_open_cases()  # the open cases get the new version's risk (active or shadow) now
    return version.pk


@shared_task(ignore_result=True)
def rescore_open_cases() -> int:
    """After a risk model version is promoted: every open case scored and reordered with the new active version."""
    return cases.rescore_open_cases()


@shared_task(ignore_result=True)
def check_risk_model_health() -> int:
    """Periodic: store the active and shadow risk versions' precision, recall and drift, and their alert state."""
    return risk_health.refresh_all()


@shared_task(ignore_result=True, acks_late=True)
def refresh_risk_model_health(version_id: int) -> str:
    """On demand (the version page's "Recompute now", a promotion): one version's stored health; returns its state."""
    version = RiskModelVersion.objects.filter(pk=version_id).first()
    return risk_health.refresh_health(version).state if version else "gone"
