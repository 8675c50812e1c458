"""Create (or reset) the demo admin and demo moderator and print their passwords."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo admin and moderator accounts with fresh random passwords, and print them."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        lines = []
        for username, is_admin in (("admin", True), ("moderator", False)):
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = is_admin
            user.set_password(password)
            user.save()
            lines.append(f"{'demo admin' if is_admin else 'demo moderator'}: username {username}  password {password}")
        path = settings.VAR_DIR / "demo_credentials.txt"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        for line in lines:
            self.stdout.write(self.style.SUCCESS(line))
