"""Create the demo admin, senior moderator and moderator, and print their passwords.

Run again (a second ``make run``), it keeps the accounts whose password in ``var/demo_credentials.txt`` still
signs them in, and prints the same lines; ``--reset`` gives every account a new password.
"""

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

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--reset", action="store_true", help="give every demo account a new password")

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        path = settings.VAR_DIR / "demo_credentials.txt"
        kept = {} if options["reset"] or not path.exists() else _saved_passwords(path.read_text())
        seniors, _ = Group.objects.get_or_create(name=SENIOR_GROUP)
        seniors.permissions.add(Permission.objects.get(content_type__app_label="queues", codename="review_decisions"))
        lines = []
        for username, role, is_admin in (
            ("admin", "demo admin", True),
            ("senior", "demo senior moderator", False),
            ("moderator", "demo moderator", False),
        ):
            user, _ = User.objects.get_or_create(username=username)
            password = kept.get(username)
            if password is None or not user.check_password(password):
                password = secrets.token_urlsafe(12)
                user.set_password(password)
            user.is_staff = user.is_superuser = is_admin
            user.save()
            if username == "senior":
                user.groups.add(seniors)
            lines.append(f"{role}: username {username}  password {password}")
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        for line in lines:
            self.stdout.write(self.style.SUCCESS(line))


def _saved_passwords(text: str) -> dict[str, str]:
    """{username: password} from the lines this command wrote ("<role>: username <u>  password <p>")."""
    saved = {}
    for line in text.splitlines():
        words = line.split()
        if "username" in words and "password" in words:
            saved[words[words.index("username") + 1]] = words[words.index("password") + 1]
    return saved
