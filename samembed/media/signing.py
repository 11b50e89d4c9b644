"""Signed media URLs: `/img/<signature>/<preset>/<key>.<format>`.

The signature is HMAC-SHA256 over "<preset>/<key>.<format>", compared in
constant time. New URLs are signed with MEDIA_SIGNING_KEY (or, when unset, a
key derived from SECRET_KEY, which itself has no default in production);
MEDIA_SIGNING_OLD_KEYS are still accepted, so keys can be rotated without
breaking pages that CDNs and browsers hold.

Stored posts refer to their media as "media:<key>"; templates turn that into
URLs with `media_src` and `media_srcset`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache, lru_cache

from django.conf import settings

from samembed.media.images import PRESETS

STORED_PREFIX = "media:"
SRCSET_PRESETS = ("thumb", "medium", "large")


@cache
def _keys() -> tuple[bytes, ...]:
    current = settings.MEDIA_SIGNING_KEY or hmac.new(
        settings.SECRET_KEY.encode(), b"samembed media signing", hashlib.sha256).hexdigest()
    return (current.encode(), *(k.encode() for k in settings.MEDIA_SIGNING_OLD_KEYS))


# An embed signs up to four URLs per image on every render; the same few
# thousand images recur, so remember them (keyed by secret: rotation-safe).
@lru_cache(maxsize=16384)
def _sign(secret: bytes, path: str) -> str:
    digest = hmac.new(secret, path.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_url(key: str, preset: str, fmt: str = "webp") -> str:
    path = f"{preset}/{key}.{fmt}"
    return f"/img/{_sign(_keys()[0], path)}/{path}"


def verify(signature: str, preset: str, key: str, fmt: str) -> bool:
    path = f"{preset}/{key}.{fmt}"
    return any(hmac.compare_digest(_sign(secret, path), signature) for secret in _keys())


def media_src(url: str | None, preset: str = "medium", fmt: str = "jpg") -> str:
    """A stored image's signed URL at `preset` (the fallback `src`); others unchanged."""
    if url and url.startswith(STORED_PREFIX):
        return signed_url(url[len(STORED_PREFIX):], preset, fmt)
    return url or ""


def media_srcset(url: str | None, presets: tuple[str, ...] = SRCSET_PRESETS) -> str:
    """WebP at the standard widths (`presets`), for `srcset`; empty for images not
    stored here."""
    if not url or not url.startswith(STORED_PREFIX):
        return ""
    key = url[len(STORED_PREFIX):]
    return ", ".join(f"{signed_url(key, p)} {PRESETS[p]}w" for p in presets)
