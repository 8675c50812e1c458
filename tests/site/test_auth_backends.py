"""The permissions backend: the same answer as Django's ModelBackend, in one query instead of two."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from moderation_site.auth_backends import PermissionsInOneQuery
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _fresh(user):  # noqa: ANN001, ANN202 - a user without the permission caches of an earlier lookup
    return type(user).objects.get(pk=user.pk)


def _permission(app_label: str, codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def test_own_and_group_permissions_come_in_one_query_and_equal_model_backends(django_assert_num_queries):
    user = make_user()
    user.user_permissions.add(_permission("queues", "review_decisions"))
    team = Group.objects.create(name="Seniors")
    team.permissions.add(_permission("auth", "view_user"), _permission("queues", "review_decisions"))
    user.groups.add(team)
    Group.objects.create(name="Others").permissions.add(_permission("auth", "delete_user"))  # not the user's

    user = _fresh(user)
    with django_assert_num_queries(1):
        found = PermissionsInOneQuery().get_all_permissions(user)
        assert user.has_perm("auth.view_user") and not user.has_perm("auth.delete_user")

    assert found == {"queues.review_decisions", "auth.view_user"}
    assert found == ModelBackend().get_all_permissions(_fresh(user))


def test_inactive_users_have_none_and_superusers_all():
    user = make_user()
    user.user_permissions.add(_permission("auth", "view_user"))
    user.is_active = False
    user.save()
    boss = make_user()
    boss.is_superuser = True
    boss.save()

    assert PermissionsInOneQuery().get_all_permissions(_fresh(user)) == set()
    assert PermissionsInOneQuery().get_all_permissions(_fresh(boss)) == ModelBackend().get_all_permissions(_fresh(boss))
    assert len(PermissionsInOneQuery().get_all_permissions(_fresh(boss))) == Permission.objects.count()
