"""Create (or reset) the demo admin, senior moderator and moderator, and print their passwords."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand

SENIOR_GROUP = "Senior moderators"


class Command(BaseCommand):
    help = (
        "Create the demo admin, senior moderator and moderator accounts with fresh random passwords, and print "
        "them. Seniors are the 'Senior moderators' group, which may QA review others' decisions."
    )

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        seniors, _ = Group.objects.get_or_create(name=SENIOR_GROUP)
        seniors.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
        lines = []
        for username, role, is_admin in (
            ("admin", "demo admin", True),
            ("senior", "demo senior moderator", False),
            ("moderator", "demo moderator", False),
        ):
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = is_admin
            user.set_password(password)
            user.save()
            if username == "senior":
                user.groups.add(seniors)
            lines.append(f"{role}: username {username}  password {password}")
        path = settings.VAR_DIR / "demo_credentials.txt"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        for line in lines:
            self.stdout.write(self.style.SUCCESS(line))
