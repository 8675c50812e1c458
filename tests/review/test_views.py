"""Reviewer views: allowed, another queue's item, anonymous, wrong method, htmx fragment versus full page."""

import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image

from intake.payloads import ItemSubmission
from intake.submission import submit_items
from queues.models import Decision, QueueEntry
from review.models import Label
from tests.factories import enqueue, image_bytes, make_item, make_queue, make_user

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def as_mira(mira) -> Client:
    client = Client()
    client.force_login(mira)
    return client


def claim_page(client: Client, queue) -> tuple[QueueEntry, str]:
    response = client.get(f"/queues/{queue.slug}/")
    assert response.status_code == 302, response.content
    entry = QueueEntry.objects.get(status="claimed", claimed_by__isnull=False, queue=queue)
    assert response["Location"] == f"/queues/{queue.slug}/entries/{entry.pk}/"
    return entry, response["Location"]


# home


def test_home_lists_my_queues_with_depth_and_deadline_breaches(as_mira, queue):
    other = make_queue(name="Secret queue")
    enqueue(make_item(), queue)
    overdue = enqueue(make_item(), queue)
    QueueEntry.objects.filter(pk=overdue.pk).update(deadline_at=timezone.now() - timedelta(minutes=1))
    enqueue(make_item(), other)
    response = as_mira.get("/")
    assert response.status_code == 200
    [stats] = response.context["queues"]
    assert (stats.queue, stats.pending, stats.past_deadline) == (queue, 2, 1)
    assert "Secret queue" not in response.content.decode()


def test_home_needs_sign_in_and_refuses_post(client, as_mira):
    assert client.get("/")["Location"].startswith("/accounts/login/")
    assert as_mira.post("/").status_code == 405


# work view


def test_opening_a_queue_claims_the_next_item_and_shows_it_at_its_own_url(as_mira, queue):
    item = make_item(text="Send me your password <script>alert(1)</script>")
    enqueue(item, queue)
    entry, url = claim_page(as_mira, queue)
    page = as_mira.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert f'name="token" value="{entry.fencing_token}"' in html


def test_an_empty_queue_says_so(as_mira, queue):
    response = as_mira.get(f"/queues/{queue.slug}/")
    assert response.status_code == 200
    assert "The queue is empty" in response.content.decode()


def test_a_non_member_gets_403_and_cannot_reach_items_by_guessing_urls(queue):
    item = make_item()
    entry = enqueue(item, queue)
    outsider = Client()
    outsider.force_login(make_user())
    assert outsider.get(f"/queues/{queue.slug}/").status_code == 403
    assert outsider.get(f"/queues/{queue.slug}/entries/{entry.pk}/").status_code == 403
    assert (
        outsider.post(f"/queues/{queue.slug}/entries/{entry.pk}/decide", {"action": "no_violation"}).status_code == 403
    )
    assert QueueEntry.objects.get(pk=entry.pk).status == "pending"


def test_an_entry_from_another_queue_under_my_queue_url_is_not_shown(as_mira, queue):
    other = make_queue(name="Other")
    foreign = enqueue(make_item(text="private"), other)
    response = as_mira.get(f"/queues/{queue.slug}/entries/{foreign.pk}/")
    assert response.status_code == 409
    assert "private" not in response.content.decode()


def test_an_item_held_by_someone_else_is_not_shown(as_mira, queue):
    sam = make_user()
    queue.members.add(sam)
    enqueue(make_item(text="held by sam"), queue)
    sam_client = Client()
    sam_client.force_login(sam)
    entry, url = claim_page(sam_client, queue)
    response = as_mira.get(url)
    assert response.status_code == 409
    assert "held by sam" not in response.content.decode()


def test_anonymous_users_are_sent_to_sign_in(client, queue):
    entry = enqueue(make_item(), queue)
    for url in (f"/queues/{queue.slug}/", f"/queues/{queue.slug}/entries/{entry.pk}/", f"/items/{entry.item_id}/image"):
        assert client.get(url)["Location"].startswith("/accounts/login/")
    assert client.post(f"/queues/{queue.slug}/entries/{entry.pk}/decide")["Location"].startswith("/accounts/login/")


def test_views_refuse_the_wrong_method(as_mira, queue):
    entry = enqueue(make_item(), queue)
    assert as_mira.post(f"/queues/{queue.slug}/").status_code == 405
    assert as_mira.get(f"/queues/{queue.slug}/entries/{entry.pk}/decide").status_code == 405
    assert as_mira.get(f"/queues/{queue.slug}/entries/{entry.pk}/heartbeat").status_code == 405


