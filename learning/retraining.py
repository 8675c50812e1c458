"""Retraining runs: started on a schedule, after enough new labels, or by an admin; run by a worker under a lease.

A run is a ``classifiers.RetrainingRun`` row; the row is the truth and Celery only carries its id
(DESIGN.md invariant 1). A worker claims the run with a conditional update (queued, or running with
an expired lease, and attempts left), renews the lease as training reports progress, and writes the
outcome only while it still holds the lease. The run exports a snapshot of the labels as of its own
creation time, once the undo window has passed over it (a label decided just before the run started is
final by then, so it is taken rather than left out), and a retried run trains on the same labels; then
``classifiers.retraining`` trains heads, evaluates the candidate and the active version on the same
held-out rows, and registers the candidate. The candidate registration and the run's success are
one transaction. Any error marks the run failed with the error and registers nothing; the active
version is never changed here (an admin promotes a candidate).

A run trains one kind (``RetrainingRun.kind``): ``text`` the text heads (``classifiers.retraining``),
``image`` the image heads on the items with an image, after fine-tuning the backbone when
``RETRAIN_IMAGE_FINE_TUNE_EPOCHS`` > 0, or in stages chosen on held-out labels within
``RETRAIN_IMAGE_FINE_TUNE_SECONDS`` of CPU when that is > 0 (``classifiers.image_retraining``); the staged schedule
also self-trains on up to ``RETRAIN_IMAGE_SELF_TRAIN_POOL`` of the most recent unlabelled stored images, which this
module picks (classifiers know no items). One run per kind may be open at a time. The schedule and the label-count
trigger start a text run, and an image run too when labels on items with an image came in since the last image run;
an admin starts either kind.
"""

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import record_event
from classifiers.models import ModelVersion, RetrainingRun
from learning.training_data import export_training_snapshot, unlabelled_stored_images
from review.models import Label

# By name: the task module calls this one. The name is the one queued messages and routes use.
RETRAIN_TASK = "queues.tasks.retrain_heads"


def _send_retraining(run_id: int) -> None:
    current_app.signature(RETRAIN_TASK, args=[run_id]).delay()


logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 2.0


class LeaseLost(RuntimeError):
    """Another worker took the run over (this one's lease expired): stop without writing."""


def _open_run(kind: str = ModelVersion.Kind.TEXT) -> RetrainingRun | None:
    return RetrainingRun.objects.filter(kind=kind, state__in=RetrainingRun.OPEN_STATES).first()


def start_retraining(
    *, trigger: str, actor: AbstractBaseUser | None = None, actor_label: str = "", kind: str = ModelVersion.Kind.TEXT
) -> tuple[RetrainingRun, bool]:
    """Queue a retraining of ``kind``'s model (sent to the ``training`` queue after commit).

    Returns ``(run, True)``, or ``(the open run, False)`` when one is already queued or running:
    triggers that fire together start one run. Writes an audit event.
    """

    if trigger not in RetrainingRun.Trigger.values:
        raise ValueError(f"Unknown trigger {trigger!r}")
    if kind not in ModelVersion.Kind.values:
        raise ValueError(f"Unknown kind {kind!r}")
    with transaction.atomic():
        existing = _open_run(kind)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                run = RetrainingRun.objects.create(kind=kind, trigger=trigger, requested_by=actor)
        except IntegrityError:  # a concurrent trigger won the one-open-run constraint
            return _open_run(kind) or RetrainingRun.objects.latest("created_at"), False
        after = {"trigger": trigger} if kind == ModelVersion.Kind.TEXT else {"trigger": trigger, "kind": kind}
        record_event(action="retraining.requested", target=run, actor=actor, actor_label=actor_label, after=after)
        transaction.on_commit(
            lambda: _send_retraining(run.pk), robust=True
        )  # broker down: logged; the sweeper sends it
    return run, True


class _Heartbeat:
    """Renews the lease and saves progress at most every HEARTBEAT_SECONDS; raises LeaseLost once it is gone."""

    def __init__(self, run_id: int, token: uuid.UUID) -> None:
        self.held = Q(pk=run_id, worker_token=token, state=RetrainingRun.State.RUNNING)
        self.losses: list[float] = []
        self.last = 0.0

    def beat(self, stage: str, *, force: bool = False, **fields: object) -> None:
        now = time.monotonic()
        if not force and now - self.last < HEARTBEAT_SECONDS:
            return
        self.last = now
        lease = timezone.now() + timedelta(seconds=settings.RETRAIN_LEASE_SECONDS)
        updated = RetrainingRun.objects.filter(self.held).update(
            lease_until=lease, stage=stage[:100], epoch_losses=list(self.losses), **fields
        )
        if not updated:
            raise LeaseLost("the run's lease expired and another worker took it")

    def on_loss(self, passes: int, loss: float) -> None:
        self.losses.append(round(loss, 6))
        self.beat(f"training: pass {passes}, loss {loss:.4f}")

    def on_embedding(self, done: int, total: int) -> None:
        self.beat(f"embedding items without a stored embedding: {done}/{total}")


