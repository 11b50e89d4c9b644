"""The ASGI application gunicorn serves: a fast path in front of Django.

A request the response cache can answer as it stands (GET or HEAD of a canonical
`/e/`, `/s/` or `/api/v1/stories/` URL with a fresh entry, the loader, or a
signed `/img/` file already derived on disk) is answered here from memory,
without Django's request cycle: no middleware, no URL resolving, no request
object. Everything else, cache misses included, goes to
Django, whose views fill the cache (`samembed.embed.views`).

What Django would decide before any view runs still applies to these answers
(`HostGuard`): a Host outside ALLOWED_HOSTS and a plain-HTTP request that
SECURE_SSL_REDIRECT would redirect are handed to Django, which refuses or
redirects them as it does every other request; secure answers carry HSTS.

Measured on 2 cores (see the README): a cache hit through this path is several
times faster than the same page through Django with `cache_page`.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.http.request import split_domain_port, validate_host  # noqa: E402

from samembed import flags, metrics  # noqa: E402
from samembed.analytics import collect as events  # noqa: E402
from samembed.embed import guard, live, oembed  # noqa: E402
from samembed.embed.cache import (  # noqa: E402
    Entry,
    ResponseCache,
    canonical_query,
    response_cache,
    split_origin,
)
from samembed.embed.loader import loader_entry  # noqa: E402
from samembed.embed.versions import start_watch  # noqa: E402
from samembed.media.views import cached_file  # noqa: E402
from samembed.workers import PREPARED, prepared  # noqa: E402

Scope = dict[str, Any]
Header = tuple[bytes, bytes]

_TEMPLATE_QUERY = b"template="
_CACHED_PREFIXES = ("/e/", "/s/", "/api/v1/stories/", "/screen/", "/live/")


def cache_key(path: str, query: bytes) -> str | None:
    """The cache key of a request in canonical form, else None."""
    if not path.startswith(_CACHED_PREFIXES) or path.endswith("/") or "//" in path:
        return None
    if not query:
        return path
    # Only the canonical form of a page's parameters; anything else is Django's
    # to judge (and to canonicalise into the same key). The commonest query, a
    # template alone, costs no more than it did before pages.
    if query.startswith(_TEMPLATE_QUERY) and query[9:].isalpha() and path.startswith("/e/"):
        return path + "?" + query.decode("ascii")
    if canonical_query(path, query):
        return path + "?" + query.decode("ascii")
    return None


def flagged_key(path: str, query: bytes) -> str | None:
    """`cache_key` for a request that may name its embedding origin (`o`, from the
    loader): the key holds the variants of the flags that origin and story get, not
    the origin, so every origin on one variant shares one entry."""
    return hit_key(path, query)[0]


# (path, query) -> what `hit_key` works out for them, for one flags snapshot.
_hit_keys: dict[tuple[str, bytes], tuple[str, tuple[str, ...]]] = {}
_hit_keys_snapshot: list[flags.Snapshot | None] = [None]
HIT_KEYS_MAX = 4096
_NO_EXPOSURES: tuple[str, ...] = ()
_NO_EXTENSIONS: dict[str, Any] = {}


def hit_key(path: str, query: bytes, snap: flags.Snapshot | None = None,
            ) -> tuple[str | None, tuple[str, ...]]:
    """`flagged_key` and the exposure series the request counts if the fast path
    answers it (Django counts the rest, samembed.embed.views), under `snap` (the
    installed flags by default): remembered per (path, query) while the flags
    snapshot stands, so a repeated request costs one dictionary lookup instead of
    parsing its URL again."""
    if snap is None:
        snap = flags.installed()
    if _hit_keys_snapshot[0] is not snap:
        _hit_keys.clear()
        _hit_keys_snapshot[0] = snap
    found = _hit_keys.get((path, query))
    if found is not None:
        return found
    base, origin = split_origin(query)
    key = cache_key(path, base)
    if key is None:
        return None, _NO_EXPOSURES
    exposures = _NO_EXPOSURES
    if snap.embed:
        if path.startswith("/e/"):
            part = guard.hit_part(path[3:], origin)
            if part is None:  # the story's id is not known here yet: Django's
                return None, _NO_EXPOSURES
            key += part[0]
            exposures = part[1]
        elif path.startswith("/live/"):
            # What live embeds poll carries the flags' epoch: its key does too.
            key += snap.live_suffix
    # Page-view flags are drawn per request: nothing of theirs may be kept. Only
    # URLs with a key are kept, and at most HIT_KEYS_MAX of them.
    if not snap.drawn:
        if len(_hit_keys) >= HIT_KEYS_MAX:
            _hit_keys.clear()
        _hit_keys[(path, query)] = (key, exposures)
    return key, exposures


def versioned_hit(path: str, query: bytes, snap: flags.Snapshot | None = None,
                  ) -> tuple[str | None, int, tuple[str, ...]]:
    """A live document asking for version N (`?v=N`, `?template=x&limit=n&v=N`): the
    cache key without `v`, N, and the exposure series (as `hit_key` gives them). An
    entry older than N is left to Django, which marks its answer no-store so a CDN
    does not keep it under the new version's URL."""
    if not path.startswith(("/e/", "/screen/")):
        return None, 0, _NO_EXPOSURES
    if query.startswith(b"v="):
        base, digits = b"", query[2:]
    else:
        base, _, digits = query.partition(b"&v=")
    if not digits.isdigit() or len(digits) > 12:
        return None, 0, _NO_EXPOSURES
    key, exposures = hit_key(path, base, snap)
    return key, int(digits), exposures


