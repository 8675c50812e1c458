"""Re-embedding stored images when a new image backbone becomes active (issue 20, point 2).

A new backbone is a new embedding space, and stored vectors of the old one are never mixed with it
(``Embedding.backbone``). Until now only retraining runs embedded, and only their snapshot's items; this
embeds every item with a stored image into the active version's space, as a ``ReembeddingJob`` that a
worker runs in batches (``run_reembedding``), sent by name to the training queue. Why here and not in
``classifiers``: the stored images are ``intake.Item.image``, which ``classifiers`` (a lower layer) never reads.

Resumable: the job's ``cursor`` (the last item id done) is committed with each batch's embeddings, so a
killed worker's message, redelivered (``acks_late``), or the sweeper's re-send, continues after it. Items that
already have a vector in the space are skipped, so nothing is embedded twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

import numpy as np
from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from classifiers import runtime
from classifiers.models import Embedding, ModelVersion, ReembeddingJob
from intake.models import Item

logger = logging.getLogger(__name__)

TASK = "learning.tasks.reembed_images"
BATCH_SIZE = 32  # images per transaction: what a killed worker can lose, and how often progress moves
LEASE = timedelta(minutes=5)  # renewed every batch; a batch of 32 at ~0.15 s an image takes seconds


class LeaseLost(RuntimeError):
    """Another worker took the job over (this one was presumed dead): stop without writing."""


def send_reembedding(job_id: int) -> None:
    current_app.signature(TASK, args=[job_id]).delay()


def start_reembedding(*, version: ModelVersion, trigger: str, actor: AbstractBaseUser | None = None) -> ReembeddingJob:
    """Queue the embedding of every stored image into ``version``'s space; the open job if there is one already."""
    if version.kind != ModelVersion.Kind.IMAGE:
        raise ValueError(f"{version.name} is a {version.kind} model; only image backbones embed stored images")
    with transaction.atomic():
        job = ReembeddingJob.objects.filter(version=version, state__in=ReembeddingJob.OPEN_STATES).first()
        if job is not None:
            return job
        job = ReembeddingJob.objects.create(
            version=version,
            trigger=trigger,
            requested_by=actor,
            total=Item.objects.exclude(image="").count(),
        )
        transaction.on_commit(
            lambda: send_reembedding(job.pk), robust=True
        )  # broker down: logged; the sweeper sends it
    return job


def start_after_activation(*, version_id: int) -> ReembeddingJob | None:
    """A newly active image version gets a job unless its backbone file was embedded already (a new head on the
    same backbone, or a roll-back to a space that is complete)."""
    version = ModelVersion.objects.get(pk=version_id)
    if version.kind != ModelVersion.Kind.IMAGE:
        return None
    done = ReembeddingJob.objects.filter(
        state=ReembeddingJob.State.SUCCEEDED,
        version__architecture=version.architecture,
        version__backbone_sha256=version.backbone_sha256,
    )
    if done.exists():
        return None
    return start_reembedding(version=version, trigger=ReembeddingJob.Trigger.ACTIVATION)


