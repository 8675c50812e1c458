from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console for leads and admins: search, saved filters, bulk actions"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from classifiers.models import PolicyCategory
        from console.access import invalidate
        from queues.models import Queue

        # Whatever changes who may see which queue, or what the search form lists, forgets the cached access.
        user_model = get_user_model()
        for through in (
            Queue.members.through,
            Queue.member_groups.through,
            user_model.groups.through,
            user_model.user_permissions.through,
            Group.permissions.through,
        ):
            m2m_changed.connect(invalidate, sender=through, dispatch_uid=f"console-access-{through._meta.label}")
        for model in (Queue, PolicyCategory, user_model, Group):
            post_save.connect(invalidate, sender=model, dispatch_uid=f"console-access-saved-{model._meta.label}")
            post_delete.connect(invalidate, sender=model, dispatch_uid=f"console-access-deleted-{model._meta.label}")
