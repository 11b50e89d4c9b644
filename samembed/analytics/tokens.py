"""The signed token an embed document carries so its beacons can name their story.

Rendered into `<html data-stats>` of every public embed (shared by every reader
through the caches, so nothing in it is per view): the story id, the rollout
variant the document was rendered for, and an HMAC of both. The event endpoint
refuses a beacon whose token does not verify or names another story than the
beacon does, so counts for a story come only from documents of that story.

    >>> verify(sign("65f0c0ffee0000000000beef", ""))
    ('65f0c0ffee0000000000beef', '')
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import cache

from django.conf import settings

_VARIANT = re.compile(r"^[a-z0-9_-]{0,32}$")
_STORY = re.compile(r"^[0-9a-f]{24}$")


@cache
def _key() -> bytes:
    return hashlib.sha256(b"samembed analytics token|" + settings.SECRET_KEY.encode()).digest()


def _mac(story_id: str, variant: str) -> str:
    digest = hmac.new(_key(), f"{story_id}|{variant}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def sign(story_id: str, variant: str = "") -> str:
    """The token of a story's documents (`variant`: the rollout variant, "" for none)."""
    return f"{story_id}.{variant}.{_mac(story_id, variant)}"


def verify(token: str) -> tuple[str, str] | None:
    """(story id, variant) when `token` is genuine, else None."""
    parts = token.split(".") if isinstance(token, str) and len(token) < 100 else []
    if len(parts) != 3 or not _STORY.match(parts[0]) or not _VARIANT.match(parts[1]):
        return None
    if not hmac.compare_digest(parts[2], _mac(parts[0], parts[1])):
        return None
    return parts[0], parts[1]
