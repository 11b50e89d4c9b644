"""`manage.py ensure_indexes`: collections, validators and indexes, idempotently."""

from __future__ import annotations

from typing import Any

from samembed.management.base import DatabaseCommand
from samembed.repositories import ensure_indexes


class Command(DatabaseCommand):
    help = "Create MongoDB collections, $jsonSchema validators and indexes (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ensure_indexes():
            self.stdout.write(f"index {name}")
