import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from labeling.crowd import is_crowd_labeler
from labeling.models import CrowdTaskSet, LLMEndpoint, PolicyPrompt
from tests.factories import make_item

pytestmark = pytest.mark.django_db


def test_the_demo_set_up_creates_a_crowd_labeler_an_endpoint_a_prompt_and_a_task_set(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    make_item(text="hello")
    call_command("setup_demo_labeling")
    call_command("setup_demo_labeling")  # safe to re-run

    assert is_crowd_labeler(get_user_model().objects.get(username="labeler"))
    assert LLMEndpoint.objects.count() == 1
    assert PolicyPrompt.objects.get().is_default
    assert CrowdTaskSet.objects.get().tasks.count() >= 1
    assert "demo crowd labeler" in (tmp_path / "demo_credentials.txt").read_text()
