"""Risk model artifacts: skops files that load only the types the code trusts; older joblib files still load."""

import hashlib
import io
import os

import joblib
import pytest
import skops.io

from accounts import risk_versions
from accounts.models import RiskModelVersion
from tests.accounts.test_risk_versions import account, decide_takeovers

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    risk_versions._loaded.clear()
    return tmp_path


def risk_of(version: RiskModelVersion, failed_logins: float) -> float | None:
    scored = account(failed_logins=failed_logins)
    return risk_versions.risks_of_accounts(version, "takeover", [scored.pk]).get(scored.pk)


def test_a_new_version_is_a_skops_file_that_loads_with_only_the_listed_types_and_scores(media):
    decide_takeovers()
    version = risk_versions.retrain_risk_models()

    assert version.artifact.name.endswith(".skops")
    content = (media / version.artifact.name).read_bytes()
    assert sorted(skops.io.get_untrusted_types(data=content)) == sorted(risk_versions.TRUSTED_TYPES)
    assert risk_of(version, 45) > 0.5 > risk_of(version, 1)


def swap_artifact(version: RiskModelVersion, media, content: bytes, suffix: str) -> RiskModelVersion:
    """Register ``content`` as the version's artifact, with its true sha256 (what a tampered registry would hold)."""
    name = f"models/account-risk/swapped{suffix}"
    (media / name).parent.mkdir(parents=True, exist_ok=True)
    (media / name).write_bytes(content)
    RiskModelVersion.objects.filter(pk=version.pk).update(
        artifact=name, artifact_sha256=hashlib.sha256(content).hexdigest()
    )
    risk_versions._loaded.clear()
    return RiskModelVersion.objects.get(pk=version.pk)


def test_a_file_holding_a_type_nobody_listed_is_not_loaded_even_with_a_matching_sha256(media, caplog):
    decide_takeovers()
    version = risk_versions.retrain_risk_models()
    # A function in place of the models: a pickle would import it and could call it; skops refuses to build it.
    hostile = skops.io.dumps({"features": ["failed_logins_1h"], "models": {"takeover": os.system}})
    version = swap_artifact(version, media, hostile, ".skops")

    assert risk_versions.risks_of_accounts(version, "takeover", [account(failed_logins=45).pk]) == {}
    assert "not loaded" in caplog.text and "system" in caplog.text


def test_a_version_registered_as_a_joblib_file_before_still_scores(media):
    decide_takeovers()
    version = risk_versions.retrain_risk_models()
    loaded = skops.io.loads((media / version.artifact.name).read_bytes(), trusted=risk_versions.TRUSTED_TYPES)
    buffer = io.BytesIO()
    joblib.dump(loaded, buffer)
    version = swap_artifact(version, media, buffer.getvalue(), ".joblib")

    assert risk_of(version, 45) > 0.5 > risk_of(version, 1)
