"""SQL models (accounts side). Content lives in MongoDB, never here."""

from __future__ import annotations

from django.db import models


class LoginFailure(models.Model):
    """One failed studio sign-in, for throttling by account and address."""

    username = models.CharField(max_length=150)
    address = models.GenericIPAddressField()
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["username", "address", "at"])]
