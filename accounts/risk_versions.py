"""Account risk model versions: the retraining run that registers one, promotion, and scoring a case with them.

A retraining run trains one model per case type from the case decisions (``accounts.risk_model``), writes
them as one content-addressed artifact and registers a ``RiskModelVersion`` with its held-out metrics. The
first version is active at once (there is nothing to compare it with); later ones start in shadow, scored
beside the active one on every case, until an admin promotes them. A case type with too few decisions of
either verdict is left out of the version and named in its metrics.

Artifacts are pickles (joblib), so a file is loaded only when its sha256 matches the one registered; a
version whose file is missing or altered scores nothing, and its cases are ordered by severity alone.
"""

import hashlib
import io
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass

import joblib
from celery import current_app
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import risk_experiments, risk_model
from accounts.models import AccountCase, CaseType, RiskModelVersion
from audit.services import record_event

logger = logging.getLogger(__name__)

# Loaded models by (version id, artifact sha256), least recently used first: one load per process and version,
# and at most LOADED_VERSIONS kept (the active, a shadow or experiment candidate, one spare), so a long-lived
# worker does not hold every version it ever scored with after they are retired.
LOADED_VERSIONS = 3
_loaded: OrderedDict[tuple[int, str], dict] = OrderedDict()


class RetrainingRefused(ValueError):
    """No case type has enough decisions to learn from; the message says what each lacks."""


class RollbackRefused(ValueError):
    """There is no earlier active version to go back to."""


@dataclass(frozen=True)
class CaseRisk:
    """What the risk models say about one account and case type: the active version's risk and a shadow's."""

    model_version: RiskModelVersion | None = None
    model_risk: float | None = None
    shadow_version: RiskModelVersion | None = None
    shadow_risk: float | None = None


def _snapshot(version: RiskModelVersion) -> dict:
    return {"name": version.name, "status": version.status, "artifact_sha256": version.artifact_sha256}


def retrain_risk_models(*, actor: AbstractBaseUser | None = None, actor_label: str = "", seed: int = 0):
    """Train every case type that has enough decisions and register them as one version (active if first)."""
    until = timezone.now()
    models, metrics, skipped = {}, {}, {}
    for case_type in CaseType.values:
        examples = risk_model.examples_from_decisions(case_type, until=until)
        try:
            trained = risk_model.train(case_type, examples, seed=seed)
        except ValueError as refused:
            skipped[case_type] = str(refused)
            continue
        models[case_type] = trained.model
        metrics[case_type] = {
            "train_decisions": trained.train_examples,
            "held_out_decisions": trained.held_out_examples,
            "violations": sum(e.label for e in examples),
            "held_out_average_precision": trained.held_out_average_precision,
        }
    if not models:
        raise RetrainingRefused("No case type has enough decisions: " + " ".join(skipped.values()))
    buffer = io.BytesIO()
    joblib.dump({"features": risk_model.FEATURES, "models": models}, buffer)
    content = buffer.getvalue()
    sha256 = hashlib.sha256(content).hexdigest()
    name = f"models/account-risk/{sha256[:16]}.joblib"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(content))
    version = RiskModelVersion(
        # Microseconds: two runs over the same decisions give the same artifact, and now finish within a second.
        name=f"account-risk-{until:%Y%m%d-%H%M%S-%f}-{sha256[:8]}",
        artifact=name,
        artifact_sha256=sha256,
        case_types=sorted(models),
        features=risk_model.FEATURES,
        metrics={**metrics, "skipped": skipped},
        decisions_until=until,
        requested_by=(actor_label or (actor.get_username() if actor else "system"))[:150],
    )
    try:
        # The partial unique index decides a race between two first runs: the loser registers in shadow.
        with transaction.atomic():
            first = not RiskModelVersion.objects.filter(status=RiskModelVersion.Status.ACTIVE).exists()
            version.status = RiskModelVersion.Status.ACTIVE if first else RiskModelVersion.Status.SHADOW
            version.activated_at = until if first else None
            version.save()
            record_event(action="account_risk_model.registered", target=version, actor=actor,
                         actor_label=actor_label, after=_snapshot(version))  # fmt: skip
    except IntegrityError:
        with transaction.atomic():
            version.pk = None
            version.status, version.activated_at = RiskModelVersion.Status.SHADOW, None
            version.save()
            record_event(action="account_risk_model.registered", target=version, actor=actor,
                         actor_label=actor_label, after=_snapshot(version))  # fmt: skip
    return version


def promote(version: RiskModelVersion, *, actor: AbstractBaseUser | None = None) -> RiskModelVersion:
    """Make ``version`` the active one; the previous active version is retired. Cases are rescored when refreshed."""
    with transaction.atomic():
        version = RiskModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.status == RiskModelVersion.Status.ACTIVE:
            return version
        for previous in RiskModelVersion.objects.select_for_update().filter(status=RiskModelVersion.Status.ACTIVE):
            before = _snapshot(previous)
            previous.status = RiskModelVersion.Status.RETIRED
            previous.save(update_fields=["status"])
            record_event(action="account_risk_model.retired", target=previous, actor=actor, before=before,
                         after=_snapshot(previous))  # fmt: skip
        experiment = risk_experiments.running()
        if experiment is not None:  # its control is being retired: the comparison would no longer be A vs B
            reason = (
                "the candidate was promoted"
                if experiment.candidate_id == version.pk
                else "another version was promoted"
            )
            risk_experiments.stop_experiment(experiment, actor=actor, reason=reason)
        before = _snapshot(version)
        version.status, version.activated_at = RiskModelVersion.Status.ACTIVE, timezone.now()
        version.save(update_fields=["status", "activated_at"])
        record_event(action="account_risk_model.promoted", target=version, actor=actor, before=before,
                     after=_snapshot(version))  # fmt: skip
    return version


