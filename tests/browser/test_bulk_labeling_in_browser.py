"""A lead in a real browser: pre-label a queue with an LLM (estimate, start, progress on a worker); a crowd set."""

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from labeling.models import CrowdTaskSet, LLMResult, LLMRun
from scripts.fake_llm_server import start_in_thread
from tests.browser.conftest import sign_in
from tests.browser.worker import running_worker
from tests.factories import enqueue, make_item, make_queue, make_user
from tests.labeling.factories import make_llm_labeler, spam_category

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


@pytest.fixture
def endpoint():
    server = start_in_thread(delay=0.2)
    yield server
    server.shutdown()


@pytest.fixture
def lead():
    user = make_user(username="lena", password=PASSWORD)
    codenames = ["start_llm_runs", "build_crowd_task_sets"]
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="labeling", codename__in=codenames))
    return user


@pytest.fixture
def backlog(lead):
    queue = make_queue(members=[lead], name="Spam backlog")
    items = [make_item(text=f"VIOLATION cheap followers {n}") for n in range(3)]
    items.append(make_item(text="a kind birthday message"))
    for n, item in enumerate(items):
        enqueue(item, queue, sort_key=n)
    enqueue(make_item(text="another team's item"), make_queue(members=[make_user()], name="Another team"))
    return queue, items


def test_a_lead_starts_an_llm_run_over_a_queue_and_watches_it_finish(
    page, live_server, lead, backlog, endpoint, tmp_path
):
    queue, items = backlog
    labeler = make_llm_labeler(f"{endpoint.base_url}/ok/v1", concurrency=2)
    sign_in(page, live_server, "lena", PASSWORD)
    page.click("text=Bulk labeling")
    expect(page.locator("h2")).to_have_text("Pre-label with an LLM")
    expect(page.locator("#id_queue option")).to_have_count(1)  # only the lead's own queue is offered
    page.select_option("#id_prompt", str(labeler.prompt_id))
    page.select_option("#id_endpoint", str(labeler.endpoint_id))
    page.select_option("#id_queue", str(queue.pk))
    expect(page.locator("#estimate-items")).to_have_text("4 items")
    expect(page.locator("#estimate-to-ask")).to_have_text("4 to ask")
    page.fill("#id_limit", "3")
    expect(page.locator("#estimate-items")).to_have_text("3 items")
    assert not LLMRun.objects.exists()  # an estimate starts nothing
    with running_worker(tmp_path, queues="llm"):
        page.click("#start-run")
        expect(page.locator("h2")).to_contain_text("LLM run")
        expect(page.locator("#run-progress strong")).to_have_text("Done", timeout=60_000)
    expect(page.locator("#run-progress")).to_contain_text("3 done (0 from cache), 0 failed, 0 pending of 3")
    run = LLMRun.objects.get()
    assert run.requested_by == lead
    assert sorted(run.results.values_list("item_id", flat=True)) == sorted(i.pk for i in items[1:])
    assert run.results.filter(state=LLMResult.State.DONE).count() == 3
    # The same selection again: the estimate now finds every answer in the cache.
    page.goto(f"{live_server.url}/labeling/llm/runs/new")
    page.select_option("#id_prompt", str(labeler.prompt_id))
    page.select_option("#id_endpoint", str(labeler.endpoint_id))
    page.fill("#id_limit", "3")
    expect(page.locator("#estimate-cached")).to_have_text("3 already answered (from cache)")
    expect(page.locator("#estimate-budget")).to_contain_text("Budget left today")


def test_a_lead_builds_a_crowd_task_set_from_a_queue(page, live_server, lead, backlog):
    queue, items = backlog
    sign_in(page, live_server, "lena", PASSWORD)
    page.goto(f"{live_server.url}/labeling/crowd/sets/new")
    page.fill("#id_name", "Spam backlog, k=2")
    page.select_option("#id_answer_categories", str(spam_category().pk))
    page.fill("#id_labels_per_item", "2")
    page.select_option("#id_queue", str(queue.pk))
    expect(page.locator("#estimate-items")).to_have_text("4 items")
    expect(page.locator("#estimate-answers")).to_have_text("8 answers needed")
    page.click("#build-set")
    expect(page.locator("h2")).to_have_text("Crowd task set: Spam backlog, k=2")
    expect(page.locator("#set-counts")).to_contain_text("0 of 8 answers in")
    task_set = CrowdTaskSet.objects.get()
    assert sorted(task_set.tasks.filter(gold_answer="").values_list("item_id", flat=True)) == sorted(
        i.pk for i in items
    )


def test_an_admin_previews_a_draft_prompt_answered_on_a_worker(page, live_server, endpoint, tmp_path):
    from labeling.models import PromptPreview
    from tests.labeling.factories import make_endpoint

    make_user(username="ada", password=PASSWORD, is_staff=True)
    make_item(text="VIOLATION: cheap loans, reply now")
    llm = make_endpoint(f"{endpoint.base_url}/ok/v1")
    sign_in(page, live_server, "ada", PASSWORD)
    page.goto(f"{live_server.url}/labeling/llm/prompts/new")
    page.select_option("#id_category", str(spam_category().pk))
    page.select_option("#id_endpoint", str(llm.pk))
    page.fill("#id_policy_text", "Spam is bulk advertising.")
    page.fill("#id_preview_items", "1")
    with running_worker(tmp_path, queues="llm"):
        page.click("button[name=preview]")
        # The page the request rendered: the preview is pending, the answers come from the worker.
        expect(page.locator("#preview-state")).to_contain_text("on a worker")
        expect(page.locator("#preview-state")).to_have_text("Done.", timeout=60_000)
    assert sum(endpoint.requests.values()) == 1
    expect(page.locator("#preview tbody tr")).to_have_count(1)
    expect(page.locator("#preview tbody")).to_contain_text("violates")
    expect(page.locator("#preview tbody")).to_contain_text("<b>now</b>")  # the model's words, shown as text
    assert PromptPreview.objects.get().state == "done"
