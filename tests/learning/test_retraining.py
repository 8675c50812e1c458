"""Retraining runs: a candidate with metrics beside the active version's, failures, leases, triggers, the admin."""

import hashlib
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from classifiers.models import Embedding, ModelVersion, RetrainingRun
from classifiers.runtime import forget_loaded_models
from learning import retraining
from moderation_site.celery_app import app
from review.claims import claim_next_item
from review.decisions import record_decision
from tests.factories import enqueue, make_item, make_user

pytestmark = pytest.mark.django_db

SPAM = [
    "Buy cheap pills now, limited offer, click here",
    "WIN A FREE CRUISE!!! reply with your card number",
    "cheap viagra cheap cialis best price online pharmacy",
    "Make money fast working from home, guaranteed income",
    "Lowest mortgage rates, refinance today, act now",
]
HAM = [
    "Hi team, the meeting moved to 3pm, see you there",
    "Thanks for the patch, I merged it into the main branch",
    "Can you review my pull request when you have time?",
    "Dinner at my place on Saturday? Bring the kids",
    "The kernel build fails on arm64 with gcc 12, log attached",
]


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TRAINING_SNAPSHOT_DIR = tmp_path / "snapshots"
    settings.REVIEW_UNDO_SECONDS = 0
    settings.INFERENCE_THREADS = 1
    forget_loaded_models()