_HIT_TIMING = (b"server-timing", b"cache;desc=hit")
# What a fast answer adds when there is nothing to add (a shared, never changed list).
_NO_HEADERS: list[Header] = []
_STALE_TIMING = (b"server-timing", b"cache;desc=stale")
_ROUTES = {"e": "embed", "s": "story", "a": "story-api", "l": "live", "o": "oembed"}
# Series names built once per (route, status): a hit costs two dict updates.
_hit_series: dict[tuple[str, int], tuple[str, str]] = {}
_CACHE_HIT = metrics.series("samembed_cache_total", result="hit")
_CACHE_STALE = metrics.series("samembed_cache_total", result="stale")


def _hit_names(path: str, status: int, stale: bool) -> tuple[tuple[str, str], str]:
    """The counters (requests, cache outcome) and the duration histogram of a hit."""
    route = "screen" if path.startswith("/screen/") else _ROUTES.get(path[1], "other")
    names = _hit_series.get((route, status))
    if names is None:
        names = _hit_series[(route, status)] = (
            metrics.series("samembed_requests_total", route=route, status=str(status)),
            metrics.series("samembed_request_duration_seconds", route=route),
        )
    # Stale: the last good copy, served while the database fails.
    return (names[0], _CACHE_STALE if stale else _CACHE_HIT), names[1]


def _count_hit(path: str, status: int, seconds: float, stale: bool) -> None:
    counters, duration = _hit_names(path, status, stale)
    metrics.fast.inc_all(counters)
    metrics.fast.observe(duration, seconds)


# Distinct prepared answers an entry keeps (codings asked for in different words,
# staleness, HSTS), so a client varying its Accept-Encoding cannot grow it.
PREPARED_MAX = 16
Prepared = tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None,
                 tuple[tuple[str, str], str]]


