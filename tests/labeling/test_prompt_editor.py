"""The admin's prompt editor: a preview on recent items (stored nowhere, output escaped), then a saved version."""

import pytest
from django.urls import reverse

from classifiers.models import PolicyCategory
from labeling.models import LLMResult, PolicyPrompt
from tests.factories import make_item, make_user
from tests.labeling.factories import make_endpoint

pytestmark = pytest.mark.django_db


def _form(endpoint, **extra):
    return {
        "category": PolicyCategory.objects.get(slug="spam").pk,
        "endpoint": endpoint.pk,
        "policy_text": "Spam is bulk advertising.",
        "examples": '[{"text": "buy now", "violates": true, "rationale": "advert"}]',
        "max_rationale_chars": 200,
        "preview_items": 2,
        **extra,
    }


def test_a_preview_shows_verdicts_on_recent_items_and_stores_nothing(client, fake_endpoint):
    make_item(text="VIOLATION: cheap loans")
    endpoint = make_endpoint(f"{fake_endpoint.base_url}/ok/v1")
    client.force_login(make_user(is_staff=True))
    response = client.post(reverse("llm-prompt-editor"), _form(endpoint, preview="1"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "violates" in page and "&lt;b&gt;now&lt;/b&gt;" in page and "<b>now</b>" not in page
    assert not PolicyPrompt.objects.exists() and not LLMResult.objects.exists()


def test_saving_writes_the_next_version_and_bad_examples_are_refused(client, fake_endpoint):
    endpoint = make_endpoint(f"{fake_endpoint.base_url}/ok/v1")
    client.force_login(make_user(is_staff=True))
    bad = client.post(reverse("llm-prompt-editor"), _form(endpoint, examples='[{"text": 1}]', save="1"))
    assert bad.status_code == 200 and not PolicyPrompt.objects.exists()
    assert client.post(reverse("llm-prompt-editor"), _form(endpoint, save="1")).status_code == 302
    assert client.post(reverse("llm-prompt-editor"), _form(endpoint, save="1")).status_code == 302
    assert list(PolicyPrompt.objects.order_by("version").values_list("version", flat=True)) == [1, 2]


def test_the_editor_is_for_staff(client):
    assert client.get(reverse("llm-prompt-editor")).status_code == 302
    client.force_login(make_user())
    assert client.get(reverse("llm-prompt-editor")).status_code == 302
