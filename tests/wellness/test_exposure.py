from datetime import timedelta

import pytest
from django.urls import reverse

from classifiers.models import PolicyCategory
from tests.console.conftest import grant
from tests.factories import make_user
from wellness import exposure
from wellness.models import ExposureCap


@pytest.fixture
def capped(db):
    """A cap of 2 items a day on the first seeded category."""
    category = PolicyCategory.objects.order_by("position").first()
    ExposureCap.objects.create(category=category, daily_cap=2)
    return category


def test_a_reviewer_reaches_a_cap_after_the_capped_number_of_items(capped):
    user = make_user()
    assert exposure.record_exposure(user_id=user.pk, category_slug=capped.slug) == 1
    assert exposure.capped_categories(user_id=user.pk) == []
    assert exposure.record_exposure(user_id=user.pk, category_slug=capped.slug) == 2
    assert exposure.capped_categories(user_id=user.pk) == [capped.slug]
    # Others are unaffected, and the cap lifts the next day.
    assert exposure.capped_categories(user_id=make_user().pk) == []
    assert exposure.capped_categories(user_id=user.pk, day=exposure.today() + timedelta(days=1)) == []


def test_categories_without_a_cap_are_not_counted(capped):
    other = PolicyCategory.objects.exclude(pk=capped.pk).first()
    assert exposure.record_exposure(user_id=make_user().pk, category_slug=other.slug) is None
    assert exposure.record_exposure(user_id=make_user().pk, category_slug="") is None


def test_raising_a_cap_serves_the_category_again(capped):
    user = make_user()
    for _ in range(2):
        exposure.record_exposure(user_id=user.pk, category_slug=capped.slug)
    ExposureCap.objects.filter(category=capped).update(daily_cap=3)
    assert exposure.capped_categories(user_id=user.pk) == []


def test_the_team_view_is_aggregated(capped):
    a, b = make_user(), make_user()
    for user, n in ((a, 2), (b, 1)):
        for _ in range(n):
            exposure.record_exposure(user_id=user.pk, category_slug=capped.slug)
    [row] = exposure.team_exposure()
    assert (row.reviewers, row.total, row.median, row.at_cap) == (2, 3, 1.5, 1)


def test_the_page_shows_own_exposure_and_the_team_only_to_leads(client, capped):
    user = make_user()
    exposure.record_exposure(user_id=user.pk, category_slug=capped.slug)
    exposure.record_exposure(user_id=user.pk, category_slug=capped.slug)
    client.force_login(user)
    body = client.get(reverse("exposure")).content.decode()
    assert "You reached today&#x27;s limit" in body or "You reached today's limit" in body
    assert "The team today" not in body
    client.force_login(grant(make_user(), "view_team_exposure"))
    body = client.get(reverse("exposure")).content.decode()
    assert "The team today" in body and user.username not in body
    client.logout()
    assert client.get(reverse("exposure")).status_code == 302
    assert client.post(reverse("exposure")).status_code in (302, 405)


def test_the_claim_path_reads_sensitive_and_capped_categories_in_one_query(capped, django_assert_num_queries):
    user = make_user()
    with django_assert_num_queries(1):
        state = exposure.exposure_state(user_id=user.pk)
    assert state.sensitive == {capped.slug} and state.capped == set()
    for _ in range(2):
        exposure.record_exposure(user_id=user.pk, category_slug=capped.slug)
    assert exposure.exposure_state(user_id=user.pk).capped == {capped.slug}
    assert exposure.exposure_state(user_id=make_user().pk).capped == set()
