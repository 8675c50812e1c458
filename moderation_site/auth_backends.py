"""A user's permissions in one query instead of ModelBackend's two.

Every page's navigation (templates/base.html) asks ``perms``, and ModelBackend answers with two round trips: the
user's own permissions, then their groups'. Under load each round trip costs more than the query it runs, so
this backend is ModelBackend with both read in one query, into the attribute ModelBackend caches them in
(``_perm_cache``, which ``console.access`` primes from its cache too). Sign-in is ModelBackend's, unchanged.
"""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Exists, OuterRef


class PermissionsInOneQuery(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None) -> set[str]:  # noqa: ANN001 - a user, any object
        # The same rules as ModelBackend: no permission for an inactive or anonymous user, or per object.
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                own = Permission.user_set.through.objects.filter(permission=OuterRef("pk"), user=user_obj)
                through_group = Permission.group_set.through.objects.filter(
                    permission=OuterRef("pk"), group__user=user_obj
                )
                permissions = permissions.filter(Exists(own) | Exists(through_group))
            user_obj._perm_cache = {
                f"{app}.{codename}"
                for app, codename in permissions.values_list("content_type__app_label", "codename").order_by()
            }
        return user_obj._perm_cache
