"""Pages of a story on the read path: page sizes and the opaque `after` cursor.

Every read-path URL that shows posts (`/e/`, `/s/`, `/api/v1/stories/`) shows
one page of them, in the story's order (pinned first, then rank, then `_id` as
the tie-breaker). The next page starts after a position in that order, carried
by the cursor itself (not by a lookup), so a cursor naming a post deleted
since still works, and new posts, which arrive at the top, do not move later
pages. The repository answers a page with one indexed query
(`posts.list_page`).

A cursor is base64url of (story id, pinned, rank, id) and an HMAC over them,
with a key derived from SECRET_KEY. The HMAC is checked before any lookup, so
a forged or altered cursor is a 400 that costs nothing and is never cached; a
genuine cursor of another story is refused (400) once the story is known. The
story's id, not its slug, binds it: cursors survive a rename.

    >>> token = encode(story_id, Position(False, -1.7e9, post_id))
    >>> decode(token)
    Cursor(story_id=ObjectId(...), position=Position(pinned=False, ...))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from functools import cache

from django.conf import settings

from samembed.repositories.common import Id as ObjectId

# Page sizes: what a template shows before "Show more", and the bound of `limit`.
DEFAULT_LIMITS = {"list": 20, "grid": 20, "carousel": 10, "ticker": 20, "screen": 24}
PAGE_DEFAULT = 20
LIMIT_MAX = 100
# Templates whose frame offers "Show more" (a ticker loops, a screen rotates).
PAGED_TEMPLATES = ("list", "grid", "carousel")

_LAYOUT = struct.Struct(">12s?d12s")
_MAC_BYTES = 12
TOKEN_CHARS = 60  # base64url of 33 + 12 bytes, unpadded


class BadPage(ValueError):
    """A `limit` or `after` the read path refuses; the message says why (400)."""


@dataclass(frozen=True)
class Position:
    """Where a page ends in the story's order."""

    pinned: bool
    rank: float
    id: ObjectId


@dataclass(frozen=True)
class Cursor:
    """A verified cursor: the story it was issued for and where its page ended."""

    story_id: ObjectId
    position: Position


@cache
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"samembed.embed.paging.cursor", hashlib.sha256).digest()


def _mac(payload: bytes) -> bytes:
    return hmac.new(_key(settings.SECRET_KEY), payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode(story_id: ObjectId, position: Position) -> str:
    """The cursor of `position` in the story `story_id`."""
    payload = _LAYOUT.pack(story_id.binary, position.pinned, position.rank, position.id.binary)
    return base64.urlsafe_b64encode(payload + _mac(payload)).rstrip(b"=").decode("ascii")


def decode(token: str) -> Cursor:
    """The cursor `token` names; BadPage unless this server issued it."""
    if not looks_like_cursor(token):
        raise BadPage("Query parameter 'after' is not a cursor this server issued; "
                      "use the 'next' link of a previous page.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as e:
        raise BadPage("Query parameter 'after' is not a valid cursor (base64url).") from e
    payload, mac = raw[:_LAYOUT.size], raw[_LAYOUT.size:]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(payload)):
        raise BadPage("Query parameter 'after' is not a cursor this server issued (its "
                      "signature does not match); use the 'next' link of a previous page.")
    story, pinned, rank, oid = _LAYOUT.unpack(payload)
    return Cursor(ObjectId(story), Position(pinned, rank, ObjectId(oid)))


def check_story(cursor: Cursor | None, story_id: ObjectId) -> None:
    """BadPage when a genuine cursor was issued for another story."""
    if cursor is not None and cursor.story_id != story_id:
        raise BadPage("Query parameter 'after' is a cursor of another story; "
                      "use the 'next' link of one of this story's pages.")


def looks_like_cursor(token: str) -> bool:
    """Whether `token` has a cursor's shape (checked before any lookup)."""
    return len(token) == TOKEN_CHARS and token.isascii() and all(
        c.isalnum() or c in "-_" for c in token)


def parse_limit(raw: str | None, default: int) -> int:
    """A page size from the query (`default` when absent); BadPage names the range."""
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3 or not 1 <= int(raw) <= LIMIT_MAX:
        raise BadPage(f"The query parameter limit must be a whole number from 1 to {LIMIT_MAX}, "
                      f"not {raw[:40]!r}.")
    return int(raw)


def default_limit(template: str | None) -> int:
    """The page size of a template (of the story page and the API when None)."""
    return DEFAULT_LIMITS.get(template or "", PAGE_DEFAULT)
