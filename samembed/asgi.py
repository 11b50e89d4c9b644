"""The ASGI application gunicorn serves: a fast path in front of Django.

A request the response cache can answer as it stands (GET or HEAD of a canonical
`/e/`, `/s/` or `/api/v1/stories/` URL with a fresh entry, the loader, or a
signed `/img/` file already derived on disk) is answered here from memory,
without Django's request cycle: no middleware, no URL resolving, no request
object. Everything else, cache misses included, goes to
Django, whose views fill the cache (`samembed.embed.views`).

Measured on 2 cores (see the README): a cache hit through this path is several
times faster than the same page through Django with `cache_page`.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from samembed.embed.cache import ResponseCache, response_cache  # noqa: E402
from samembed.embed.loader import loader_entry  # noqa: E402
from samembed.embed.versions import start_watch  # noqa: E402
from samembed.media.views import cached_file  # noqa: E402

Scope = dict[str, Any]

# The only query a cached URL may carry; anything else is Django's to judge.
_TEMPLATE_QUERY = b"template="
_CACHED_PREFIXES = ("/e/", "/s/", "/api/v1/stories/", "/screen/", "/live/")


def cache_key(path: str, query: bytes) -> str | None:
    """The cache key of a request in canonical form, else None."""
    if not path.startswith(_CACHED_PREFIXES) or path.endswith("/") or "//" in path:
        return None
    if not query:
        return path
    if query.startswith(_TEMPLATE_QUERY) and path.startswith("/e/") and query[9:].isalpha():
        return path + "?" + query.decode("ascii")
    return None


def versioned_key(path: str, query: bytes) -> tuple[str | None, int]:
    """A live document asking for version N (`?v=N`, `?template=x&v=N`): the cache
    key without `v` and N. An entry older than N is left to Django, which marks its
    answer no-store so a CDN does not keep it under the new version's URL."""
    if not path.startswith(("/e/", "/screen/")):
        return None, 0
    if query.startswith(b"v="):
        base, digits = b"", query[2:]
    else:
        base, _, digits = query.partition(b"&v=")
    if base and not base.startswith(_TEMPLATE_QUERY):
        return None, 0
    if not digits.isdigit() or len(digits) > 12:
        return None, 0
    return cache_key(path, base), int(digits)


class FastPath:
    def __init__(self, app: Any, cache: ResponseCache | None = None) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path = scope["path"]
            if path == "/embed.js":
                return await self._send(scope, send, loader_entry())
            if path.startswith("/img/") and (image := cached_file(path)) is not None:
                return await self._send_file(scope, send, *image)
            key, least = cache_key(path, scope["query_string"]), 0
            if key is None:
                key, least = versioned_key(path, scope["query_string"])
            if key is not None:
                entry = (self.cache or response_cache()).peek(key)
                if entry is not None and (entry.version or 0) >= least:
                    return await self._send(scope, send, entry)
        elif scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        await self.app(scope, receive, send)

    @staticmethod
    async def _send(scope: Scope, send: Any, entry: Any) -> None:
        accept_encoding = b""
        if_none_match = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept_encoding = value
            elif name == b"if-none-match":
                if_none_match = value
        status, headers, body = entry.respond(
            accept_encoding, if_none_match, scope["method"] == "HEAD"
        )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _send_file(scope: Scope, send: Any, headers: list[tuple[bytes, bytes]],
                         body: bytes) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})

    @staticmethod
    async def _lifespan(receive: Any, send: Any) -> None:
        # Django has no lifespan support, so the process-wide start-up lives here:
        # it runs in each worker after the fork.
        watch = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                watch = start_watch()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if watch is not None:
                    watch.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


application = FastPath(ASGIHandler())
