"""axe-core over the main pages: no serious or critical accessibility violation."""

import pytest

from console import bulk
from tests.browser.axe import serious_violations
from tests.browser.conftest import sign_in
from tests.console.conftest import grant
from tests.factories import enqueue, make_item, make_queue, make_user

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PASSWORD = "a-good-password-42"


@pytest.fixture(autouse=True)
def seed_data():
    from tests.seed import ensure_seed_data

    ensure_seed_data()


@pytest.fixture
def scan_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
    yield context.new_page()
    context.close()


def test_the_main_pages_have_no_serious_violations(scan_page, live_server):
    from django.contrib.auth import get_user_model

    from classifiers.models import ModelVersion

    lead = grant(grant(make_user(username="lena", password=PASSWORD), "run_bulk_actions"), "view_team_exposure")
    lead.is_staff = lead.is_superuser = True
    lead.save()
    lead = get_user_model().objects.get(pk=lead.pk)
    queue = make_queue(members=[lead], name="Scams & spam")
    items = [make_item(text=f"cheap followers {n}") for n in range(3)]
    for item in items:
        enqueue(item, queue)
    job = bulk.start_bulk_decision(user=lead, item_ids=[i.pk for i in items], action="no_violation", categories=[])
    bulk.run_bulk_action(bulk_action_id=job.pk)
    sign_in(scan_page, live_server, "lena", PASSWORD)
    enqueue(make_item(text="one to review"), queue)
    version = ModelVersion.objects.filter(status="active").first()
    pages = {
        "home": "/",
        "work view": f"/queues/{queue.slug}/",
        "queue overview": f"/queues/{queue.slug}/overview",
        "QA review": "/qa/",
        "quality": "/quality/",
        "model page": f"/models/{version.pk}/",
        "routing rule form": "/admin/queues/routingrule/add/",
        "team": "/console/team/",
        "search": "/console/?q=followers",
        "search with a bad filter": "/console/?risk_min=high",
        "bulk progress": f"/console/bulk/{job.pk}/",
        "exposure": "/exposure/",
    }
    found = {}
    for name, path in pages.items():
        response = scan_page.goto(f"{live_server.url}{path}")
        assert response.ok, f"{name}: HTTP {response.status}"
        found[name] = serious_violations(scan_page)
    scan_page.goto(f"{live_server.url}/console/?q=followers")
    scan_page.check("input[name=item] >> nth=0")
    scan_page.click("button[name=scope][value=selected]")
    found["bulk confirmation"] = serious_violations(scan_page)
    assert {name: v for name, v in found.items() if v} == {}


def test_the_scan_reports_what_it_should(scan_page):
    # An unlabeled field and an image without alt text: the scan must see both, or its zero above means nothing.
    scan_page.set_content('<html lang="en"><title>t</title><main><img src="x.png"><input type="text"></main></html>')
    found = " ".join(serious_violations(scan_page))
    assert "image-alt" in found and "label" in found
