"""The admin's prompt editor: a preview on recent items (stored nowhere, output escaped), then a saved version."""

import pytest
from django.urls import reverse

from classifiers.models import PolicyCategory
from labeling import llm_runs
from labeling.models import LLMResult, PolicyPrompt, PromptPreview
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


def test_a_preview_asks_on_a_worker_and_the_page_polls_for_its_answers(client, fake_endpoint):
    make_item(text="VIOLATION: cheap loans")
    endpoint = make_endpoint(f"{fake_endpoint.base_url}/ok/v1")
    admin = make_user(is_staff=True)
    client.force_login(admin)
    asked_before = sum(fake_endpoint.requests.values())
    response = client.post(reverse("llm-prompt-editor"), _form(endpoint, preview="1"))
    page = response.content.decode()
    assert response.status_code == 200
    # The request only recorded what to ask: the endpoint was not called inside it.
    assert sum(fake_endpoint.requests.values()) == asked_before
    preview = PromptPreview.objects.get()
    assert preview.state == "pending" and preview.requested_by == admin
    poll = reverse("llm-prompt-preview", args=[preview.pk])
    assert f'hx-get="{poll}"' in page and "Asking the model" in page
    assert llm_runs.run_preview(preview_id=preview.pk) == "done"  # what the llm worker runs
    assert sum(fake_endpoint.requests.values()) == asked_before + 1  # one item with text
    fragment = client.get(poll, HTTP_HX_REQUEST="true").content.decode()
    assert "violates" in fragment and "&lt;b&gt;now&lt;/b&gt;" in fragment and "<b>now</b>" not in fragment
    assert "hx-get" not in fragment  # done: the polling stops
    assert not PolicyPrompt.objects.exists() and not LLMResult.objects.exists()
    client.force_login(make_user(is_staff=True))
    assert client.get(poll).status_code == 404  # another admin's preview


def test_a_preview_no_worker_answers_stops_polling_and_says_so(
    client, fake_endpoint, django_capture_on_commit_callbacks
):
    """With the broker really unreachable the editor still answers; once no worker has taken the preview past its
    time, the polled fragment says why and stops polling, instead of spinning for ever."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.intake.test_broker_down import broker_unreachable

    make_item(text="cheap loans")
    endpoint = make_endpoint(f"{fake_endpoint.base_url}/ok/v1")
    client.force_login(make_user(is_staff=True))
    with broker_unreachable(), django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("llm-prompt-editor"), _form(endpoint, preview="1"))
    assert response.status_code == 200
    preview = PromptPreview.objects.get()
    poll = reverse("llm-prompt-preview", args=[preview.pk])
    assert "hx-get" in client.get(poll).content.decode()  # still within its time: keep polling
    PromptPreview.objects.filter(pk=preview.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    fragment = client.get(poll).content.decode()
    assert "hx-get" not in fragment and "No worker answered within 5 minutes" in fragment
    preview.refresh_from_db()
    assert preview.state == "failed"
    assert llm_runs.run_preview(preview_id=preview.pk) == "failed"  # a late message changes nothing


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
