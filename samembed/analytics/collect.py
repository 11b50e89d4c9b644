"""`POST /api/v1/events`: the embed frames' beacons, counted in memory (events path).

Answered on the ASGI fast path (`samembed.asgi.FastPath` hands the request to
`handle` before anything else looks at it): no Django request cycle, no
database, no parsing: a beacon's bytes are queued and counted in batches a
moment later, between other requests, so it never holds up an embed response.
A beacon is one JSON object sent as text/plain:

    {"k": "<story id>.<variant>.<mac>",   the token of the frame's document
     "s": "<story id>",                    the story the frame says it shows
     "p": "<page view id>",                random per page view (16-32 of [A-Za-z0-9_-])
     "o": "https://news.example",          the embedding page's origin ("" unknown)
     "t": "grid",                          the template
     "n": 5230,                            ms since the page view began, when sent
     "e": [["load", null, 40], ["view", null, 1290], ["post_view", "<post id>", 2100],
           ["click", "<post id>", 4100], ["more", null, 5000], ["reveal", "<post id>", 5200]],
     "x": "grid-v2=on"}                    after a script error only: the document's data-flags

The request path does only what needs no parsing, then queues the raw bytes:
405 if not POST, 415 if not text/plain, 413 over MAX_BODY, 400 if empty, 429
over the address's rate, 204 (not counted) for known crawlers and headless
browsers (queued only for the flags' client error one may carry: the guard
counts every script error, as on /flags/error), and 204 for the rest once
queued (beyond MAX_QUEUED_BYTES waiting: dropped, counted). DRAIN_DELAY after
the first beacon queued, the event loop takes the queue, CHUNK beacons per turn,
and validates each: not JSON, a token that does not verify or names another
story, unknown event types, malformed ids, an event time after the beacon's
send time ("in the future") are refused, by reason, in `samembed_beacons_total`
(the sender, `navigator.sendBeacon`, never reads an
answer, and a forger learns nothing from one: as `/flags/error` does). A page
view counts each event at most once (`view`, `load`, its flags' client error)
or once per post (`post_view`, `click`, `reveal`), and `more` once per time it
names, up to MORE_PER_VIEW times: a bounded set of recent page view ids
remembers what each already counted, so a replayed beacon adds nothing while its
id is remembered. Post ids are checked against the story in the database by the
flush thread; a process remembers the answers (bounded).

A beacon may carry `"x": "<the document's data-flags>"` when a script error
happened in a flagged frame: the flags' client error report
(`samembed.embed.guard.report`), folded into the batch so that a failing view
sends one request, not two; counted on the event loop, whose counters those are.

Memory is bounded whatever arrives: per flush interval a fixed number of
stories, posts and sketch bytes (beyond: dropped, counted), per story the
ORIGINS_PER_STORY heaviest origins (space-saving: a lighter one is evicted into
"other" when a new one arrives), and per story-hour ORIGINS_PER_HOUR origins
written (later ones go to "other"), so 100,000 fake origins make one "other".

Every ANALYTICS_FLUSH_INTERVAL a daemon thread has the loop count what is
queued, swaps the tally for an empty one and writes it: one bulk_write of
`$inc` upserts into hourly rollups, and a compare-and-set merge of each
story-day's HyperLogLog sketch of reach. Reach hashes (daily salt, address,
user agent, story) into 64 bits for the sketch; the hash, the address and the
user agent go no further than that line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict, deque
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from samembed import metrics
from samembed.analytics import tokens
from samembed.analytics.hll import Sketch
from samembed.embed import guard
from samembed.ratelimit import RateLimit
from samembed.repositories import posts as posts_repo
from samembed.repositories import reach as reach_repo
from samembed.repositories import salts as salts_repo
from samembed.repositories import stats as stats_repo
from samembed.repositories.common import is_unavailable
from samembed.repositories.stories import TEMPLATES
from samembed.workers import offers_prepared, prepared

logger = logging.getLogger(__name__)

PATH = "/api/v1/events"
MAX_BODY = 16 * 1024
MAX_EVENTS = 200
MORE_PER_VIEW = 20
POSTS_PER_VIEW = 500
# A page open for longer than this sends nothing more worth counting.
MAX_AGE_MS = 24 * 3600 * 1000

# Bounds of one flush interval's tally, and of what a process remembers.
MAX_STORIES = 5000
ORIGINS_PER_STORY = 64
ORIGINS_PER_HOUR = 50
MAX_POST_KEYS = 50_000
MAX_SKETCH_BYTES = 32 * 1024 * 1024
MAX_PENDING = 20_000
SEEN_VIEWS = 100_000
KNOWN_POSTS = 200_000
ADDRESSES = 50_000
KNOWN_TOKENS = 10_000
OTHER = "other"
# Raw beacons waiting to be counted: the event loop takes them DRAIN_DELAY seconds
# after the first one queued, CHUNK per turn of the loop, so that an embed response
# waits behind one chunk at most. (Not in the flush thread: a thread busy with
# Python holds the interpreter lock, and the event loop, giving it up at each
# system call, waits for it every time: embeds slowed many times over.)
MAX_QUEUED_BYTES = 16 * 1024 * 1024
DRAIN_DELAY = 0.05
CHUNK = 32
# How long a flush waits for the event loop to count what is queued.
DRAIN_WAIT = 2.0

PAGE_INDEX = {e: i for i, e in enumerate(stats_repo.PAGE_EVENTS)}
POST_INDEX = {e: i for i, e in enumerate(stats_repo.POST_EVENTS)}
EVENTS = frozenset(PAGE_INDEX) | frozenset(POST_INDEX)

_PAGE_VIEW = re.compile(r"^[A-Za-z0-9_-]{16,32}$")
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]{1,253}(:[0-9]{1,5})?$")
# Crawlers, link previewers, monitors and scripted or headless browsers: not readers.
_BOTS = re.compile(
    rb"bot|crawl|spider|slurp|scrap|facebookexternalhit|embedly|preview|headless|"
    rb"phantomjs|lighthouse|pingdom|uptime|monitor|python|curl|wget|go-http|java/|"
    rb"okhttp|axios|node-fetch|httpclient|libwww|feed", re.I)

for _name, _help in {
    "samembed_beacons_total": "Event beacons received, by result (accepted, refused) and reason.",
    "samembed_events_total": "Events by result: accepted, flushed (written to rollups), "
                             "dropped (over a bound, or a failed write).",
}.items():
    metrics.HELP.setdefault(_name, ("counter", _help))

_ACCEPTED = metrics.series("samembed_beacons_total", result="accepted", reason="")
_QUEUE_FULL = metrics.series("samembed_beacons_total", result="refused", reason="queue-full")
_EVENTS_ACCEPTED = metrics.series("samembed_events_total", result="accepted")
_EVENTS_FLUSHED = metrics.series("samembed_events_total", result="flushed")
_EVENTS_DROPPED = metrics.series("samembed_events_total", result="dropped")
_refused_series: dict[str, str] = {}


# The answers a beacon's request needs on every arrival, worked out once: whether a
# user agent is a crawler's (agents repeat; bounded), and the per-address limit
# (kept until a setting changes, so a request reads no Django setting).
BOT_AGENTS_MAX = 4096
_bot_agents: dict[bytes, bool] = {}
_limits: list[tuple[float, float]] = []


def _is_bot(agent: bytes) -> bool:
    found = _bot_agents.get(agent)
    if found is None:
        if len(_bot_agents) >= BOT_AGENTS_MAX:
            _bot_agents.clear()
        found = _bot_agents[agent] = not agent or _BOTS.search(agent) is not None
    return found


def _rate_limits() -> tuple[float, float]:
    if not _limits:
        _limits.append((settings.ANALYTICS_RATE, float(settings.ANALYTICS_BURST)))
    return _limits[0]


@receiver(setting_changed)
def _settings_changed(setting: str, **_: Any) -> None:
    if setting in ("ANALYTICS_RATE", "ANALYTICS_BURST"):
        _limits.clear()


def _refused_series_name(reason: str) -> str:
    name = _refused_series.get(reason)
    if name is None:
        name = _refused_series[reason] = metrics.series(
            "samembed_beacons_total", result="refused", reason=reason)
    return name


def _refused(reason: str) -> None:
    # The event loop's: refused before queueing.
    metrics.fast.inc(_refused_series_name(reason))


def _refused_from_thread(reason: str) -> None:
    # The flush thread's (post ids checked against the database).
    metrics.threads.inc(_refused_series_name(reason))


class Refused(ValueError):
    """A beacon not counted: `status` and a message for the sender, `reason` for metrics."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