def run_retraining(*, run_id: int) -> str:
    """Claim the run, export its snapshot, train, evaluate and register the candidate; return the run's state.

    A redelivered message for a run that another worker holds, or that already finished, changes
    nothing and returns its current state.
    """
    from classifiers.retraining import RetrainingError
    from classifiers.runtime import configure_torch_threads
    from classifiers.snapshots import SnapshotError, read_snapshot

    token = uuid.uuid4()
    now = timezone.now()
    claimed = RetrainingRun.objects.filter(
        Q(state=RetrainingRun.State.QUEUED) | Q(state=RetrainingRun.State.RUNNING, lease_until__lt=now),
        pk=run_id,
        attempts__lt=settings.RETRAIN_MAX_ATTEMPTS,
    ).update(
        state=RetrainingRun.State.RUNNING,
        worker_token=token,
        lease_until=now + timedelta(seconds=settings.RETRAIN_LEASE_SECONDS),
        attempts=F("attempts") + 1,
        started_at=now,
        stage="exporting labels",
        epoch_losses=[],
        error="",
    )
    if not claimed:
        return RetrainingRun.objects.filter(pk=run_id).values_list("state", flat=True).first() or "missing"
    run = RetrainingRun.objects.select_related("snapshot").get(pk=run_id)
    heartbeat = _Heartbeat(run_id, token)
    try:
        snapshot = run.snapshot
        if snapshot is None:
            cutoff = run.created_at
            wait_until_final(cutoff)
            snapshot = export_training_snapshot(cutoff=cutoff, actor_label=f"retraining run {run.pk}")
            heartbeat.beat("reading the snapshot", force=True, snapshot=snapshot)
        configure_torch_threads()
        fit, register = _trainer(run.kind, heartbeat)
        training = read_snapshot(snapshot.path)
        if _self_trains(run.kind):
            heartbeat.beat("choosing unlabelled images for self-training", force=True)
            labelled = {record.item_id for record in training.records}
            pool = unlabelled_stored_images(settings.RETRAIN_IMAGE_SELF_TRAIN_POOL, labelled)
            fit = partial(fit, unlabelled_images=pool)
        fitted = fit(snapshot=training, on_loss=heartbeat.on_loss, on_embedding=heartbeat.on_embedding)
        heartbeat.beat("registering the candidate", force=True)
        with transaction.atomic():
            version = register(
                fitted,
                name=f"{run.kind}-retrain-{run.pk}",
                snapshot_label=snapshot.label,
                notes=f"Retraining run {run.pk} ({run.get_trigger_display().lower()}) on {snapshot.label}.",
            )
            active = fitted.metrics.get("active") or {}
            finished = RetrainingRun.objects.filter(heartbeat.held).update(
                state=RetrainingRun.State.SUCCEEDED,
                finished_at=timezone.now(),
                lease_until=None,
                stage="done",
                candidate=version,
                compared_with=ModelVersion.objects.filter(name=active.get("version")).first(),
                epoch_losses=list(heartbeat.losses),
                metrics=_run_metrics(fitted.metrics, version.name),
            )
            if not finished:
                raise LeaseLost("the run's lease expired before the candidate was registered")
            record_event(
                action="retraining.succeeded",
                target=run,
                actor_label=f"retraining run {run.pk}",
                after={"candidate": version.name, "snapshot": snapshot.pk},
            )
        return RetrainingRun.State.SUCCEEDED
    except LeaseLost as exc:
        logger.warning("retraining run %s: %s", run_id, exc)
        return "lease lost"
    except Exception as exc:
        # Expected failures (no labels, one class only, a damaged snapshot) keep their message; anything
        # else keeps the last line of its traceback, so the admin sees what broke.
        expected = (RetrainingError, SnapshotError, ValueError, FileExistsError)
        message = str(exc) if isinstance(exc, expected) else traceback.format_exc(limit=3)[-2000:]
        if not isinstance(exc, expected):
            logger.exception("retraining run %s failed", run_id)
        _fail(heartbeat.held, run, message, heartbeat.losses)
        return RetrainingRun.State.FAILED


def _self_trains(kind: str) -> bool:
    """Image runs self-train on unlabelled stored images when a pool is set and the staged schedule runs."""
    return (
        kind == ModelVersion.Kind.IMAGE
        and settings.RETRAIN_IMAGE_SELF_TRAIN_POOL > 0
        and settings.RETRAIN_IMAGE_FINE_TUNE_SECONDS > 0
    )


def _trainer(kind: str, heartbeat: _Heartbeat) -> tuple:
    """The fit and register functions for a run of ``kind`` (image runs fine-tune per the settings)."""
    if kind == ModelVersion.Kind.IMAGE:
        from classifiers.image_retraining import fit_image_candidate, register_image_candidate

        def on_epoch(epoch: int, loss: float) -> None:
            heartbeat.beat(f"fine-tuning the backbone: epoch {epoch}, loss {loss:.4f}", force=True)

        fit = partial(
            fit_image_candidate,
            fine_tune_epochs=settings.RETRAIN_IMAGE_FINE_TUNE_EPOCHS,
            on_fine_tune_epoch=on_epoch,
            fine_tune_seconds=settings.RETRAIN_IMAGE_FINE_TUNE_SECONDS,
            on_fine_tune_progress=lambda line: heartbeat.beat(line, force=True),
        )
        return fit, register_image_candidate
    from classifiers.retraining import fit_text_candidate, register_text_candidate

    return partial(fit_text_candidate, on_stage=lambda line: heartbeat.beat(line, force=True)), register_text_candidate


