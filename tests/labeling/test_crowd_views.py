"""The crowd labeler's pages over HTTP: blind, masked, keyboard answers, 403 / 409 / 400, htmx fragments."""

import pytest
from django.urls import reverse

from classifiers.models import PolicyCategory
from intake.models import Author, Report
from labeling import crowd
from tests.factories import make_item, make_user

pytestmark = pytest.mark.django_db


def crowd_user():
    user = make_user()
    user.groups.add(crowd.crowd_group())
    return user


@pytest.fixture
def task_set():
    author = Author.objects.create(source="tests", external_id="a-1", handle="suspicious_author_handle")
    item = make_item(
        text="Claim at https://pay.example/claim?token=s3cr3t or mail bob@example.com, call +1 555 123 4567",
        author=author,
        metadata={"ip": "203.0.113.77"},
    )
    Report.objects.create(item=item, reporter_id="reporter-9911", reason="scam", reported_at=item.created_at)
    categories = list(PolicyCategory.objects.filter(slug__in=["spam", "scam_fraud"]))
    return crowd.create_task_set(name="scams", categories=categories, item_ids=[item.pk, make_item().pk], gold_rate=0)


def test_the_task_page_is_blind_and_masked(client, task_set):
    labeler = crowd_user()
    client.force_login(labeler)
    response = client.get(reverse("crowd-next", args=[task_set.pk]), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    first = task_set.tasks.order_by("id").first()
    assert response.redirect_chain[-1][0] == reverse("crowd-task", args=[first.pk])
    for secret in (
        "s3cr3t",
        "bob@example.com",
        "555 123 4567",
        "suspicious_author_handle",
        "reporter-9911",
        "203.0.113",
    ):
        assert secret not in page
    assert "[email]" in page and "[phone]" in page and "https://pay.example/claim?[token]" in page
    assert 'data-key="0"' in page and 'data-key="2"' in page
    assert "<script>" not in page and "style=" not in page


def test_answering_by_htmx_brings_the_next_task_and_pushes_its_url(client, task_set):
    labeler = crowd_user()
    client.force_login(labeler)
    first = crowd.next_assignment(task_set=task_set, user=labeler)
    response = client.post(
        reverse("crowd-answer", args=[first.task_id]), {"answer": "scam_fraud"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    following = task_set.tasks.exclude(pk=first.task_id).get()
    assert response["HX-Push-Url"] == reverse("crowd-task", args=[following.pk])
    assert "<html" not in response.content.decode()


def test_an_answer_to_someone_elses_task_is_403_and_a_second_answer_409(client, task_set):
    owner, other = crowd_user(), crowd_user()
    assignment = crowd.next_assignment(task_set=task_set, user=owner)
    url = reverse("crowd-answer", args=[assignment.task_id])
    client.force_login(other)
    assert client.post(url, {"answer": "spam"}).status_code == 403
    assert client.get(reverse("crowd-task", args=[assignment.task_id])).status_code == 403
    client.force_login(owner)
    assert client.post(url, {"answer": "bogus"}).status_code == 400
    assert client.post(url, {"answer": "spam"}).status_code == 302
    second = client.post(url, {"answer": "none"})
    assert second.status_code == 409
    assert "already has your answer" in second.content.decode()


def test_people_outside_the_crowd_group_and_anonymous_visitors_are_kept_out(client, task_set):
    assert client.get(reverse("crowd-home")).status_code == 302
    client.force_login(make_user(is_staff=True))
    assert client.get(reverse("crowd-home")).status_code == 403
    assert client.get(reverse("crowd-next", args=[task_set.pk])).status_code == 403


def test_a_set_naming_other_labelers_is_not_found_and_answers_need_post(client, task_set):
    task_set.labelers.set([crowd_user()])
    client.force_login(crowd_user())
    assert client.get(reverse("crowd-next", args=[task_set.pk])).status_code == 404
    assert client.get(reverse("crowd-answer", args=[task_set.tasks.first().pk])).status_code == 405
