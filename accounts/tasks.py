"""Celery tasks of the accounts app. Each takes ids and calls one service; redelivery changes nothing twice."""

from celery import shared_task

from accounts import partitions, signal_updates, strikes


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
