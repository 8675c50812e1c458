import pytest

from classifiers.models import ModelVersion
from classifiers.services import set_model_version_status


@pytest.mark.django_db
def test_a_newly_activated_model_gets_its_first_monitoring_figures_at_once(
    sent_tasks, django_capture_on_commit_callbacks
):
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    candidate = ModelVersion.objects.create(
        name="candidate-1", kind=active.kind, architecture=active.architecture, status=ModelVersion.Status.CANDIDATE
    )
    with django_capture_on_commit_callbacks(execute=True):  # the signal is sent once the promotion commits
        set_model_version_status(version=candidate, status=ModelVersion.Status.ACTIVE, actor_label="test")
    assert candidate.pk in sent_tasks["queues.tasks.refresh_model_health"]