def fake_embedding(text: str) -> np.ndarray:
    """A stand-in for the encoder: a fixed unit vector per text (the n-gram features carry the signal)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
    vector = rng.normal(size=384)
    return (vector / np.linalg.norm(vector)).astype(np.float16)


def label_items(queue, reviewer, *, copies: int = 4, spam: bool = True, ham: bool = True, store: bool = True):
    """Decide copies of the tiny spam/ham texts through the review service; store fake embeddings."""
    texts = [(t, True) for t in SPAM if spam] + [(t, False) for t in HAM if ham]
    items = []
    for copy in range(copies):
        for text, is_spam in texts:
            item = make_item(text=f"{text} (#{copy})")
            enqueue(item, queue)
            claim = claim_next_item(queue=queue, user=reviewer)
            record_decision(
                entry_id=claim.entry_id, token=claim.token, user=reviewer,
                action="remove" if is_spam else "no_violation", categories=["spam"] if is_spam else [],
            )  # fmt: skip
            items.append(item)
    if store:
        from classifiers.inference.text import BACKBONE as name  # the space new heads are trained in

        Embedding.objects.bulk_create(
            [Embedding(item_id=i.pk, backbone=name, dim=384, vector=fake_embedding(i.text).tobytes()) for i in items]
        )
    return items


def trained_active_version() -> ModelVersion:
    """A trained text head for ``spam`` made active: comparing against it needs no encoder."""
    from classifiers.inference.text import train_text_head
    from classifiers.services import register_model_version, set_model_version_status

    texts = SPAM + HAM
    head = train_text_head(
        np.stack([fake_embedding(t) for t in texts]).astype(np.float32),
        texts,
        np.array([[1]] * len(SPAM) + [[0]] * len(HAM)),
        categories=["spam"],
    )
    path = Path(settings.MEDIA_ROOT) / "seed-head.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    head.save(path)
    version = register_model_version(
        name="text-seed", kind="text", architecture="all-MiniLM-L6-v2", artifact_path=path, categories=["spam"]
    )
    return set_model_version_status(version=version, status="active", actor_label="test")


def new_run(trigger: str = "admin", **fields) -> RetrainingRun:
    run = RetrainingRun.objects.create(trigger=trigger, **fields)
    RetrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() + timedelta(seconds=1))
    return RetrainingRun.objects.get(pk=run.pk)


def test_a_run_registers_a_candidate_with_metrics_beside_the_active_version_and_leaves_it_active(
    queue, mira, monkeypatch
):
    items = label_items(queue, mira)
    active = trained_active_version()
    from classifiers.inference import text

    embedded: list[str] = []
    real_embed = text.embed_texts
    monkeypatch.setattr(text, "embed_texts", lambda texts, **kw: embedded.extend(texts) or real_embed(texts, **kw))
    run = new_run()

    assert retraining.run_retraining(run_id=run.pk) == "succeeded"

    run.refresh_from_db()
    assert run.state == "succeeded" and run.error == "" and run.finished_at and run.attempts == 1
    candidate = run.candidate
    assert candidate.status == "candidate" and candidate.categories == ["spam"] and len(candidate.artifact_sha256) == 64
    assert run.snapshot.item_count == len(items) and candidate.training_snapshot == run.snapshot.label
    assert len(run.epoch_losses) >= 2 and run.epoch_losses[-1] < run.epoch_losses[0]
    # Candidate and active measured on the same held-out rows.
    assert run.metrics["held_out_rows"] == run.snapshot.held_out_count > 0
    assert run.metrics["held_out_source"] == "random_sample+hash"
    assert set(run.metrics["candidate"]["held_out"]["spam"]) >= {"f1", "roc_auc", "ece", "support"}
    assert run.metrics["active"]["version"] == active.name and run.compared_with == active
    support = run.metrics["candidate"]["held_out"]["spam"]["support"]
    assert run.metrics["active"]["held_out"]["spam"]["support"] == support
    assert candidate.metrics["held_out"] == run.metrics["candidate"]["held_out"]
    # Stored embeddings were used, and a trained active version needs no encoder: it never ran.
    assert embedded == []
    assert ModelVersion.objects.get(kind="text", status="active") == active
    assert AuditEvent.objects.filter(action="model_version.registered", object_id=str(candidate.pk)).exists()
    assert AuditEvent.objects.filter(action="retraining.succeeded", object_id=str(run.pk)).exists()

    # A redelivered message changes nothing.
    assert retraining.run_retraining(run_id=run.pk) == "succeeded"
    assert ModelVersion.objects.filter(status="candidate").count() == 1


def test_items_without_a_stored_embedding_are_embedded_and_stored_and_the_prior_is_compared(queue, mira):
    items = label_items(queue, mira, copies=2, store=False)
    run = new_run()
    assert retraining.run_retraining(run_id=run.pk) == "succeeded"
    assert Embedding.objects.filter(item_id__in=[i.pk for i in items]).count() == len(items)
    run.refresh_from_db()
    # Learning from nothing: the active version is the cold-start prior, scored on the same rows.
    assert run.compared_with.name == "text-prior" and run.metrics["active"]["version"] == "text-prior"
    assert (
        run.metrics["active"]["held_out"]["spam"]["support"] == run.metrics["candidate"]["held_out"]["spam"]["support"]
    )


@pytest.mark.timeout(900)  # tunes a layer and exports a network: seconds alone, minutes on a busy machine
def test_with_enough_labels_the_encoder_is_tuned_and_the_candidate_scores_only_with_its_own_verified_encoder(
    queue, mira, settings, monkeypatch
):
    import tempfile

    from django.core.files.storage import default_storage

    from classifiers.inference import CategoryInfo
    from classifiers.inference import text as text_model
    from classifiers.inference.text import TUNED_PREFIX
    from classifiers.reading import version_reads
    from classifiers.runtime import ModelFileError, load_model
    from classifiers.text_tuning import tuned_backbone

    settings.RETRAIN_TEXT_TUNE_MIN_LABELS = 10
    settings.RETRAIN_TEXT_TUNE_THREADS = 1
    settings.RETRAIN_TEXT_TUNE_MAX_TEXTS = 12  # a seeded draw of the training texts tunes the layer
    items = label_items(queue, mira, copies=2)
    active = trained_active_version()
    stages: list[str] = []
    beat = retraining._Heartbeat.beat
    monkeypatch.setattr(
        retraining._Heartbeat, "beat", lambda self, stage, **kw: stages.append(stage) or beat(self, stage, **kw)
    )
    leftovers = set(Path(tempfile.gettempdir()).glob("text-retrain-*"))
    run = new_run()

    state = retraining.run_retraining(run_id=run.pk)
    run.refresh_from_db()
    assert state == "succeeded", run.error
    candidate = run.candidate
    tuning = candidate.metrics["text_tuning"]
    assert tuning["backbone"].startswith(TUNED_PREFIX) and tuning["epochs"] == 2 and len(tuning["losses"]) == 2
    assert tuning["layers"] == 1
    assert tuning["texts"] == 12 < run.metrics["train_rows"]  # the heads still train on every text
    assert run.metrics["text_tuning"] == tuning  # shown on the run's page
    assert version_reads(candidate)[0].startswith("Sentence embedding of all-MiniLM-L6-v2 with its last 1 layer(s)")
    assert any(stage.startswith("tuning the text encoder: epoch 2") for stage in stages), stages
    # The tuned encoder is the candidate's backbone file, its space named by the file's hash.
    assert candidate.backbone_file and tuned_backbone(candidate.backbone_sha256) == tuning["backbone"]
    # Every item is embedded in the new space (stored for when the candidate goes live); the active version
    # was compared on the same rows in its own space.
    assert Embedding.objects.filter(backbone=tuning["backbone"]).count() == len(items)
    assert run.metrics["active"]["version"] == active.name
    assert (
        run.metrics["active"]["held_out"]["spam"]["support"] == run.metrics["candidate"]["held_out"]["spam"]["support"]
    )
    assert set(Path(tempfile.gettempdir()).glob("text-retrain-*")) == leftovers  # the scratch folder is gone
    assert tuning["backbone"] not in text_model._encoders  # nor does the training worker keep its session

    forget_loaded_models()
    model = load_model(candidate, [CategoryInfo(slug="spam", description="Unsolicited bulk messages.")])
    assert model.backbone == tuning["backbone"]
    texts = ["Cheap pills, best price online, click here now", "The meeting moved to 3pm, see you there"]
    scores = model.predict(model.embed(texts), texts)
    assert scores[0]["spam"].probability > scores[1]["spam"].probability

    with open(default_storage.path(candidate.backbone_file.name), "ab") as handle:
        handle.write(b"\0")
    forget_loaded_models()
    with pytest.raises(ModelFileError, match=f"the encoder file of model version {candidate.name} has sha256"):
        load_model(candidate, [])


def test_a_run_with_one_class_only_fails_with_its_error_and_leaves_the_active_version(queue, mira):
    label_items(queue, mira, spam=False)
    active = ModelVersion.objects.get(kind="text", status="active")
    versions = ModelVersion.objects.count()
    run = new_run()
    assert retraining.run_retraining(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.state == "failed" and "no category has both a positive and a negative label" in run.error
    assert run.candidate is None and run.finished_at is not None
    assert ModelVersion.objects.count() == versions
    assert ModelVersion.objects.get(kind="text", status="active") == active
    assert AuditEvent.objects.filter(action="retraining.failed", object_id=str(run.pk)).exists()


def test_a_run_without_labels_fails_and_says_so(db):
    run = new_run()
    assert retraining.run_retraining(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert "No human labels" in run.error and run.snapshot is None


def test_a_run_held_by_another_worker_is_left_alone(queue, mira):
    label_items(queue, mira, copies=1)
    lease = timezone.now() + timedelta(minutes=5)
    run = new_run(state="running", lease_until=lease, attempts=1)
    assert retraining.run_retraining(run_id=run.pk) == "running"
    run.refresh_from_db()
    assert run.attempts == 1 and run.snapshot is None and run.candidate is None


def test_one_run_at_a_time_and_starting_one_is_audited_and_sent_to_the_training_queue(mira):
    with transaction.atomic():
        run, created = retraining.start_retraining(trigger="admin", actor=mira)
    again, created_again = retraining.start_retraining(trigger="labels")
    assert created and not created_again and again == run and run.state == "queued"
    event = AuditEvent.objects.get(action="retraining.requested")
    assert event.actor == mira and event.after == {"trigger": "admin"}
    for name in ("queues.tasks.retrain_heads", "queues.tasks.retrain_text_heads"):  # the old name too
        assert app.amqp.router.route({}, name, args=(run.pk,))["queue"].name == "training"


def test_the_sweeper_resends_lost_runs_and_fails_runs_out_of_attempts(db, settings):
    settings.RETRAIN_MAX_ATTEMPTS = 2
    lost = new_run()
    RetrainingRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    expired = timezone.now() - timedelta(seconds=1)
    crashed = RetrainingRun.objects.create(trigger="labels", kind="image", state="running", lease_until=expired,
                                           attempts=2)  # fmt: skip
    assert retraining.sweep_retraining_runs() == 1
    crashed.refresh_from_db()
    assert crashed.state == "failed" and "after 2 attempts" in crashed.error


def test_enough_new_labels_start_a_run_and_then_the_count_starts_again(queue, mira, settings):
    settings.RETRAIN_AFTER_LABELS = 14  # two decisions: one label per category each
    label_items(queue, mira, copies=1, spam=True, ham=False, store=False)
    assert retraining.new_labels_since_last_run() == 35
    run = retraining.retrain_if_enough_new_labels()
    assert run is not None and run.trigger == "labels"
    RetrainingRun.objects.filter(pk=run.pk).update(state="failed")
    assert retraining.retrain_if_enough_new_labels() is None  # nothing new since that run
    assert retraining.retrain_on_schedule() is None


def test_the_admin_starts_a_run_and_shows_the_loss_curve_and_the_comparison(client, queue, mira):
    admin_user = make_user(username="ada", is_staff=True)
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    start = reverse("admin:classifiers_retrainingrun_start")
    assert client.get(start).status_code == 405
    response = client.post(start)
    assert response.status_code == 302
    run = RetrainingRun.objects.get()
    assert run.trigger == "admin" and run.requested_by == admin_user
    assert AuditEvent.objects.get(action="retraining.requested").actor == admin_user

    RetrainingRun.objects.filter(pk=run.pk).update(
        state="succeeded",
        epoch_losses=[0.9, 0.5, 0.2],
        metrics={
            "held_out_rows": 40, "train_rows": 160, "held_out_source": "random_sample",
            "candidate": {"held_out": {"spam": {"f1": 0.96, "roc_auc": 0.99, "ece": 0.02,
                                                "support": {"positives": 10, "negatives": 30}}}},
            "active": {"version": "text-prior", "held_out": {"spam": {"f1": 0.93, "roc_auc": 0.9}}},
        },
    )  # fmt: skip
    page = client.get(reverse("admin:classifiers_retrainingrun_change", args=[run.pk])).content.decode()
    assert "<polyline" in page and "0.9000, 0.5000, 0.2000" in page
    assert "<td>spam</td><td>0.960</td><td>0.930</td>" in page
    assert "packaged (not tuned)" in page  # a text run below RETRAIN_TEXT_TUNE_MIN_LABELS
    tuning = {"backbone": "sentence:all-MiniLM-L6-v2@tuned-0123456789abcdef", "epochs": 1.5, "cpu_seconds": 412.3,
              "losses": [0.1373, 0.0696]}  # fmt: skip
    run.refresh_from_db()
    RetrainingRun.objects.filter(pk=run.pk).update(metrics={**run.metrics, "text_tuning": tuning})
    page = client.get(reverse("admin:classifiers_retrainingrun_change", args=[run.pk])).content.decode()
    assert "last layer tuned: 1.5 epochs, 412 CPU s, loss per epoch 0.1373, 0.0696; space " in page
    listing = client.get(reverse("admin:classifiers_retrainingrun_changelist")).content.decode()
    assert "spam 0.960 vs 0.930" in listing and "Start retraining" in listing
    assert "style=" not in page.split("<svg", 1)[1].split("</svg>", 1)[0]

    moderator = make_user(username="no-admin", is_staff=True)
    client.force_login(moderator)
    client.post(start)
    assert RetrainingRun.objects.count() == 1


def test_with_the_broker_down_starting_a_run_from_the_page_answers_and_the_run_waits_for_the_sweeper(
    client, django_capture_on_commit_callbacks, caplog
):
    """The run is saved before its message is sent: a broker that is really unreachable is logged, not a 500 on a
    run that exists (the sweeper sends it once the broker answers)."""
    from tests.intake.test_broker_down import broker_unreachable

    admin_user = make_user(is_staff=True)
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:classifiers_retrainingrun_start"))
    assert response.status_code == 302
    assert RetrainingRun.objects.get().state == "queued"
    assert "in on_commit()" in caplog.text