def _fail(held: Q, run: RetrainingRun, message: str, losses: list[float]) -> None:
    with transaction.atomic():
        updated = RetrainingRun.objects.filter(held).update(
            state=RetrainingRun.State.FAILED,
            finished_at=timezone.now(),
            lease_until=None,
            stage="failed",
            error=message,
            epoch_losses=list(losses),
        )
        if updated:
            record_event(
                action="retraining.failed", target=run, actor_label=f"retraining run {run.pk}", after={"error": message}
            )


def _run_metrics(metrics: dict, candidate_name: str) -> dict:
    """The run's view: candidate and active side by side on the same held-out rows."""
    return {
        "held_out_rows": metrics["held_out_rows"],
        "train_rows": metrics["train_rows"],
        "held_out_source": metrics["held_out_source"],
        "candidate": {"version": candidate_name, "held_out": metrics["held_out"]},
        "active": metrics.get("active"),
        "text_tuning": metrics.get("text_tuning"),  # the encoder's last layer, when the run tuned it
    }


def sweep_retraining_runs(*, queued_for_seconds: int = 60) -> int:
    """Re-send runs whose message was lost or whose worker died; fail those out of attempts. Returns re-sent."""

    now = timezone.now()
    exhausted = RetrainingRun.objects.filter(
        state=RetrainingRun.State.RUNNING, lease_until__lt=now, attempts__gte=settings.RETRAIN_MAX_ATTEMPTS
    )
    for run in exhausted:
        _fail(
            Q(pk=run.pk, state=run.state, attempts=run.attempts),
            run,
            f"The worker did not finish after {run.attempts} attempts (it crashed or timed out).",
            run.epoch_losses,
        )
    stuck = list(
        RetrainingRun.objects.filter(
            Q(state=RetrainingRun.State.QUEUED, created_at__lt=now - timedelta(seconds=queued_for_seconds))
            | Q(state=RetrainingRun.State.RUNNING, lease_until__lt=now),
            attempts__lt=settings.RETRAIN_MAX_ATTEMPTS,
        ).values_list("pk", flat=True)
    )
    for run_id in stuck:
        _send_retraining(run_id)
    if stuck:
        logger.warning("retraining sweeper: re-sent runs %s", stuck)
    return len(stuck)


def new_labels_since_last_run(kind: str = ModelVersion.Kind.TEXT) -> int:
    """Current human labels (on items with an image, for ``image``) written since the last run of ``kind``."""
    last = RetrainingRun.objects.filter(kind=kind).order_by("-created_at").first()
    labels = Label.objects.current().filter(decision__automatic=False)
    if kind == ModelVersion.Kind.IMAGE:
        labels = labels.exclude(item__image="")
    if last is not None:
        labels = labels.filter(created_at__gt=last.created_at)
    return labels.count()


def retrain_if_enough_new_labels() -> RetrainingRun | None:
    """Periodic: start a run once ``RETRAIN_AFTER_LABELS`` new labels are in (0 turns the trigger off)."""
    threshold = settings.RETRAIN_AFTER_LABELS
    if threshold <= 0:
        return None
    return _start_kinds(RetrainingRun.Trigger.LABELS, "label-count trigger", lambda kind: threshold)


def retrain_on_schedule() -> RetrainingRun | None:
    """Scheduled (daily): start a run of each kind if any label on it came in since its last run."""
    return _start_kinds(RetrainingRun.Trigger.SCHEDULED, "schedule", lambda kind: 1)


def _start_kinds(trigger: str, label: str, threshold: Callable[[str], int]) -> RetrainingRun | None:
    """Start a run of each kind with at least ``threshold(kind)`` new labels; return the first started."""
    started = None
    for kind in (ModelVersion.Kind.TEXT, ModelVersion.Kind.IMAGE):
        if new_labels_since_last_run(kind) >= threshold(kind):
            run, created = start_retraining(trigger=trigger, actor_label=label, kind=kind)
            started = started or (run if created else None)
    return started


def wait_until_final(cutoff: datetime) -> None:
    """Sleep until labels written at ``cutoff`` are past the undo window (at most REVIEW_UNDO_SECONDS).

    Undone decisions are deleted, so once the window has passed, the labels at or before ``cutoff``
    can no longer change: an export as of ``cutoff`` includes the newest of them and stays reproducible.
    """
    remaining = (cutoff + timedelta(seconds=settings.REVIEW_UNDO_SECONDS) - timezone.now()).total_seconds()
    if remaining > 0:
        time.sleep(remaining)
