"""Source secrets (access tokens, app passwords) encrypted at rest.

`repositories.sources` seals the secret fields of a source's settings when it writes
the document and opens them when it reads one, so the database, its backups and
its replicas hold only Fernet tokens (AES-128-CBC with HMAC-SHA256). Everything
above the repository sees the plain values.

Keys come from the environment: `SOURCE_SECRETS_KEY` seals, and it and every key
in `SOURCE_SECRETS_OLD_KEYS` open (MultiFernet), so a key is rotated by making it
old, setting a new one and running `manage.py reseal_source_secrets`. Without a
key (development, tests) one is derived from SECRET_KEY, with a warning: a stolen
database plus the settings file would then expose the secrets.

    >>> opened = open_secret(seal("s3cret"))   # "s3cret"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

log = logging.getLogger(__name__)

# The settings keys that hold secrets, in every source kind.
SECRET_FIELDS = ("token", "app_password")
# Marks a sealed value; anything else was stored before encryption (read as is,
# sealed at the next save or by reseal_source_secrets).
PREFIX = "fernet:"


class Unreadable(Exception):
    """A sealed value that none of the configured keys opens."""


def parse_key(raw: str) -> str:
    """A Fernet key (32 bytes, URL-safe base64), as SOURCE_SECRETS_KEY must be."""
    key = raw.strip()
    try:
        Fernet(key)
    except ValueError as e:
        raise ValueError("expected a Fernet key: 32 bytes in URL-safe base64 (make one "
                         "with `python -c 'from cryptography.fernet import Fernet; "
                         "print(Fernet.generate_key().decode())'`)") from e
    return key


@cache
def _keys() -> tuple[Fernet, MultiFernet]:
    """The sealing key, and every key that opens."""
    current = settings.SOURCE_SECRETS_KEY
    if not current:
        log.warning("SOURCE_SECRETS_KEY is not set: source secrets are sealed with a key "
                    "derived from SECRET_KEY; set one in production")
        digest = hmac.new(settings.SECRET_KEY.encode(), b"samembed source secrets",
                          hashlib.sha256).digest()
        current = base64.urlsafe_b64encode(digest).decode()
    sealing = Fernet(current)
    return sealing, MultiFernet([sealing, *(Fernet(k) for k in settings.SOURCE_SECRETS_OLD_KEYS)])


def reset() -> None:
    """Forget the keys (tests that change the settings)."""
    _keys.cache_clear()


def seal(value: str) -> str:
    """`value` encrypted with the current key ("" stays "": nothing to hide)."""
    if not value:
        return value
    return PREFIX + _keys()[0].encrypt(value.encode()).decode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def open_secret(value: str) -> str:
    """The plain value of `seal(value)`; a value stored before encryption as it is."""
    if not is_sealed(value):
        return value
    try:
        return _keys()[1].decrypt(value[len(PREFIX):].encode()).decode()
    except InvalidToken as e:
        raise Unreadable("no configured key opens this secret (is the key it was sealed "
                         "with in SOURCE_SECRETS_OLD_KEYS?)") from e


def is_current(value: object) -> bool:
    """Whether `value` is sealed with the current key (nothing to do on a reseal)."""
    if not is_sealed(value):
        return not value
    token = str(value)[len(PREFIX):].encode()
    try:
        _keys()[0].decrypt(token)
    except InvalidToken:
        return False
    return True


def sealed_settings(values: dict[str, object]) -> dict[str, object]:
    """A source's settings as stored: the secret fields sealed."""
    return {k: seal(v) if k in SECRET_FIELDS and isinstance(v, str) and not is_sealed(v)
            else v for k, v in values.items()}


def opened_settings(values: dict[str, object], where: object = "") -> dict[str, object]:
    """A source's settings as read: the secret fields opened. One no key opens stays
    sealed (so a save writes it back untouched, for the right key to open later), and
    the error is logged: the source then fails with the service's refusal."""
    opened = dict(values)
    for name in SECRET_FIELDS:
        value = opened.get(name)
        if isinstance(value, str):
            try:
                opened[name] = open_secret(value)
            except Unreadable as e:
                log.error("source %s: its %s cannot be opened: %s", where, name, e)
    return opened