def run_reembedding(
    job_id: int, *, batch_size: int = BATCH_SIZE, after_batch: Callable[[list[int]], None] | None = None
) -> str:
    """Claim the job and embed its remaining images batch by batch; returns what happened, in words.

    ``after_batch(item_ids)`` is called with the ids each committed batch embedded (tests use it to stop a
    run midway, as a killed worker would).
    """
    token = uuid.uuid4()
    now = timezone.now()
    claimed = (
        ReembeddingJob.objects.filter(pk=job_id)
        .filter(Q(state=ReembeddingJob.State.QUEUED) | Q(state=ReembeddingJob.State.RUNNING, lease_until__lt=now))
        .update(
            state=ReembeddingJob.State.RUNNING,
            worker_token=token,
            lease_until=now + LEASE,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now),
        )
    )
    if not claimed:
        state = ReembeddingJob.objects.filter(pk=job_id).values_list("state", flat=True).first()
        return f"job {job_id} not claimed (state {state})"
    job = ReembeddingJob.objects.select_related("version").get(pk=job_id)
    try:
        model = runtime.load_model(job.version, [])
    except (runtime.ModelFileError, ValueError, OSError, RuntimeError) as exc:
        _finish(job, token, ReembeddingJob.State.FAILED, f"the backbone cannot be loaded: {exc}")
        return f"job {job_id} failed: {exc}"
    ReembeddingJob.objects.filter(pk=job_id, worker_token=token).update(backbone=model.backbone)
    cursor = job.cursor
    try:
        while True:
            batch = list(
                Item.objects.filter(pk__gt=cursor)
                .exclude(image="")
                .order_by("pk")
                .values_list("pk", "image")[:batch_size]
            )
            if not batch:
                break
            embedded = _embed_batch(job, token, model, batch)
            cursor = batch[-1][0]
            if after_batch is not None:
                after_batch(embedded)
    except LeaseLost:
        return f"job {job_id}: another worker holds it now"
    _finish(job, token, ReembeddingJob.State.SUCCEEDED, "")
    return f"job {job_id} done"


def _embed_batch(job: ReembeddingJob, token: uuid.UUID, model, batch: list[tuple[int, str]]) -> list[int]:  # noqa: ANN001
    """Embed the batch's images not yet in the space; commit them with the cursor. Returns the ids embedded."""
    ids = [pk for pk, _ in batch]
    present = set(Embedding.objects.filter(item_id__in=ids, backbone=model.backbone).values_list("item_id", flat=True))
    images, embedded, errors = [], [], []
    for pk, name in batch:
        if pk in present:
            continue
        try:
            with default_storage.open(name, "rb") as handle:
                images.append(model.decode(handle.read()))
            embedded.append(pk)
        except Exception as exc:  # noqa: BLE001 - one unreadable image fails alone, with its reason kept
            errors.append(f"item {pk}: {getattr(exc, 'reason', None) or exc or type(exc).__name__}")
    vectors = model.embed(images) if images else []
    with transaction.atomic():
        updated = ReembeddingJob.objects.filter(
            pk=job.pk, worker_token=token, state=ReembeddingJob.State.RUNNING
        ).update(
            cursor=ids[-1],
            processed=F("processed") + len(batch),
            embedded=F("embedded") + len(embedded),
            skipped=F("skipped") + len(present),
            failed=F("failed") + len(errors),
            last_error=errors[-1][:1000] if errors else F("last_error"),
            lease_until=timezone.now() + LEASE,
        )
        if not updated:
            raise LeaseLost(job.pk)
        Embedding.objects.bulk_create(
            [
                Embedding(
                    item_id=pk, backbone=model.backbone, dim=len(vector), vector=vector.astype(np.float16).tobytes()
                )
                for pk, vector in zip(embedded, vectors, strict=True)
            ],
            ignore_conflicts=True,
        )
    if errors:
        logger.warning("re-embedding %s: %s", job.pk, "; ".join(errors))
    return embedded


def _finish(job: ReembeddingJob, token: uuid.UUID, state: str, error: str) -> None:
    fields = {"state": state, "finished_at": timezone.now(), "lease_until": None}
    if error:
        fields["last_error"] = error[:1000]
    ReembeddingJob.objects.filter(pk=job.pk, worker_token=token).update(**fields)


def sweep_reembedding(*, queued_for: timedelta = timedelta(minutes=5)) -> int:
    """Re-send jobs whose message was lost (queued for a while) or whose worker died (lease expired)."""
    now = timezone.now()
    stale = ReembeddingJob.objects.filter(
        Q(state=ReembeddingJob.State.QUEUED, created_at__lt=now - queued_for)
        | Q(state=ReembeddingJob.State.RUNNING, lease_until__lt=now)
    ).values_list("pk", flat=True)
    ids = list(stale)
    for job_id in ids:
        send_reembedding(job_id)
    return len(ids)
