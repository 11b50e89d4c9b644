"""The response cache of the read path: the one place story content is cached.

Per process, in memory, keyed by the canonical request (`/e/demo?template=grid`,
`/e/demo?template=grid&theme=dark&limit=30&after=<cursor>`: `query_suffix` writes the
query part, `canonical_query` recognises it on the fast path).
An `Entry` is a whole response (status, headers, the body and its brotli and
gzip codings, each made once on first demand), so a hit is a dictionary lookup
and a header pick, done by the ASGI fast path (`samembed.asgi`) without
entering Django at all.

`ResponseCache.get()` is the cache-aside read:

- fresh entry: served as it is;
- miss or expired: one render per key per process (single flight: concurrent
  misses of one key wait for the first one's result);
- expired with a copy at hand: the copy is revalidated in the background (one
  revalidation per key per process); the request waits for it at most
  EMBED_REVALIDATE_WAIT, and not at all while the key's last render failed and
  the database has not answered since. The fast path sends only the first
  request after the expiry on to Django (`peek`): the others get the copy, so
  an expiry under load costs one trip through Django, not one per request that
  arrives before the render has started;
- the render fails because the database is down or slow: the last good copy is
  served, marked `X-Samembed-Cache: stale`, for up to EMBED_STALE_IF_ERROR
  seconds; with no copy in memory, the last good copy on disk (`snapshots`,
  shared by every worker of the instance, so a new or recycled worker has it);
  with none at all, `DatabaseUnavailable` reaches the view (503).

A circuit breaker (`Breaker`) stands between the cache and a database that keeps
failing: after BREAKER_FAILURES consecutive failures it opens, and for
BREAKER_BACKOFF seconds no render is attempted (copies are served as they are,
misses fail at once); then one probe goes through, and its outcome closes or
reopens it. Readers never wait on a database known to be down.

A render that was running when `invalidate()` expired entries (the version watch
saw an edit) may hold content from before the edit: it is stored already
expired, so it serves only as a stale copy and the next request renders again.

The fast path remembers what it answered a plain GET from an entry (`remember`,
`recall`): a repeated request is then one lookup. A remembered answer is used only
while its entry is the one stored and fresh; it goes with the entry, so it never
outlives an edit (`invalidate` expires the entry) or keeps a dropped entry alive.

An entry answers If-None-Match with a 304, and, when it carries `last_modified`
(feeds), a valid If-Modified-Since without If-None-Match.

The cache is bounded by bytes; the least recently used entries go first.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import brotli

from samembed.embed.snapshots import SnapshotStore
from samembed.exceptions import DatabaseUnavailable

logger = logging.getLogger(__name__)

Header = tuple[bytes, bytes]

# Below this, compression costs more than it saves.
COMPRESS_MIN_BYTES = 512
# A request whose copy expired waits this long (EMBED_REVALIDATE_WAIT) for its
# revalidation before it is given the copy: long enough for a render against a
# healthy database, so an edit is what it gets; short enough that the first
# request of an outage hardly notices.
REVALIDATE_WAIT = 0.1
# How long the fast path keeps answering an expired entry with its copy after it
# sent one request on to render the replacement: until that request has started
# the render (then the render in flight is what keeps the copy served), or, if it
# never does (it failed first), until another request is sent on.
HANDOFF_GRACE = 1.0
# The breaker opens after this many consecutive failed renders of this process...
BREAKER_FAILURES = 3
# ...and lets one probe through after this many seconds.
BREAKER_BACKOFF = 0.5
# Answers `ResponseCache.remember` keeps at most (requests differ in their Host and
# Accept-Encoding too, which a client chooses): beyond that it starts again.
ANSWERS_MAX = 4096


# The query strings of cached URLs as the views write them: each parameter they
# keep at most once, in this order, in canonical spelling. The fast path looks
# up only these (a hit means a view stored that exact key after validating it);
# anything else (tracking parameters, upper case, percent-encoding) goes to the
# view, which canonicalises it to the same key.
KEY_PARAMS = ("template", "theme", "limit", "after")
_TEMPLATE = rb"template=[a-z]{1,12}"
_THEME = rb"theme=(?:light|dark|auto)"
_AFTER = rb"after=[A-Za-z0-9_-]{60}"
_LIMIT = rb"limit=[1-9][0-9]{0,2}"


def _in_order(*params: bytes) -> re.Pattern[bytes]:
    """A query of some of `params`, at least one, each at most once, in this order."""
    alternatives = [params[i] + b"".join(rb"(?:&%s)?" % p for p in params[i + 1:])
                    for i in range(len(params))]
    return re.compile(b"|".join(alternatives))


_CANONICAL_QUERY = {
    "e": _in_order(_TEMPLATE, _THEME, _LIMIT, _AFTER),
    "s": re.compile(_AFTER),
    "a": _in_order(_LIMIT, _AFTER),
}


def query_suffix(template: str | None = None, limit: int | None = None,
                 after: str | None = None, theme: str | None = None) -> str:
    """The canonical query part of a cache key or link: "" or "?template=grid&after=…"."""
    parts = [f"{name}={value}" for name, value in
             zip(KEY_PARAMS, (template, theme, limit, after), strict=True)
             if value is not None]
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


def _not_modified_since(if_modified_since: bytes, last_modified: float) -> bool:
    # A date that is not an HTTP-date, or lies in the future, is ignored.
    try:
        since = parsedate_to_datetime(if_modified_since.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return last_modified <= since <= time.time()


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
    # When the content last changed (a Unix time in whole seconds), for entries that
    # send Last-Modified (feeds): an If-Modified-Since not older gets a 304.
    last_modified: float | None = None
    expires: float = 0.0
    stale_until: float = 0.0
    stale: bool = False
    # When the fast path last sent a request for this expired entry on to Django to
    # render its replacement (`ResponseCache.peek`).
    handed_off: float = 0.0
    # What the fast path sends for a plain GET, per Accept-Encoding, staleness and extra
    # headers (samembed.asgi._prepared): made on the first such hit, then reused.
    prepared: dict[tuple[bytes, bool, tuple[Header, ...]], Any] = field(
        default_factory=dict, repr=False)
    # The requests whose answer from this entry the cache remembers (`remember`),
    # forgotten with the entry.
    requests: list[Hashable] = field(default_factory=list, repr=False)

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
        self, accept_encoding: bytes, if_none_match: bytes | None, head: bool,
        if_modified_since: bytes | None = None,
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
        # RFC 9110 13.1.3: only without If-None-Match, and only for a valid date.
        if (if_modified_since and not if_none_match and self.status == 200
                and self.last_modified is not None
                and _not_modified_since(if_modified_since, self.last_modified)):
            return 304, [h for h in headers if h[0] != b"content-type"], b""
        body = self.encoded_body(encoding) if encoding else self.body
        if encoding:
            headers.append((b"content-encoding", encoding.encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        return self.status, headers, b"" if head else body


class Breaker:
    """A consecutive-failure circuit breaker for this process's read-path renders.

    closed: renders go through; open (BREAKER_FAILURES failures in a row): none
    for `backoff` seconds; half-open: after that, one caller (`allow()` True)
    probes, and its `success()` closes the breaker, its `failure()` reopens it.
    The version watch reports its looks here too, so a database that comes back
    closes the breaker within one look.
    """

    def __init__(self, failures: int = BREAKER_FAILURES, backoff: float = BREAKER_BACKOFF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.backoff = backoff
        self.clock = clock
        self.failures = 0
        self.open_until = 0.0
        self.probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """'closed', 'open' or 'half-open'."""
        if self.failures < self.threshold:
            return "closed"
        return "open" if self.clock() < self.open_until else "half-open"

    def blocked(self) -> bool:
        """Whether a render now would be refused (a read without the lock)."""
        return self.failures >= self.threshold and (
            self.probing or self.clock() < self.open_until)

    def allow(self) -> bool:
        """Whether the caller may ask the database now; once open, True only for
        the one probe after the back-off."""
        if self.failures < self.threshold:
            return True
        with self._lock:
            if self.probing or self.clock() < self.open_until:
                return False
            self.probing = True
            return True

    def success(self) -> None:
        """The database answered."""
        if self.failures or self.probing:
            with self._lock:
                self.failures = 0
                self.probing = False

    def failure(self) -> None:
        """The database failed (unreachable or too slow)."""
        with self._lock:
            self.failures += 1
            self.probing = False
            if self.failures >= self.threshold:
                self.open_until = self.clock() + self.backoff

    def release(self) -> None:
        """A permitted call ended without telling either way (another error)."""
        if self.probing:
            with self._lock:
                self.probing = False


class _Flight:
    __slots__ = ("done", "entry", "error", "generation")

    def __init__(self, generation: int) -> None:
        self.done = threading.Event()
        self.entry: Entry | None = None
        self.error: BaseException | None = None
        # The cache's invalidation count when the render started.
        self.generation = generation

    def result(self) -> Entry:
        if self.entry is None:
            raise self.error or DatabaseUnavailable("render failed")
        return self.entry


class ResponseCache:
    def __init__(self, ttl: float, max_bytes: int, stale_if_error: float,
                 clock: Callable[[], float] = time.monotonic,
                 snapshots: SnapshotStore | None = None,
                 breaker: Breaker | None = None,
                 revalidate_wait: float = REVALIDATE_WAIT,
                 answers_max: int = ANSWERS_MAX) -> None:
        self.ttl = ttl
        self.answers_max = answers_max
        self.revalidate_wait = revalidate_wait
        self.max_bytes = max_bytes
        self.stale_if_error = stale_if_error
        self.clock = clock
        self.snapshots = snapshots
        self.breaker = breaker or Breaker(clock=clock)
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        # Bumped by every invalidate(): a render that saw it move may predate an edit.
        self._generation = 0
        # request -> (key, entry, answer): see `remember`.
        self._answers: dict[Hashable, tuple[str, Entry, Any]] = {}

    def remember(self, request: Hashable, key: str, entry: Entry, answer: Any) -> None:
        """Keep `answer`, what the caller made of `entry` for `request`, for `recall`
        while `entry` is the one stored under `key`: a repeated request is then one
        lookup instead of the key's and the answer's. Forgotten with the entry, so
        it never keeps an entry the cache dropped, and at most `answers_max` are kept."""
        with self._lock:
            if self._entries.get(key) is not entry:
                return
            if len(self._answers) >= self.answers_max:
                for _, dropped, _ in self._answers.values():
                    dropped.requests.clear()
                self._answers.clear()
            # Listed on this entry even when another one held the request before.
            if request not in entry.requests:
                entry.requests.append(request)
            self._answers[request] = (key, entry, answer)

    def recall(self, request: Hashable) -> Any:
        """The answer remembered for `request` if its entry is fresh, else None.
        Only a fresh entry: an expired one goes through `peek`, which decides who
        renders it."""
        found = self._answers.get(request)
        if found is None:
            return None
        key, entry, answer = found
        if (entry.stale or self.clock() >= entry.expires
                or self._entries.get(key) is not entry):
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:  # dropped this instant by a render's thread
            return None
        return answer

    def remembered(self) -> int:
        """How many answers `remember` keeps now."""
        return len(self._answers)

    def _forget(self, entry: Entry) -> None:
        # Under the lock, as the entry leaves the cache.
        for request in entry.requests:
            found = self._answers.get(request)
            if found is not None and found[1] is entry:
                del self._answers[request]
        entry.requests.clear()

    def peek(self, key: str) -> Entry | None:
        """The entry for `key` if it may be served now without rendering.

        An expired entry still qualifies while another request is rendering its
        replacement, and while the request sent on to render it is on its way there
        (HANDOFF_GRACE), so an expiry under load sends one request, not the
        hundreds that arrive before the render starts, through the slow path; and
        while the breaker refuses renders, since nothing could replace it.
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires:
            if now >= entry.stale_until:
                return None
            if key not in self._flights:
                if not self.breaker.blocked():
                    if now - entry.handed_off < HANDOFF_GRACE:
                        return entry
                    entry.handed_off = now
                    return None
                entry.stale = True
        # Without the lock: move_to_end is one step under the GIL, and an entry
        # dropped meanwhile by another thread is no harm.
        try:
            self._entries.move_to_end(key)
        except KeyError:
            pass
        return entry

    def get(self, key: str, render: Callable[[], Entry]) -> Entry:
        """The entry for `key`, rendering it at most once at a time per key."""
        if self.ttl <= 0:
            return render()
        with self._lock:
            now = self.clock()
            entry = self._entries.get(key)
            if entry is not None and now < entry.expires:
                self._entries.move_to_end(key)
                return entry
            if entry is not None and now >= entry.stale_until:
                entry = None
            flight = self._flights.get(key)
            leader = flight is None and self.breaker.allow()
            if leader:
                flight = self._flights[key] = _Flight(self._generation)
        if flight is None:
            # The database is known to be down: no render, no waiting.
            if entry is None:
                entry = self._from_snapshot(key)
                if entry is None:
                    raise DatabaseUnavailable("the database is failing; not asked again yet")
            entry.stale = True
            return entry
        if not leader:
            if entry is not None:
                # Stale-while-revalidate: one request renders, the others keep
                # getting the copy that just expired instead of queueing.
                return entry
            return self._await(key, flight)
        # A key whose last render failed waits for nothing until the database has
        # answered again (the breaker's count is back to zero).
        wait = entry is None or not entry.stale or not self.breaker.failures
        from_disk = entry is None
        if entry is None:
            # A worker that has not rendered this key yet (new, recycled) treats the
            # copy a sibling saved as its own, so an outage costs it no more than
            # REVALIDATE_WAIT per key either.
            entry = self._from_snapshot(key, stale=False)
            if entry is None:
                if self.breaker.failures < self.breaker.threshold:
                    self._fly(key, None, render, flight)
                    return flight.result()
                # This render is the breaker's probe: nobody waits on it for long.
                threading.Thread(target=self._fly, args=(key, None, render, flight),
                                 name="probe", daemon=True).start()
                return self._await(key, flight)
        # Revalidate in the background; wait briefly so that a healthy database's
        # answer (an edit) is what this request gets.
        threading.Thread(target=self._fly, args=(key, entry, render, flight),
                         name="revalidate", daemon=True).start()
        if wait and flight.done.wait(self.revalidate_wait):
            return flight.result()
        if from_disk:
            entry.stale = True
        return entry

    def _await(self, key: str, flight: _Flight) -> Entry:
        """The flight's result for a request with no copy: a copy as soon as one is
        in memory (the leader may find one on disk), and no waiting on a database
        the breaker knows to be failing."""
        while not flight.done.wait(self.revalidate_wait):
            copy = self._entries.get(key)
            if copy is not None and self.clock() < copy.stale_until:
                return copy
            if self.breaker.failures >= self.breaker.threshold:
                raise DatabaseUnavailable("the database is failing; not waiting for it")
        return flight.result()

    def wait(self, key: str, timeout: float) -> bool:
        """Wait for the render of `key` in flight, if any; False if it outlasted `timeout`."""
        flight = self._flights.get(key)
        return flight is None or flight.done.wait(timeout)

    def _fly(self, key: str, previous: Entry | None, render: Callable[[], Entry],
             flight: _Flight) -> None:
        try:
            flight.entry = self._render(key, previous, render, flight.generation)
        except BaseException as e:
            flight.error = e
            if previous is not None and not isinstance(e, DatabaseUnavailable):
                logger.exception("revalidation of %s failed", key)
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def _render(self, key: str, previous: Entry | None, render: Callable[[], Entry],
                generation: int) -> Entry:
        try:
            entry = render()
        except DatabaseUnavailable:
            self.breaker.failure()
            copy = previous or self._from_snapshot(key)
            if copy is None:
                raise
            copy.stale = True
            return copy
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.success()
        now = self.clock()
        with self._lock:
            moved = self._generation != generation
        # An invalidation during the render may have been for an edit this render
        # read too early: keep it as a last good copy only, render again next time.
        entry.expires = now if moved else now + self.ttl
        entry.stale_until = now + self.stale_if_error
        self._store(key, entry)
        if self.snapshots is not None and not moved:
            self.snapshots.record(key, entry)
        return entry

    def _from_snapshot(self, key: str, stale: bool = True) -> Entry | None:
        """The copy a worker of this instance saved (see `snapshots`), kept in
        memory already expired."""
        if self.snapshots is None:
            return None
        found = self.snapshots.load(key)
        if found is None:
            return None
        entry, age = found
        now = self.clock()
        entry.stale_until = now + self.stale_if_error - age
        if now >= entry.stale_until:
            return None
        entry.stale = stale
        self._store(key, entry)
        return entry

    def _store(self, key: str, entry: Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
                self._forget(old)
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.size
                self._forget(dropped)

    def invalidate(self, predicate: Callable[[Entry], bool]) -> int:
        """Expire (not drop) matching entries: the next request renders, and the
        old copy still serves if that render fails. Renders running now are stored
        expired (they may have read the story before the change)."""
        with self._lock:
            self._generation += 1
            # Over a copy: the fast path moves entries (`peek`, `recall`) without the
            # lock, and an OrderedDict moved while it is iterated raises.
            hits = [e for e in list(self._entries.values()) if predicate(e)]
            for entry in hits:
                entry.expires = 0.0
                # The next request renders, whatever was sent on before the edit.
                entry.handed_off = 0.0
        return len(hits)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._answers.clear()
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

        directory = settings.EMBED_SNAPSHOT_DIR
        _cache = ResponseCache(
            ttl=settings.EMBED_CACHE_TTL,
            max_bytes=settings.EMBED_CACHE_MAX_BYTES,
            stale_if_error=settings.EMBED_STALE_IF_ERROR,
            revalidate_wait=settings.EMBED_REVALIDATE_WAIT,
            snapshots=(SnapshotStore(directory, settings.EMBED_SNAPSHOT_MAX_BYTES)
                       if directory else None),
        )
    return _cache
