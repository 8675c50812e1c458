"""The search page's cached access (console.access): few queries, and a change in membership or permissions
is seen on the very next request."""

from django.contrib.auth.models import Group
from django.urls import reverse

from tests.console.conftest import grant
from tests.factories import make_user


def test_the_search_page_asks_the_database_three_times_once_access_is_cached(
    client, team, lead, django_assert_max_num_queries
):
    client.force_login(lead)
    client.get(reverse("console-search"), {"q": "followers"})  # fills the cache
    with django_assert_max_num_queries(3):  # session, user, the page; no author lookup without text
        response = client.get(reverse("console-search"), {"state": "queued"})
    assert response.content.decode().count('class="result"') == 3


def test_leaving_a_queue_hides_its_items_on_the_next_request(client, team, lead):
    client.force_login(lead)
    assert client.get(reverse("console-search"), {"q": "followers"}).content.decode().count('class="result"') == 3
    team["queue"].members.remove(lead)
    body = client.get(reverse("console-search"), {"q": "followers"}).content.decode()
    assert body.count('class="result"') == 0 and f'value="{team["queue"].slug}"' not in body


def test_joining_a_queue_through_a_group_shows_its_items_on_the_next_request(client, team, lead):
    client.force_login(lead)
    assert "another team" not in client.get(reverse("console-search"), {"q": "followers"}).content.decode()
    group = Group.objects.create(name="Other team's helpers")
    team["other"].member_groups.add(group)
    lead.groups.add(group)
    assert "another team" in client.get(reverse("console-search"), {"q": "followers"}).content.decode()


def test_a_granted_or_revoked_permission_shows_on_the_next_request(client, team):
    member = make_user()
    team["queue"].members.add(member)
    client.force_login(member)
    assert 'name="item"' not in client.get(reverse("console-search"), {"q": "followers"}).content.decode()
    member = grant(member, "run_bulk_actions")
    assert 'name="item"' in client.get(reverse("console-search"), {"q": "followers"}).content.decode()
    member.user_permissions.clear()
    assert 'name="item"' not in client.get(reverse("console-search"), {"q": "followers"}).content.decode()


def test_a_saved_filter_appears_and_goes_at_once(client, team, lead):
    client.force_login(lead)
    client.get(reverse("console-search"))
    client.post(reverse("console-save-filter"), {"name": "Fresh one", "q": "followers"})
    assert "Fresh one" in client.get(reverse("console-search")).content.decode()


def test_with_the_cache_down_the_page_reads_the_database_and_membership_changes_still_save(
    client, team, lead, settings
):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    client.force_login(lead)
    assert client.get(reverse("console-search"), {"q": "followers"}).content.decode().count('class="result"') == 3
    team["queue"].members.remove(lead)  # the signal's cache write fails quietly
    assert client.get(reverse("console-search"), {"q": "followers"}).content.decode().count('class="result"') == 0
