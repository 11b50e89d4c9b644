"""`manage.py reseal_source_secrets`: every source's secrets sealed with the current key.

Run after rotating SOURCE_SECRETS_KEY (the former key in SOURCE_SECRETS_OLD_KEYS),
or once after upgrading from a release that stored them in plain text. Idempotent.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from samembed.management.base import DatabaseCommand
from samembed.repositories import sources


class Command(DatabaseCommand):
    help = "Re-encrypt sources' tokens and app passwords with SOURCE_SECRETS_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        resealed, unreadable = sources.reseal_secrets()
        self.stdout.write(f"resealed {resealed} sources")
        if unreadable:
            raise CommandError(
                f"{unreadable} sources hold a secret no configured key opens: add the key "
                "they were sealed with to SOURCE_SECRETS_OLD_KEYS and run this again")
