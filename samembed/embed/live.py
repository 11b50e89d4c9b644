"""The version endpoint of live stories: `GET /live/<slug>` (read path).

Every open live embed and big screen asks it about once a second
(LIVE_POLL_INTERVAL) and fetches its document again only when the version
moved. The answer is a few dozen bytes of JSON (the story's version, whether it
is still live, and the producer remote's screen controls), held as a response
cache entry like any embed: the ASGI fast path answers it from memory, the
version watch expires it within 0.5 s of a change, and so the database sees
one query per story per process per change (or per TTL), never one per viewer.
Its `max-age=1` lets a CDN answer a whole venue with one origin request a second.

    GET /live/demo-live  ->  {"slug": "demo-live", "version": 41, "live": true,
                              "screen": {"mode": "wall", "interval": 8, ...}}
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse

from samembed.embed.cache import Entry
from samembed.embed.views import (
    Page,
    _cached,
    _common_headers,
    _error,
    _read_view,
    entry_response,
)
from samembed.repositories.stories import SCREEN_PUBLIC, Story

PREFIX = "/live/"
# Short enough for a CDN to pass a change on within a second; long enough that a
# venue full of screens behind it costs the origin one request a second. No
# stale-while-revalidate: browsers would answer each poll with the previous one.
CACHE_CONTROL = b"public, max-age=1, stale-if-error=60"


def _json(status: int, payload: dict[str, Any], **extra: Any) -> Entry:
    headers = [(n, v) for n, v in _common_headers(b"application/json") if n != b"cache-control"]
    headers += [
        (b"cache-control", CACHE_CONTROL),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        # Embeds are sandboxed frames with an opaque origin: they need CORS to read it.
        (b"access-control-allow-origin", b"*"),
    ]
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Entry.build(status, headers, body, **extra)


def _not_found() -> Entry:
    return _json(404, {"error": "not_found", "message": "No such story."})


def version_payload(story: Story) -> dict[str, Any]:
    screen = story.screen
    return {
        "slug": story.slug,
        "version": story.version,
        "live": story.live,
        "screen": {name: getattr(screen, name) for name in SCREEN_PUBLIC},
    }


def _version(request: HttpRequest, slug: str) -> HttpResponse:
    if request.META.get("QUERY_STRING"):
        return _error(400, "The version endpoint takes no query parameters.")

    def build(story: Story, _: Page) -> Entry:
        return _json(200, version_payload(story), story_id=str(story.id), version=story.version)

    # The same lookup, 404 and 301 as every story URL; the version needs no posts.
    return entry_response(_cached(request, slug, PREFIX, _not_found, build, with_posts=False),
                          request)


version = _read_view(_version, _not_found)