def _prepared(entry: Entry, path: str, accept_encoding: bytes,
              extra: list[Header]) -> Prepared:
    """The two ASGI messages of a plain GET hit (no condition), the same answer as
    one message of the worker's prepared-answer extension (None if its headers need
    uvicorn's own send), and the series it counts in; made once per entry,
    Accept-Encoding, staleness and extra headers and kept on the entry: a hit
    sends them as they are (uvicorn copies the header list, never changes it)."""
    slot = (accept_encoding, entry.stale, () if extra is _NO_HEADERS else tuple(extra))
    found = entry.prepared.get(slot)
    if found is None:
        status, headers, body = entry.respond(accept_encoding, None, False)
        headers.append(_STALE_TIMING if entry.stale else _HIT_TIMING)
        headers.extend(extra)
        found = ({"type": "http.response.start", "status": status, "headers": headers},
                 {"type": "http.response.body", "body": body},
                 prepared(status, headers, body),
                 _hit_names(path, status, entry.stale))
        if len(entry.prepared) < PREPARED_MAX:
            entry.prepared[slot] = found
    return found


class Lane:
    """A plain GET hit as the fast path answers it: the flags snapshot it was
    chosen in, its messages (as `_prepared` makes them) and the tally that counts
    it (the flags' exposure series included). The cache keeps one per request
    shape while its entry stands (`ResponseCache.remember`), so a repeated request
    is one lookup."""

    __slots__ = ("snap", "start", "body", "whole", "tally")

    def __init__(self, snap: flags.Snapshot, start: dict[str, Any], body: dict[str, Any],
                 whole: dict[str, Any] | None, tally: metrics.Tally) -> None:
        self.snap = snap
        self.start = start
        self.body = body
        self.whole = whole
        self.tally = tally

    def count(self, seconds: float) -> None:
        """One hit answered in `seconds`."""
        tally = self.tally
        tally.hits += 1
        if seconds <= metrics.QUICK:
            tally.quick += 1
            tally.quick_seconds += seconds
        else:
            metrics.fast.observe(tally.duration, seconds)


class HostGuard:
    """ALLOWED_HOSTS, SECURE_SSL_REDIRECT and HSTS for the answers the fast path gives
    itself, decided exactly as Django's request and SecurityMiddleware decide them.

    Everything Django reads is settled at start-up; a request costs one pass over its
    headers and a dict lookup of its Host. Anything Django would not serve as is (a
    Host it refuses, a missing or repeated Host, a redirect to https) is left to
    Django rather than imitated, so the answer is Django's own.
    """

    # Distinct Host values remembered; beyond that they are judged on each request,
    # so a client spraying made-up names cannot grow the worker's memory.
    VERDICTS_MAX = 1024

    def __init__(self) -> None:
        allowed = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed:
            allowed = [".localhost", "127.0.0.1", "[::1]"]
        self.allowed = allowed
        self.redirect = bool(settings.SECURE_SSL_REDIRECT)
        hsts = b""
        if settings.SECURE_HSTS_SECONDS:
            hsts = b"max-age=%d" % settings.SECURE_HSTS_SECONDS
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                hsts += b"; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                hsts += b"; preload"
        self.secure_headers: list[Header] = [(b"strict-transport-security", hsts)] if hsts else []
        # Headers Django reads through META, where "-" and "_" both become "_":
        # compared in that form, and only when the setting asks for them.
        self.host_header = b"x-forwarded-host" if settings.USE_X_FORWARDED_HOST else None
        self.proxy_header: bytes | None = None
        self.proxy_value = ""
        if settings.SECURE_PROXY_SSL_HEADER:
            meta, self.proxy_value = settings.SECURE_PROXY_SSL_HEADER
            if meta.startswith("HTTP_"):
                self.proxy_header = meta[5:].lower().replace("_", "-").encode("latin-1")
        self.verdicts: dict[bytes, bool] = {}
        # Whether the verdict follows from the Host header and the scheme alone
        # (no forwarded header is believed): then it can be remembered with them.
        self.by_host = self.host_header is None and self.proxy_header is None

    def admit(self, scope: Scope, host: bytes | None, hosts: int) -> list[Header] | None:
        """The headers to add to a fast answer, or None: let Django answer. `host` is
        the request's Host header (the last, if `hosts` says it came more than once)."""
        if self.by_host:
            if hosts != 1 or host is None or not self.allowed_host(host):
                return None
            if scope.get("scheme") == "https":
                return self.secure_headers
            return None if self.redirect else _NO_HEADERS
        forwarded = proxy = None
        forwardeds = 0
        for name, value in scope["headers"]:
            name = name.replace(b"_", b"-")
            if name == self.host_header:
                forwarded, forwardeds = value, forwardeds + 1
            elif name == self.proxy_header and proxy is None:
                proxy = value
        if forwarded is not None:
            host, hosts = forwarded, forwardeds
        # Django joins a repeated header with commas, which no allowed host matches;
        # without a Host it builds one from the server's name and port.
        if hosts != 1 or host is None or not self.allowed_host(host):
            return None
        if proxy is not None:
            secure = proxy.decode("latin-1").split(",", 1)[0].strip() == self.proxy_value
        else:
            secure = scope.get("scheme") == "https"
        if secure:
            return self.secure_headers
        return None if self.redirect else _NO_HEADERS

    def allowed_host(self, host: bytes) -> bool:
        """Whether Django's `request.get_host()` accepts this Host header."""
        verdict = self.verdicts.get(host)
        if verdict is None:
            domain, _ = split_domain_port(host.decode("latin-1"))
            verdict = bool(domain) and validate_host(domain, self.allowed)
            if len(self.verdicts) < self.VERDICTS_MAX:
                self.verdicts[host] = verdict
        return verdict


