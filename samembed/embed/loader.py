"""The loader at `/embed.js`: minified once per process, served from memory.

The file publishers include keeps one stable URL, so it gets a max-age of
minutes (a fixed loader reaches every page within that time) instead of the
hashed, immutable names other static files have.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import rjsmin
from django.conf import settings

from samembed.embed.cache import Entry

LOADER_SOURCE = Path(settings.BASE_DIR) / "static" / "embed.js"
LOADER_MAX_AGE = 300


def minified() -> bytes:
    return rjsmin.jsmin(LOADER_SOURCE.read_text(encoding="utf-8")).encode()


@cache
def loader_entry() -> Entry:
    headers = [
        (b"content-type", b"text/javascript; charset=utf-8"),
        (b"cache-control",
         f"public, max-age={LOADER_MAX_AGE}, stale-while-revalidate=86400".encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"cross-origin-resource-policy", b"cross-origin"),
        (b"access-control-allow-origin", b"*"),
    ]
    entry = Entry.build(200, headers, minified())
    entry.expires = float("inf")
    return entry