def previous_active() -> RiskModelVersion | None:
    """The version that was active before the current one: the retired one activated last before it."""
    current = RiskModelVersion.objects.filter(status=RiskModelVersion.Status.ACTIVE).first()
    earlier = RiskModelVersion.objects.filter(
        status=RiskModelVersion.Status.RETIRED, activated_at__isnull=False
    ).order_by("-activated_at", "-pk")
    if current is not None and current.activated_at is not None:
        earlier = earlier.filter(activated_at__lt=current.activated_at)
    return earlier.first()


def roll_back(*, actor: AbstractBaseUser | None = None) -> RiskModelVersion:
    """Re-activate the previously active version and retire the current one (as the content models' rollback)."""
    with transaction.atomic():
        current = RiskModelVersion.objects.select_for_update().filter(status=RiskModelVersion.Status.ACTIVE).first()
        previous = previous_active()
        if previous is None:
            raise RollbackRefused("No earlier active account risk version to roll back to.")
        restored = promote(previous, actor=actor)
        record_event(action="account_risk_model.rolled_back", target=restored, actor=actor,
                     before={"active": current.name if current else None},
                     after={"active": restored.name, "retired": current.name if current else None})  # fmt: skip
    return restored


def after_activation(version: RiskModelVersion) -> None:
    """Once a promotion or rollback commits: open cases rescored with the new active version, its health refreshed
    (sent by name to a worker: both read many cases)."""

    def send() -> None:
        current_app.signature("accounts.tasks.rescore_open_cases").delay()
        current_app.signature("accounts.tasks.refresh_risk_model_health", args=[version.pk]).delay()

    # robust: the promotion has committed, so a broker that is down must not turn it into an error page. The
    # failure is logged; the health is refreshed by the periodic check anyway, but the open cases keep their
    # old risk until a worker rescores them (each when a rule fires on its account again; all at the next promotion).
    transaction.on_commit(send, robust=True)


def _models_of(version: RiskModelVersion) -> dict | None:
    key = (version.pk, version.artifact_sha256)
    if key in _loaded:
        _loaded.move_to_end(key)
    else:
        try:
            with default_storage.open(version.artifact.name, "rb") as handle:
                content = handle.read()
        except OSError:
            logger.error("account risk model %s: artifact %s is missing", version.name, version.artifact.name)
            return None
        if hashlib.sha256(content).hexdigest() != version.artifact_sha256:
            logger.error("account risk model %s: artifact does not match its sha256; not loaded", version.name)
            return None
        _loaded[key] = joblib.load(io.BytesIO(content))
        while len(_loaded) > LOADED_VERSIONS:
            _loaded.popitem(last=False)
    return _loaded[key]


def _risk(version: RiskModelVersion | None, case_type: str, peaks: dict[str, float]) -> float | None:
    if version is None:
        return None
    loaded = _models_of(version)
    if loaded is None or case_type not in loaded["models"]:
        return None
    row = [peaks.get(name, math.nan) for name in loaded["features"]]
    return float(loaded["models"][case_type].predict_proba(risk_model.matrix([row]))[0, 1])


def case_risk_of(account_id: int, case_type: str) -> CaseRisk:
    """The active version's risk that this account is a ``case_type``, and the shadow's: the running A/B
    experiment's candidate (``accounts.risk_experiments``), else the newest shadow version."""
    versions = RiskModelVersion.objects.filter(
        status__in=[RiskModelVersion.Status.ACTIVE, RiskModelVersion.Status.SHADOW]
    ).order_by("-created_at", "-pk")
    active = next((v for v in versions if v.status == RiskModelVersion.Status.ACTIVE), None)
    experiment = risk_experiments.running()
    shadow = experiment.candidate if experiment else None
    shadow = shadow or next((v for v in versions if v.status == RiskModelVersion.Status.SHADOW), None)
    if active is None and shadow is None:
        return CaseRisk()
    peaks = dict(zip(risk_model.FEATURES, risk_model.peak_values([account_id])[account_id], strict=True))
    model_risk, shadow_risk = _risk(active, case_type, peaks), _risk(shadow, case_type, peaks)
    return CaseRisk(
        model_version=active if model_risk is not None else None,
        model_risk=model_risk,
        shadow_version=shadow if shadow_risk is not None else None,
        shadow_risk=shadow_risk,
    )


def record_on_case(case: AccountCase, risk: CaseRisk) -> list[str]:
    """Set the case's model fields from ``risk``; returns the names of the fields that changed."""
    changed = []
    for field in ("model_version", "model_risk", "shadow_version", "shadow_risk"):
        value = getattr(risk, field)
        current = getattr(case, f"{field}_id" if field.endswith("version") else field)
        new = value.pk if field.endswith("version") and value is not None else value
        if current != new:
            setattr(case, field, value)
            changed.append(field)
    return changed


def risks_of_accounts(version: RiskModelVersion, case_type: str, account_ids: list[int]) -> dict[int, float]:
    """``version``'s risk of ``case_type`` for many accounts at once (for benchmarks and backfills); {} if none."""
    loaded = _models_of(version)
    if loaded is None or case_type not in loaded["models"] or not account_ids:
        return {}
    peaks = risk_model.peak_values(account_ids)
    by_name = [dict(zip(risk_model.FEATURES, peaks[i], strict=True)) for i in account_ids]
    rows = [[p.get(name, math.nan) for name in loaded["features"]] for p in by_name]
    scores = loaded["models"][case_type].predict_proba(risk_model.matrix(rows))[:, 1]
    return dict(zip(account_ids, (float(s) for s in scores), strict=True))