class FastPath:
    def __init__(self, app: Any, cache: ResponseCache | None = None) -> None:
        self.app = app
        self.cache = cache
        self.guard = HostGuard()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                return await self._lifespan(receive, send)
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == guard.BEACON_PATH:
            # Client error reports of flagged embeds: counted in memory, never Django.
            return await guard.beacon(scope, receive, send)
        if path == events.PATH:
            # Analytics beacons (samembed.analytics.collect): counted in memory, never Django's.
            return await events.handle(scope, receive, send)
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            return await self.app(scope, receive, send)
        # One pass over the headers for everything a fast answer needs from them.
        host = accept_encoding = None
        if_none_match = if_modified_since = None
        hosts = 0
        for name, value in scope["headers"]:
            if name == b"host":
                host, hosts = value, hosts + 1
            elif name == b"accept-encoding":
                accept_encoding = value
            elif name == b"if-none-match":
                if_none_match = value
            elif name == b"if-modified-since":
                if_modified_since = value
        if path == "/embed.js":
            if (extra := self.guard.admit(scope, host, hosts)) is not None:
                await self._send(scope, send, loader_entry(), accept_encoding, if_none_match,
                                 if_modified_since, extra=extra)
                return None
            return await self.app(scope, receive, send)
        if path.startswith("/img/"):
            if ((extra := self.guard.admit(scope, host, hosts)) is not None
                    and (image := cached_file(path)) is not None):
                await self._send_file(scope, send, image[0] + extra, image[1])
                return None
            return await self.app(scope, receive, send)
        cache = self.cache or response_cache()
        snap = flags.installed()
        plain = if_none_match is None and if_modified_since is None and method == "GET"
        request = lane = None
        if plain and hosts == 1 and self.guard.by_host:
            # Everything that decides a plain GET's answer: the URL, and what the
            # guard and the coding are chosen from.
            request = (path, scope["query_string"], host, accept_encoding, scope.get("scheme"))
            lane = cache.recall(request)
            if lane is not None and lane.snap is not snap:
                lane = None
        if lane is None:
            lane = await self._cached(scope, receive, send, path, cache, snap, request, plain,
                                      host, hosts, accept_encoding, if_none_match,
                                      if_modified_since)
            if lane is None:  # answered
                return None
        started = time.perf_counter()
        # As `workers.offers_prepared` reads it (a server may send None), inline.
        if lane.whole is not None and PREPARED in (scope.get("extensions") or _NO_EXTENSIONS):
            await send(lane.whole)
        else:
            await send(lane.start)
            await send(lane.body)
        lane.count(time.perf_counter() - started)
        return None

    async def _cached(self, scope: Scope, receive: Any, send: Any, path: str,
                      cache: ResponseCache, snap: flags.Snapshot, request: Any,
                      plain: bool, host: bytes | None, hosts: int,
                      accept_encoding: bytes | None, if_none_match: bytes | None,
                      if_modified_since: bytes | None) -> Lane | None:
        """What the cache holds for a request `recall` had no answer for: the lane
        of a plain GET hit (remembered when it can be) for the caller to send, or
        None once the answer (a conditional or HEAD hit, or Django's) is sent."""
        query = scope["query_string"]
        key, exposures = hit_key(path, query, snap)
        least = 0
        screen = None
        if key is None and path.startswith("/live/"):
            # A screen saying who it is: the same entry, and the screen counted.
            screen = live.screen_id(query)
            key = hit_key(path, b"", snap)[0] if screen else None
        if key is None and path == "/oembed":
            key = oembed.fast_key(query, host or b"")
        if key is None:
            key, least, exposures = versioned_hit(path, query, snap)
        if key is not None:
            entry = cache.peek(key)
            if entry is not None and (entry.version or 0) >= least:
                extra = self.guard.admit(scope, host, hosts)
                if extra is not None:
                    if screen is not None and entry.status == 200:
                        live.screens.seen(entry.story_id, screen)
                    if plain:
                        start, body, whole, (counters, duration) = _prepared(
                            entry, path, accept_encoding or b"", extra)
                        # An exposure is counted by whoever answers: here a hit.
                        lane = Lane(snap, start, body, whole,
                                    metrics.fast.tally(counters + exposures, duration))
                        if (request is not None and screen is None and not snap.drawn
                                and not entry.stale):
                            cache.remember(request, key, entry, lane)
                        return lane
                    # An exposure is counted by whoever answers: here a hit.
                    if exposures:
                        metrics.fast.inc_all(exposures)
                    started = time.perf_counter()
                    status = await self._send(scope, send, entry, accept_encoding,
                                              if_none_match, if_modified_since,
                                              _HIT_TIMING, extra)
                    _count_hit(path, status, time.perf_counter() - started, entry.stale)
                    return None
        await self.app(scope, receive, send)
        return None

    @staticmethod
    async def _send(scope: Scope, send: Any, entry: Any, accept_encoding: bytes | None,
                    if_none_match: bytes | None, if_modified_since: bytes | None,
                    timing: Header | None = None, extra: Sequence[Header] = ()) -> int:
        status, headers, body = entry.respond(
            accept_encoding or b"", if_none_match, scope["method"] == "HEAD", if_modified_since
        )
        if timing is not None:
            headers.append(_STALE_TIMING if entry.stale else timing)
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return status

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
        watch = flusher = flag_watch = counts = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                watch = start_watch()
                flag_watch = flags.start_watch()
                counts = guard.start_flusher()
                flusher = metrics.Flusher().start()
                # Everything loaded so far (Django, Jinja, templates) lives as long
                # as the worker: out of the collector's sight, a full collection no
                # longer walks it, and the pause it cost the hit path's tail goes.
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if watch is not None:
                    watch.stop()
                if flag_watch is not None:
                    flag_watch.stop()
                if counts is not None:
                    # The guardrail counts since the last flush: written, not lost.
                    await asyncio.get_running_loop().run_in_executor(None, counts.stop)
                if flusher is not None:
                    flusher.stop()
                # Analytics counted since the last flush: written, not lost with the worker.
                await asyncio.get_running_loop().run_in_executor(None, events.counter.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return


application = FastPath(ASGIHandler())
