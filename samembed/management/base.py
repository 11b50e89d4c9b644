"""A base for commands that need MongoDB: an unreachable database is one clear line."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from samembed.exceptions import DatabaseUnavailable
from samembed.repositories import ping


class DatabaseCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            ping()
        except DatabaseUnavailable as e:
            where = settings.MONGODB_URI.split("@")[-1]
            reason = str(e).split(",")[0].split(" (")[0]
            raise CommandError(f"cannot reach MongoDB at {where}: {reason}") from e
        return super().execute(*args, **options)