_hours: dict[int, datetime] = {}


def _hour(now: float) -> datetime:
    # One datetime per hour, not per beacon.
    key = int(now // 3600)
    hour = _hours.get(key)
    if hour is None:
        _hours.clear()
        hour = _hours[key] = datetime.fromtimestamp(key * 3600, UTC)
    return hour


class Tally:
    """What one flush interval counted; replaced, never cleared, at each flush."""

    def __init__(self) -> None:
        # story -> origin -> (hour, template, variant) -> counts in PAGE_EVENTS order
        self.pages: dict[str, dict[str, dict[tuple[datetime, str, str], list[int]]]] = {}
        # story -> origin -> space-saving score
        self.scores: dict[str, dict[str, int]] = {}
        self.posts: dict[stats_repo.PostKey, list[int]] = {}
        self.sketches: dict[tuple[str, datetime], Sketch] = {}
        self.sketch_bytes = 0
        # Events naming posts this process has not checked yet: (page key, post key, event)
        self.pending: list[tuple[tuple[str, str, datetime, str, str], str, str]] = []
        self.events = 0
        self.dropped = 0

    def count_page(self, story: str, origin: str, hour: datetime, template: str,
                   variant: str, index: int) -> bool:
        origins = self.pages.get(story)
        if origins is None:
            if len(self.pages) >= MAX_STORIES:
                return False
            origins = self.pages[story] = {}
            self.scores[story] = {}
        scores = self.scores[story]
        if origin not in origins and origin != OTHER and len(scores) >= ORIGINS_PER_STORY:
            # Space-saving: the lightest origin makes room, its counts kept as "other",
            # and the newcomer inherits its score, so a heavy site arriving late still
            # climbs above the fakes that arrived first.
            lightest = min(scores, key=scores.__getitem__)
            floor = scores.pop(lightest)
            into = origins.setdefault(OTHER, {})
            for key, counts in origins.pop(lightest).items():
                mine = into.setdefault(key, [0] * len(stats_repo.PAGE_EVENTS))
                for i, c in enumerate(counts):
                    mine[i] += c
            scores[origin] = floor
        groups = origins.setdefault(origin, {})
        group = groups.get((hour, template, variant))
        if group is None:
            group = groups[(hour, template, variant)] = [0] * len(stats_repo.PAGE_EVENTS)
        group[index] += 1
        if origin != OTHER:
            scores[origin] = scores.get(origin, 0) + 1
        return True

    def count_post(self, story: str, hour: datetime, post: str, index: int) -> bool:
        key = (story, hour, post)
        counts = self.posts.get(key)
        if counts is None:
            if len(self.posts) >= MAX_POST_KEYS:
                return False
            counts = self.posts[key] = [0] * len(stats_repo.POST_EVENTS)
        counts[index] += 1
        return True

    def count(self, story: str, origin: str, hour: datetime, template: str, variant: str,
              post: str | None, kind: str) -> None:
        """One event: its post's count (when it names one) and its page's; an event
        with no room left is counted as dropped."""
        if post is not None and not self.count_post(story, hour, post, POST_INDEX[kind]):
            self.dropped += 1
        if kind in PAGE_INDEX and not self.count_page(story, origin, hour, template, variant,
                                                      PAGE_INDEX[kind]):
            self.dropped += 1

    def fold(self, story: str, day: datetime, hash64: int) -> bool:
        sketch = self.sketches.get((story, day))
        if sketch is None:
            if self.sketch_bytes >= MAX_SKETCH_BYTES:
                return False
            sketch = self.sketches[(story, day)] = Sketch()
        before = sketch.nbytes
        sketch.add(hash64)
        self.sketch_bytes += sketch.nbytes - before
        return True


def _parse(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise Refused(400, "empty", "an empty beacon: send one JSON object")
    try:
        beacon = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise Refused(400, "not-json", "the beacon is not JSON") from e
    if not isinstance(beacon, dict):
        raise Refused(400, "not-json", "the beacon must be a JSON object")
    return beacon


def _origin(raw: Any) -> str:
    if not isinstance(raw, str) or len(raw) > 300:
        return ""
    origin = raw.lower().rstrip("/")
    return origin if _ORIGIN.match(origin) else ""


class Counter:
    """This process's counts, the page views it remembers, and the flush thread.

    The event loop queues raw beacons (`enqueue`) and, soon after, validates and
    counts them in batches (`drain`); the flush thread swaps the tally under a
    short lock and writes it (`flush`). With no event loop running (tests, a
    command) `flush()` drains in the caller's thread.
    """

    def __init__(self) -> None:
        self.queue: deque[tuple[bytes, str, bytes, float]] = deque()
        # Bytes queued and bytes taken, each written by one thread only.
        self._queued = 0
        self._taken = 0
        # The event loop that serves beacons, and whether a drain is scheduled on it.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self.tally = Tally()
        self.seen: OrderedDict[str, set[str]] = OrderedDict()
        self.known_posts: OrderedDict[tuple[str, str], bool] = OrderedDict()
        self.admitted: dict[tuple[str, datetime], set[str]] = {}
        self.salts: dict[datetime, bytes] = {}
        self.limits = RateLimit(_rate_limits, ADDRESSES)
        # The loop counts a chunk, the flush thread swaps the tally: short, rarely contended.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # the flush thread against a caller's flush()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._purged = 0.0
        self._tokens: dict[str, tuple[str, str]] = {}

    # ---- the request side (event loop) -------------------------------------------

    def enqueue(self, body: bytes, address: str, agent: bytes, now: float,
                loop: asyncio.AbstractEventLoop | None = None) -> bool:
        """Queue one raw beacon, to be counted on `loop` soon; False when the queue is
        full."""
        if self._queued - self._taken + len(body) > MAX_QUEUED_BYTES:
            return False
        self._queued += len(body)
        self.queue.append((body, address, agent, now))
        if loop is not None and (not self._draining or loop is not self.loop):
            self._draining = True
            self.loop = loop
            loop.call_later(DRAIN_DELAY, self._drain_turn)
        return True

    def _drain_turn(self) -> None:
        # One chunk, then the loop's other work, then the next chunk.
        self.drain(CHUNK)
        if self.queue and self.loop is not None:
            self.loop.call_soon(self._drain_turn)
        else:
            self._draining = False

    def drain(self, most: int | None = None) -> int:
        """Validate and count queued beacons (up to `most`); how many were accepted.
        The event loop's (or, with none running, the flusher's)."""
        accepted = events = taken = 0
        queue = self.queue
        with self._lock:
            while most is None or taken < most:
                try:
                    body, address, agent, now = queue.popleft()
                except IndexError:
                    break
                taken += 1
                self._taken += len(body)
                try:
                    events += self.accept(body, address, agent, now)
                    accepted += 1
                except Refused as e:
                    _refused(e.reason)
        if accepted:
            metrics.fast.inc(_ACCEPTED, accepted)
            metrics.fast.inc(_EVENTS_ACCEPTED, events)
        return accepted

    def _drained_by_the_loop(self) -> None:
        """Everything queued so far counted before a flush: by the event loop, which
        owns the queue, when one is running; else here."""
        loop = self.loop
        if not self.queue:
            return
        if loop is None or loop.is_closed() or not loop.is_running():
            self.drain()
            return
        done = threading.Event()

        def drain_and_tell() -> None:
            self.drain()
            done.set()

        try:
            loop.call_soon_threadsafe(drain_and_tell)
        except RuntimeError:  # closed meanwhile
            self.drain()
            return
        # A loop busy for longer: the rest goes in the next flush.
        done.wait(DRAIN_WAIT)

    def accept(self, body: bytes, address: str, agent: bytes, now: float | None = None
               ) -> int:
        """Validate and count one beacon (the event loop's, through `drain`); how many
        events counted. Raises Refused."""
        now = time.time() if now is None else now
        beacon = _parse(body)
        token = beacon.get("k")
        if not isinstance(token, str):
            raise Refused(400, "token", "k must be the frame's token")
        found = self._tokens.get(token)
        if found is None:
            found = tokens.verify(token)
            if found is not None:
                # A few tokens (one per story and variant) arrive again and again.
                if len(self._tokens) >= KNOWN_TOKENS:
                    self._tokens.clear()
                self._tokens[token] = found
        if found is None:
            raise Refused(400, "token", "the beacon's token does not verify")
        story, variant = found
        if beacon.get("s") != story:
            raise Refused(400, "story", "the beacon names another story than its token")
        view = beacon.get("p")
        if not isinstance(view, str) or not _PAGE_VIEW.match(view):
            raise Refused(400, "page-view", "p must be 16-32 letters, digits, - or _")
        template = beacon.get("t")
        if template not in TEMPLATES:
            raise Refused(400, "template", f"t must be one of {', '.join(TEMPLATES)}")
        sent = beacon.get("n")
        if not isinstance(sent, int) or isinstance(sent, bool) or not 0 <= sent <= MAX_AGE_MS:
            raise Refused(400, "time", "n must be the ms since the page view began (0-1 day)")
        events = beacon.get("e")
        flagged = beacon.get("x")
        if flagged is not None and (not isinstance(flagged, str)
                                    or len(flagged) > guard.BEACON_MAX_BYTES):
            raise Refused(400, "flags", "x must be the document's data-flags, "
                                        f"at most {guard.BEACON_MAX_BYTES} characters")
        # A script error may come alone, after the page view's events went out.
        least = 0 if flagged is not None else 1
        if not isinstance(events, list) or not least <= len(events) <= MAX_EVENTS:
            raise Refused(400, "events", f"e must be a list of 1-{MAX_EVENTS} events")
        checked = []
        for i, event in enumerate(events):
            if not isinstance(event, list) or len(event) != 3:
                raise Refused(400, "events", f"event {i} must be [type, post id or null, ms]")
            kind, post, at = event
            if kind not in EVENTS:
                raise Refused(400, "event-type", f"event {i}: unknown type {kind!r}; "
                                                 f"one of {', '.join(sorted(EVENTS))}")
            if post is not None and (not isinstance(post, str) or not _OBJECT_ID.match(post)):
                raise Refused(400, "post", f"event {i}: the post id is malformed")
            if post is None and kind == "post_view":
                raise Refused(400, "post", f"event {i}: post_view needs a post id")
            if not isinstance(at, int) or isinstance(at, bool) or at < 0:
                raise Refused(400, "time", f"event {i}: ms must be a whole number >= 0")
            if at > sent:
                raise Refused(400, "future", f"event {i} happened after the beacon was sent")
            checked.append((kind, post, at))
        origin = _origin(beacon.get("o"))
        hour = _hour(now)
        return self._count(story, variant, view, template, origin, hour, checked,
                           address, agent, now, flagged)

    def _count(self, story: str, variant: str, view: str, template: str, origin: str,
               hour: datetime, events: list[tuple[str, str | None, int]], address: str,
               agent: bytes, now: float, flagged: str | None = None) -> int:
        done = self.seen.get(view)
        if done is None:
            done = self.seen[view] = set()
            if len(self.seen) > SEEN_VIEWS:
                self.seen.popitem(last=False)
        else:
            self.seen.move_to_end(view)
        if flagged is not None and "error" not in done:
            done.add("error")
            _report_error(flagged, address)
        if not agent:  # a crawler's or headless browser's: its script error only
            raise Refused(204, "bot", "not a reader")
        tally, counted = self.tally, 0
        for kind, post, at in events:
            key = kind if kind in ("load", "view") else f"{kind}:{post or ''}"
            if kind == "more":
                # Each page asked for is one event, known by its time: a replay repeats it.
                key = f"more@{at}"
                if key not in done and sum(k.startswith("more@") for k in done) >= MORE_PER_VIEW:
                    continue
            elif post is not None and key not in done and len(done) >= POSTS_PER_VIEW * 3:
                continue
            if key in done:
                continue
            done.add(key)
            counted += 1
            if post is not None:
                known = self.known_posts.get((story, post))
                if known is None:
                    if len(tally.pending) >= MAX_PENDING:
                        tally.dropped += 1
                    else:
                        tally.pending.append(((story, origin, hour, template, variant),
                                              post, kind))
                    continue
                if not known:
                    _refused("post")
                    continue
            tally.count(story, origin, hour, template, variant, post, kind)
            if kind == "view":
                self._fold(tally, story, address, agent, now)
        tally.events += counted
        return counted

    def _fold(self, tally: Tally, story: str, address: str, agent: bytes, now: float) -> None:
        day = _hour(now).replace(hour=0)
        salt = self.salts.get(day)
        if salt is None:  # not fetched yet by the flush thread: this reader is not folded
            tally.dropped += 1
            return
        digest = hashlib.blake2b(b"%s\0%s\0%s" % (address.encode(), agent, story.encode()),
                                 key=salt, digest_size=8).digest()
        if not tally.fold(story, day, int.from_bytes(digest, "big")):
            tally.dropped += 1

    # ---- the flush side (its own thread) ----------------------------------------

    def start(self) -> None:
        """Start the flush thread, once per process (after the fork: on first use)."""
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="samembed-events",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left (a worker's orderly exit: the ASGI
        lifespan's shutdown calls it)."""
        if self._thread is None:
            return  # never counted anything: nothing to write, no database to wait for
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.flush()

    def _run(self) -> None:
        self.refresh_salts()
        due = time.monotonic() + settings.ANALYTICS_FLUSH_INTERVAL
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            self.flush()
            due = time.monotonic() + settings.ANALYTICS_FLUSH_INTERVAL

    def refresh_salts(self, now: datetime | None = None) -> None:
        """Fetch the day's salt (and tomorrow's, late in the day); purge old ones hourly."""
        now = now or datetime.now(UTC)
        today = reach_repo.day_of(now)
        try:
            for day in (today, today + timedelta(days=1)) if now.hour == 23 else (today,):
                if day not in self.salts:
                    self.salts[day] = salts_repo.salt(day)
            for day in [d for d in self.salts if d < today]:
                del self.salts[day]
            if time.monotonic() - self._purged > 3600 or not self._purged:
                salts_repo.purge(now)
                self._purged = time.monotonic()
        except Exception as e:  # no salt yet: reach waits, counting goes on
            if not is_unavailable(e):
                logger.exception("fetching the day's salt failed")

    def flush(self, now: datetime | None = None) -> int:
        """Write the tally so far; how many events went to the database."""
        with self._flush_lock:
            self._drained_by_the_loop()
            with self._lock:
                tally, self.tally = self.tally, Tally()
            try:
                return self._write(tally, now or datetime.now(UTC))
            except Exception as e:  # the events are lost, the worker goes on
                if not is_unavailable(e):
                    logger.exception("writing event rollups failed")
                metrics.threads.inc(_EVENTS_DROPPED, tally.events)
                return 0
            finally:
                if tally.dropped:
                    metrics.threads.inc(_EVENTS_DROPPED, tally.dropped)
                self.refresh_salts(now)

    def _check_posts(self, tally: Tally) -> None:
        unknown: dict[str, set[str]] = {}
        for (story, *_), post, _kind in tally.pending:
            if (story, post) not in self.known_posts:
                unknown.setdefault(story, set()).add(post)
        for story, ids in unknown.items():
            valid = posts_repo.ids_in_story(story, ids)
            for post in ids:
                self.known_posts[(story, post)] = post in valid
                if len(self.known_posts) > KNOWN_POSTS:
                    self.known_posts.popitem(last=False)
        for (story, origin, hour, template, variant), post, kind in tally.pending:
            if not self.known_posts.get((story, post)):
                _refused_from_thread("post")
                tally.events -= 1
                continue
            tally.count(story, origin, hour, template, variant, post, kind)

    def _admit(self, story: str, hour: datetime, origin: str) -> str:
        if origin == OTHER:
            return origin
        admitted = self.admitted.setdefault((story, hour), set())
        if origin in admitted:
            return origin
        if len(admitted) >= ORIGINS_PER_HOUR:
            return OTHER
        admitted.add(origin)
        return origin

    def _write(self, tally: Tally, now: datetime) -> int:
        if tally.pending:
            self._check_posts(tally)
        current = _hour(now.timestamp())
        for key in [k for k in self.admitted if k[1] < current - timedelta(hours=1)]:
            del self.admitted[key]
        pages: dict[stats_repo.PageKey, list[int]] = {}
        for story, origins in tally.pages.items():
            scores = tally.scores[story]
            # Heaviest first, so the origins admitted for the hour are the busiest.
            for origin in sorted(origins, key=lambda o: -scores.get(o, 0)):
                for (hour, template, variant), counts in origins[origin].items():
                    name = self._admit(story, hour, origin)
                    mine = pages.setdefault((story, hour, name, template, variant),
                                            [0] * len(counts))
                    for i, c in enumerate(counts):
                        mine[i] += c
        stats_repo.apply(stats_repo.increments(pages, tally.posts))
        metrics.threads.inc(_EVENTS_FLUSHED, tally.events)
        for (story, day), sketch in tally.sketches.items():
            if not reach_repo.merge(story, day, sketch.registers()):
                logger.warning("reach of story %s lost a merge race %d times", story,
                               reach_repo.CAS_ATTEMPTS)
        return tally.events


def _report_error(flagged: str, address: str) -> None:
    # The guard's own per-address bound, as /flags/error applies it.
    if guard.allowed(address):
        guard.report(flagged.encode())


counter = Counter()

_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]


_NO_CONTENT = {"type": "http.response.start", "status": 204, "headers": _HEADERS}
_EMPTY = {"type": "http.response.body", "body": b""}
# The same answer as one message, for a worker offering prepared answers.
_WHOLE = prepared(204, _HEADERS, b"")


async def _no_content(scope: dict[str, Any], send: Any) -> None:
    if _WHOLE is not None and offers_prepared(scope):
        await send(_WHOLE)
        return
    await send(_NO_CONTENT)
    await send(_EMPTY)


async def _answer(send: Any, status: int, message: str = "",
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (message + "\n").encode() if message else b""
    await send({"type": "http.response.start", "status": status,
                "headers": _HEADERS + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class Endpoint:
    """The ASGI application of PATH: queue the beacon in `counter`, answer 204 (or a 4xx
    for what needs no parsing). `start=False` leaves draining and flushing to the
    caller (tests flush when they choose)."""

    def __init__(self, counter: Counter, start: bool = True) -> None:
        self.counter = counter
        self.autostart = start

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] != "POST":
            await _answer(send, 405, "send beacons with POST", [(b"allow", b"POST")])
            return
        content_type = agent = b""
        length = -1
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"user-agent":
                agent = value
            elif name == b"content-length":
                length = int(value) if value.isdigit() else MAX_BODY + 1
        if not content_type.lower().startswith(b"text/plain"):
            _refused("content-type")
            await _answer(send, 415, "send the beacon as text/plain (navigator.sendBeacon)")
            return
        if length > MAX_BODY:
            _refused("too-large")
            await _answer(send, 413, f"a beacon is at most {MAX_BODY} bytes")
            return
        message = await receive()
        body = message.get("body", b"")
        while message.get("more_body"):
            if len(body) > MAX_BODY:
                break
            message = await receive()
            body += message.get("body", b"")
        if len(body) > MAX_BODY:
            _refused("too-large")
            await _answer(send, 413, f"a beacon is at most {MAX_BODY} bytes")
            return
        if not body or body.isspace():
            _refused("empty")
            await _answer(send, 400, "an empty beacon: send one JSON object")
            return
        bot = _is_bot(agent)
        if bot and b'"x"' not in body:
            _refused("bot")
            await _no_content(scope, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        counter = self.counter
        now = time.time()
        if not counter.limits.allow(address, now):
            _refused("rate")
            await _answer(send, 429, "too many beacons from this address; slow down")
            return
        # A headless browser's script error still counts for the flags' guardrails,
        # as on /flags/error: queued with no user agent, nothing else counted.
        if not counter.enqueue(body, address, b"" if bot else agent, now,
                               asyncio.get_running_loop()):
            metrics.fast.inc(_QUEUE_FULL)
            await _no_content(scope, send)
            return
        if self.autostart and counter._thread is None:
            counter.start()
        await _no_content(scope, send)


handle = Endpoint(counter)
