"""The response cache of the read path: the one place story content is cached.

Per process, in memory, keyed by the canonical request (`/e/demo?template=grid`,
`/e/demo?template=grid&limit=30&after=<cursor>`: `query_suffix` writes the
query part, `canonical_query` recognises it on the fast path).
An `Entry` is a whole response (status, headers, the body and its brotli and
gzip codings, each made once on first demand), so a hit is a dictionary lookup
and a header pick, done by the ASGI fast path (`samembed.asgi`) without
entering Django at all.

`ResponseCache.get()` is the cache-aside read:

- fresh entry: served as it is;
- miss or expired: one render per key per process (single flight: concurrent
  misses of one key wait for the first one's result);
- the render fails because the database is down or slow: the last good copy is
  served, marked `X-Samembed-Cache: stale`, for up to EMBED_STALE_IF_ERROR
  seconds, and the database is tried again at most once a second per key;
  with no copy at all, `DatabaseUnavailable` reaches the view (503).

The cache is bounded by bytes; the least recently used entries go first.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import brotli

from samembed.exceptions import DatabaseUnavailable

Header = tuple[bytes, bytes]

# Below this, compression costs more than it saves.
COMPRESS_MIN_BYTES = 512
# While the database fails, each key asks it again at most this often.
RETRY_INTERVAL = 1.0


# The query strings of cached URLs as the views write them: each parameter they
# keep at most once, in this order, in canonical spelling. The fast path looks
# up only these (a hit means a view stored that exact key after validating it);
# anything else (tracking parameters, upper case, percent-encoding) goes to the
# view, which canonicalises it to the same key.
KEY_PARAMS = ("template", "limit", "after")
_AFTER = rb"after=[A-Za-z0-9_-]{60}"
_LIMIT = rb"limit=[1-9][0-9]{0,2}"
_CANONICAL_QUERY = {
    "e": re.compile(rb"template=[a-z]{1,12}(?:&%s)?(?:&%s)?|%s(?:&%s)?|%s"
                    % (_LIMIT, _AFTER, _LIMIT, _AFTER, _AFTER)),
    "s": re.compile(_AFTER),
    "a": re.compile(rb"%s(?:&%s)?|%s" % (_LIMIT, _AFTER, _AFTER)),
}


def query_suffix(template: str | None = None, limit: int | None = None,
                 after: str | None = None) -> str:
    """The canonical query part of a cache key or link: "" or "?template=grid&after=…"."""
    parts = [f"{name}={value}" for name, value in
             zip(KEY_PARAMS, (template, limit, after), strict=True) if value is not None]
    return "?" + "&".join(parts) if parts else ""


def canonical_query(path: str, query: bytes) -> bool:
    """Whether `query` is in the form a view writes keys in, for `path`'s route."""
    pattern = _CANONICAL_QUERY.get(path[1]) if not path.startswith("/screen/") else None
    return pattern is not None and pattern.fullmatch(query) is not None


# `o`: the embedding page's origin as the loader writes it into the frame's URL
# (samembed.flags.origin_unit: 1 to 7 of 0-9 a-z), always the last parameter
# before a live page's `v`. It is not part of the key: the flags' variants it
# gets are (samembed.flags).
def split_origin(query: bytes) -> tuple[bytes, str | None]:
    """The query without its trailing `o=<origin unit>`, and that unit (or None)."""
    # Without a regular expression: this runs on every cache hit.
    at = query.rfind(b"o=")
    if at < 0 or (at and query[at - 1] != 0x26):  # 0x26: "&"
        return query, None
    unit = query[at + 2:]
    if not (0 < len(unit) <= 7 and unit.isalnum() and (unit.islower() or unit.isdigit())):
        return query, None
    return query[:at - 1 if at else 0], unit.decode()


@lru_cache(maxsize=512)
def preferred_encoding(accept_encoding: bytes) -> str:
    """'br', 'gzip' or '' for an Accept-Encoding value (q=0 refusals honoured)."""
    offered: dict[str, float] = {}
    for part in accept_encoding.decode("latin-1").lower().split(","):
        name, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        offered[name.strip()] = q
    star = offered.get("*", 0.0)
    for encoding in ("br", "gzip"):
        if offered.get(encoding, star) > 0:
            return encoding
    return ""


def _etag_matches(if_none_match: bytes, tag: bytes) -> bool:
    # Weak comparison (RFC 9110 13.1.2), and any encoding's tag of the same body
    # matches, so a cache that stored the gzip copy can revalidate it.
    if if_none_match.strip() == b"*":
        return True
    for candidate in if_none_match.split(b","):
        candidate = candidate.strip()
        if candidate.startswith(b"W/"):
            candidate = candidate[2:]
        if candidate.endswith(b'-gz"') or candidate.endswith(b'-br"'):
            candidate = candidate[:-4] + b'"'
        if candidate == tag:
            return True
    return False


