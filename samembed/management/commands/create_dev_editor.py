"""`manage.py create_dev_editor FILE`: the development editor `make run` prints.

Creates the user `editor` in the editors group with a random password written
to FILE (mode 600) on first run, and prints the credentials. Only `make run`
calls it, so production never has a default account or password.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandParser

from samembed.studio.views import EDITORS_GROUP

USERNAME = "editor"


class Command(BaseCommand):
    help = "Create (once) the development editor and print its credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("password_file", type=Path)

    def handle(self, *args: Any, password_file: Path, **options: Any) -> None:
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
        user, created = User.objects.get_or_create(username=USERNAME)
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        user.groups.add(Group.objects.get(name=EDITORS_GROUP))
        self.stdout.write(f"{USERNAME} {password}")
