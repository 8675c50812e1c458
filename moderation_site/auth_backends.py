"""A user's permissions in one query instead of ModelBackend's two.

Every page's navigation (templates/base.html) asks ``perms``, and ModelBackend answers with two round trips: the
user's own permissions, then their groups'. Under load each round trip costs more than the query it runs, so
this backend is ModelBackend with both read in one query, into the attribute ModelBackend caches them in
(``_perm_cache``, which ``console.access`` primes from its cache too). Sign-in is ModelBackend's, unchanged.
The query is a fixed statement run prepared (``api.prepared``): built by the ORM on every page, its two EXISTS
took longer to compile than PostgreSQL took to plan and run it (bench/RESULTS.md, the case view).
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from api.prepared import fetch_together


@cache
def _permissions_sql() -> tuple[str, str]:
    """Every permission as ``(app_label, codename)``; and only the user's own or their groups' (``%(user)s``)."""
    own, in_group = get_user_model().user_permissions.field, Permission.group_set.rel.field
    user_groups = get_user_model().groups.field
    every = (
        f"SELECT ct.app_label, p.codename FROM {Permission._meta.db_table} p"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
    )
    users = (
        f"{every} WHERE EXISTS (SELECT 1 FROM {own.m2m_db_table()} up"
        f" WHERE up.{own.m2m_reverse_name()} = p.id AND up.{own.m2m_column_name()} = %(user)s)"
        f" OR EXISTS (SELECT 1 FROM {in_group.m2m_db_table()} gp JOIN {user_groups.m2m_db_table()} ug"
        f" ON ug.{user_groups.m2m_reverse_name()} = gp.{in_group.m2m_column_name()}"
        f" WHERE gp.{in_group.m2m_reverse_name()} = p.id AND ug.{user_groups.m2m_column_name()} = %(user)s)"
    )
    return every, users


class PermissionsInOneQuery(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:  # noqa: ANN001 - a user, any object
        # The same rules as ModelBackend: no permission for an inactive or anonymous user, or per object.
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            every, users = _permissions_sql()
            statement = (every, {}) if user_obj.is_superuser else (users, {"user": user_obj.pk})
            user_obj._perm_cache = {f"{app}.{codename}" for app, codename in fetch_together([statement])[0]}
        return user_obj._perm_cache