@dataclass
class Entry:
    """One cached response, with its bodies for each content coding."""

    status: int
    headers: list[Header]
    body: bytes
    etag: bytes | None = None
    story_id: str | None = None
    version: int | None = None
    # The slug of the URL this entry answers, so a story's 404 or redirect can be
    # expired when that slug comes to belong to a story.
    slug: str | None = None
    encoded: dict[str, bytes] = field(default_factory=dict)
    expires: float = 0.0
    stale_until: float = 0.0
    stale: bool = False

    @classmethod
    def build(
        cls,
        status: int,
        headers: list[Header],
        body: bytes,
        *,
        etag: bool = True,
        story_id: str | None = None,
        version: int | None = None,
    ) -> Entry:
        entry = cls(status, headers, body, story_id=story_id, version=version)
        if etag:
            entry.etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
        return entry

    @property
    def compressible(self) -> bool:
        return len(self.body) >= COMPRESS_MIN_BYTES

    def encoded_body(self, encoding: str) -> bytes:
        """The body in `encoding`, compressed on first demand and kept: at most
        once per coding per render, never per request."""
        body = self.encoded.get(encoding)
        if body is None:
            if encoding == "br":
                # Quality 4, not 5: on the 100 KB demo embed 1.0 ms instead of 1.7 ms
                # per render for 23.4 KB instead of 22.1 KB; it is half of a cold
                # render's own time otherwise.
                body = brotli.compress(self.body, quality=4, lgwin=22)
            else:
                body = gzip.compress(self.body, compresslevel=6, mtime=0)
            self.encoded[encoding] = body
        return body

    @property
    def size(self) -> int:
        # Fixed when stored, with room for the two codings made later (brotli and
        # gzip of HTML are each well under a quarter of it), so the cache's byte
        # count stays consistent as they are added.
        return len(self.body) * 3 // 2 + 512

    def respond(
        self, accept_encoding: bytes, if_none_match: bytes | None, head: bool
    ) -> tuple[int, list[Header], bytes]:
        """Status, headers and body for one request, chosen without copying bytes."""
        compressible = self.compressible
        encoding = preferred_encoding(accept_encoding) if compressible else ""
        headers = list(self.headers)
        if compressible:
            headers.append((b"vary", b"Accept-Encoding"))
        if self.stale:
            headers.append((b"x-samembed-cache", b"stale"))
        tag = self.etag
        if tag is not None:
            suffix = {"br": b'-br"', "gzip": b'-gz"'}.get(encoding)
            headers.append((b"etag", tag[:-1] + suffix if suffix else tag))
            if if_none_match and self.status == 200 and _etag_matches(if_none_match, tag):
                return 304, [h for h in headers if h[0] != b"content-type"], b""
        body = self.encoded_body(encoding) if encoding else self.body
        if encoding:
            headers.append((b"content-encoding", encoding.encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        return self.status, headers, b"" if head else body


class _Flight:
    __slots__ = ("done", "entry", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.entry: Entry | None = None
        self.error: BaseException | None = None


class ResponseCache:
    def __init__(self, ttl: float, max_bytes: int, stale_if_error: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.stale_if_error = stale_if_error
        self.clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def peek(self, key: str) -> Entry | None:
        """The entry for `key` if it may be served now without rendering.

        An expired entry still qualifies while another request is rendering its
        replacement, so an expiry under load sends one request, not hundreds,
        through the slow path.
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires and not (key in self._flights and now < entry.stale_until):
            return None
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
        return entry

    def get(self, key: str, render: Callable[[], Entry]) -> Entry:
        """The entry for `key`, rendering it at most once at a time per key."""
        if self.ttl <= 0:
            return render()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self.clock() < entry.expires:
                self._entries.move_to_end(key)
                return entry
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            if entry is not None and self.clock() < entry.stale_until:
                # Stale-while-revalidate: one request renders, the others keep
                # getting the copy that just expired instead of queueing.
                return entry
            flight.done.wait()
            if flight.entry is None:
                raise flight.error or DatabaseUnavailable("render failed")
            return flight.entry
        try:
            flight.entry = self._render(key, entry, render)
            return flight.entry
        except BaseException as e:
            flight.error = e
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _render(self, key: str, previous: Entry | None, render: Callable[[], Entry]) -> Entry:
        try:
            entry = render()
        except DatabaseUnavailable:
            now = self.clock()
            if previous is None or now >= previous.stale_until:
                raise
            previous.stale = True
            previous.expires = now + RETRY_INTERVAL
            return previous
        now = self.clock()
        entry.expires = now + self.ttl
        entry.stale_until = now + self.stale_if_error
        self._store(key, entry)
        return entry

    def _store(self, key: str, entry: Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size

    def invalidate(self, predicate: Callable[[Entry], bool]) -> int:
        """Expire (not drop) matching entries: the next request renders, and the
        old copy still serves if that render fails."""
        with self._lock:
            hits = [e for e in self._entries.values() if predicate(e)]
            for entry in hits:
                entry.expires = 0.0
        return len(hits)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)


_cache: ResponseCache | None = None


def response_cache() -> ResponseCache:
    """This process's cache, configured from settings on first use."""
    global _cache
    if _cache is None:
        from django.conf import settings

        _cache = ResponseCache(
            ttl=settings.EMBED_CACHE_TTL,
            max_bytes=settings.EMBED_CACHE_MAX_BYTES,
            stale_if_error=settings.EMBED_STALE_IF_ERROR,
        )
    return _cache