# deciding


def test_an_htmx_decision_returns_the_next_item_as_a_fragment_and_pushes_its_url(as_mira, queue):
    first, second = make_item(text="first item"), make_item(text="second item")
    enqueue(first, queue, sort_key=1)
    enqueue(second, queue, sort_key=2)
    entry, _ = claim_page(as_mira, queue)
    response = as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide",
        {"token": entry.fencing_token, "action": "remove", "categories": ["spam", "scam_fraud"]},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "second item" in html and "Undo (z)" in html
    next_entry = QueueEntry.objects.get(item=second)
    assert response["HX-Push-Url"] == f"/queues/{queue.slug}/entries/{next_entry.pk}/"
    assert set(Label.objects.filter(item=first, value=True).values_list("category__slug", flat=True)) == {
        "spam",
        "scam_fraud",
    }


def test_a_plain_decision_redirects_to_the_next_item(as_mira, queue):
    enqueue(make_item(), queue, sort_key=1)
    enqueue(make_item(), queue, sort_key=2)
    entry, _ = claim_page(as_mira, queue)
    response = as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide", {"token": entry.fencing_token, "action": "no_violation"}
    )
    assert response.status_code == 302
    assert "/entries/" in response["Location"]


def test_a_removal_without_a_category_is_refused_and_the_item_stays_held(as_mira, queue):
    enqueue(make_item(text="keep me"), queue)
    entry, _ = claim_page(as_mira, queue)
    response = as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide", {"token": entry.fencing_token, "action": "remove"}, **HTMX
    )
    assert response.status_code == 400
    assert "at least one policy category" in response.content.decode()
    assert Decision.objects.count() == 0
    assert QueueEntry.objects.get(pk=entry.pk).status == "claimed"


def test_a_decision_after_the_lease_expired_is_refused_and_says_so(as_mira, queue):
    enqueue(make_item(), queue)
    entry, _ = claim_page(as_mira, queue)
    QueueEntry.objects.filter(pk=entry.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    response = as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide",
        {"token": entry.fencing_token, "action": "no_violation"},
        **HTMX,
    )
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#workspace"
    assert "Lease lost" in response.content.decode()
    assert Decision.objects.count() == 0


def test_posts_need_a_csrf_token(mira, queue):
    enqueue(make_item(), queue)
    client = Client(enforce_csrf_checks=True)
    client.force_login(mira)
    entry, _ = claim_page(client, queue)
    response = client.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide",
        {"token": entry.fencing_token, "action": "no_violation"},
        **HTMX,
    )
    assert response.status_code == 403
    assert Decision.objects.count() == 0


def test_heartbeat_renews_and_answers_409_once_the_lease_is_gone(as_mira, queue):
    enqueue(make_item(), queue)
    entry, _ = claim_page(as_mira, queue)
    QueueEntry.objects.filter(pk=entry.pk).update(lease_until=timezone.now() + timedelta(seconds=30))
    beat = as_mira.post(f"/queues/{queue.slug}/entries/{entry.pk}/heartbeat", {"token": entry.fencing_token}, **HTMX)
    assert beat.status_code == 200 and 'id="countdown"' in beat.content.decode()
    assert QueueEntry.objects.get(pk=entry.pk).lease_until > timezone.now() + timedelta(minutes=9)
    QueueEntry.objects.filter(pk=entry.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    lost = as_mira.post(f"/queues/{queue.slug}/entries/{entry.pk}/heartbeat", {"token": entry.fencing_token}, **HTMX)
    assert lost.status_code == 409


def test_undo_within_ten_seconds_gives_the_item_back_and_removes_its_labels(as_mira, queue):
    first = make_item(text="first")
    enqueue(first, queue, sort_key=1)
    enqueue(make_item(text="second"), queue, sort_key=2)
    entry, _ = claim_page(as_mira, queue)
    as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide",
        {"token": entry.fencing_token, "action": "remove", "categories": ["spam"]},
        **HTMX,
    )
    decision = Decision.objects.get()
    current = QueueEntry.objects.get(status="claimed")
    response = as_mira.post(f"/queues/{queue.slug}/decisions/{decision.pk}/undo", {"current_entry": current.pk}, **HTMX)
    assert response.status_code == 200
    assert "first" in response.content.decode()
    assert (Decision.objects.count(), Label.objects.count()) == (0, 0)
    assert QueueEntry.objects.get(pk=entry.pk).status == "claimed"
    assert QueueEntry.objects.get(pk=current.pk).status == "pending"


