"""The samembed Django app: registers the system checks (`samembed.checks`)."""

from __future__ import annotations

from django.apps import AppConfig


class SamembedConfig(AppConfig):
    name = "samembed"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from samembed import checks  # noqa: F401 - registers the checks