def test_undo_after_the_window_is_refused(as_mira, queue):
    enqueue(make_item(), queue)
    entry, _ = claim_page(as_mira, queue)
    as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide", {"token": entry.fencing_token, "action": "no_violation"}
    )
    Decision.objects.update(created_at=timezone.now() - timedelta(seconds=11))
    response = as_mira.post(f"/queues/{queue.slug}/decisions/{Decision.objects.get().pk}/undo", **HTMX)
    assert "can be undone for 10 seconds" in response.content.decode()
    assert Decision.objects.count() == 1


def test_skip_and_escalate_from_the_work_view(as_mira, mira, queue):
    escalations = make_queue(name="Escalations", members=[mira])
    enqueue(make_item(), queue)
    entry, _ = claim_page(as_mira, queue)
    skipped = as_mira.post(f"/queues/{queue.slug}/entries/{entry.pk}/skip", {"token": entry.fencing_token}, **HTMX)
    assert skipped.status_code == 200 and "The queue is empty" in skipped.content.decode()
    QueueEntry.objects.update(skip_until=None)
    entry, _ = claim_page(as_mira, queue)
    bad = as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/escalate", {"token": entry.fencing_token, "to_queue": escalations.pk}
    )
    assert bad.status_code == 400 and "needs a note" in bad.content.decode()
    moved = as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/escalate",
        {"token": entry.fencing_token, "to_queue": escalations.pk, "note": "looks like a minor"},
    )
    assert moved.status_code == 200
    assert QueueEntry.objects.get(queue=escalations).note == "looks like a minor"


# images


def image_item(queue):
    from intake.images import check_image

    data = image_bytes("PNG", (2400, 1800), color="orange")
    [result] = submit_items(
        submissions=[
            ItemSubmission(source="t", external_id="img", image=check_image(data, max_bytes=10**8, max_pixels=10**8))
        ]
    )
    from intake.models import Item

    return enqueue(Item.objects.get(pk=result.item_id), queue), data


def test_images_are_served_reencoded_at_display_size_to_members_only(as_mira, queue, client):
    from intake.display_images import make_display_image
    from intake.models import Item

    entry, original = image_item(queue)
    pending = as_mira.get(f"/items/{entry.item_id}/image")
    # Until a worker has made the derivative, the web process decodes nothing and says so.
    assert pending.status_code == 202 and pending["Content-Type"] == "image/svg+xml"
    assert pending["Cache-Control"] == "no-store" and b"being prepared" in pending.content
    make_display_image(Item.objects.get(pk=entry.item_id).image.name)  # what the worker does
    response = as_mira.get(f"/items/{entry.item_id}/image")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    served = b"".join(response.streaming_content)
    assert served != original
    assert max(Image.open(io.BytesIO(served)).size) == 1024
    outsider = Client()
    outsider.force_login(make_user())
    assert outsider.get(f"/items/{entry.item_id}/image").status_code == 404


def test_images_are_blurred_by_default_and_the_preference_sticks(as_mira, queue):
    image_item(queue)
    entry, url = claim_page(as_mira, queue)
    assert 'class="item-image blurred"' in as_mira.get(url).content.decode()
    as_mira.post("/preferences/blur", {"next": url})
    assert 'class="item-image"' in as_mira.get(url).content.decode()


def test_every_response_carries_a_strict_content_security_policy(as_mira, queue):
    enqueue(make_item(), queue)
    _, url = claim_page(as_mira, queue)
    policy = as_mira.get(url)["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "style-src 'self'" in policy


def test_the_queue_overview_draws_charts_for_admins_only(as_mira, queue, mira):
    from queues.enqueue import sample_queue_depths

    enqueue(make_item(), queue)
    entry, _ = claim_page(as_mira, queue)
    as_mira.post(
        f"/queues/{queue.slug}/entries/{entry.pk}/decide", {"token": entry.fencing_token, "action": "no_violation"}
    )
    enqueue(make_item(), queue)
    assert sample_queue_depths() >= 1
    assert as_mira.get(f"/queues/{queue.slug}/overview").status_code == 403
    admin = Client()
    admin.force_login(make_user(is_staff=True))
    response = admin.get(f"/queues/{queue.slug}/overview")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") == 3 and "<rect" in html and "<polyline" in html
    assert sum(value for _, value in response.context["overview"].decisions_per_hour) == 1
