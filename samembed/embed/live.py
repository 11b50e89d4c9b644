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
                              "screen": {"mode": "wall", "interval": 8, ...},
                              "flags": "1x3k9a"}

`flags` is the epoch of the flags that change the embed (samembed.flags): the
entry's key holds it too, so a flag's change is a new entry at once, and an open
live embed that sees it move fetches its document again (static/embed/live.js).

Big screens also say who they are, now and then: every tenth poll of a screen
carries `?screen=<random id of that page>`. It is answered from the same cache
entry (the fast path and the view both accept exactly that query), and the id
is remembered in memory with the time it was seen, per story; each worker's
ids travel in its metrics snapshot (samembed/metrics.py) and, every
PUBLISH_INTERVAL, to the `screens` collection (samembed/repositories/screens.py),
so the producer remote can count the distinct screens seen in the last minute
across every worker of every instance (`connected_screens`). No database write
per poll, and embeds, whose readers are not counted, keep one shared URL for a
CDN.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse

from samembed import flags
from samembed.embed.cache import Entry
from samembed.embed.views import (
    Page,
    _cached,
    _common_headers,
    _error,
    _read_view,
    entry_response,
)
from samembed.exceptions import DatabaseUnavailable
from samembed.repositories import screens as screens_repo
from samembed.repositories.common import is_unavailable
from samembed.repositories.stories import SCREEN_PUBLIC, Story

logger = logging.getLogger(__name__)

PREFIX = "/live/"
# Short enough for a CDN to pass a change on within a second; long enough that a
# venue full of screens behind it costs the origin one request a second. No
# stale-while-revalidate: browsers would answer each poll with the previous one.
CACHE_CONTROL = b"public, max-age=1, stale-if-error=60"


# A screen counts as connected while it has said so within this window; it says so
# every tenth poll, so a minute is several chances even with back-off after errors.
SCREEN_WINDOW = 60.0
# Bounds on what callers can make us remember (ids come from anyone's browser).
SCREENS_PER_STORY = 1000
STORIES_COUNTED = 5000
_SCREEN_QUERY = re.compile(rb"^screen=([A-Za-z0-9]{8,32})$")
# How often a process writes the screens it saw, for other instances' remotes.
PUBLISH_INTERVAL = 10.0


class Screens:
    """The screens of each story seen by this process: story id -> {screen id: last seen}."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, float]] = {}
        # The fast path (event loop), Django's thread and the metrics flush thread
        # all touch it; one screen's poll in ten takes this lock.
        self._lock = threading.Lock()
        self._publisher: threading.Thread | None = None
        self.process = uuid.uuid4().hex

    def _publish_forever(self) -> None:
        while True:
            time.sleep(PUBLISH_INTERVAL)
            try:
                screens_repo.publish(self.process, self.snapshot())
            except Exception as e:  # the next round tries again; serving goes on
                if not is_unavailable(e):
                    logger.exception("publishing screens failed")

    def _start_publisher(self) -> None:
        # Started by the first screen a process sees, so after any fork and only in
        # processes that serve screens.
        if self._publisher is None:
            self._publisher = threading.Thread(target=self._publish_forever,
                                               name="samembed-screens", daemon=True)
            self._publisher.start()

    def seen(self, story_id: str | None, screen_id: str, now: float | None = None) -> None:
        """Remember that `screen_id` of `story_id` polled just now."""
        if not story_id:
            return
        now = time.time() if now is None else now
        with self._lock:
            ids = self._seen.get(story_id)
            if ids is None:
                if len(self._seen) >= STORIES_COUNTED:
                    self._prune(now)
                    if len(self._seen) >= STORIES_COUNTED:
                        return
                ids = self._seen[story_id] = {}
            if screen_id not in ids and len(ids) >= SCREENS_PER_STORY:
                for old in [k for k, t in ids.items() if now - t > SCREEN_WINDOW]:
                    del ids[old]
                if len(ids) >= SCREENS_PER_STORY:
                    return
            ids[screen_id] = now
            if self._publisher is None:
                self._start_publisher()

    def _prune(self, now: float) -> None:
        for story_id in list(self._seen):
            ids = {k: t for k, t in self._seen[story_id].items() if now - t <= SCREEN_WINDOW}
            if ids:
                self._seen[story_id] = ids
            else:
                del self._seen[story_id]

    def snapshot(self, now: float | None = None) -> dict[str, dict[str, float]]:
        """The screens seen within the window, for this process's metrics snapshot."""
        now = time.time() if now is None else now
        with self._lock:
            self._prune(now)
            return {story_id: dict(ids) for story_id, ids in self._seen.items()}

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


screens = Screens()


def screen_id(query: bytes) -> str | None:
    """The screen id of a `/live/` query (`screen=<8 to 32 letters or digits>`), else None."""
    found = _SCREEN_QUERY.match(query)
    return found.group(1).decode("ascii") if found else None


def connected_screens(story_id: object, now: float | None = None) -> int:
    """Distinct screens of a story that polled within SCREEN_WINDOW: this instance's
    workers from their snapshots in METRICS_DIR (this process alone without one), at
    once; every instance's from the `screens` collection, within PUBLISH_INTERVAL."""
    from samembed import metrics

    now = time.time() if now is None else now
    key = str(story_id)
    ids: set[str] = set()
    for snap in metrics.collect():
        seen = snap.get("screens")
        story = seen.get(key) if isinstance(seen, dict) else None
        if isinstance(story, dict):
            ids.update(k for k, t in story.items()
                       if isinstance(t, (int, float)) and now - t <= SCREEN_WINDOW)
    try:
        ids |= screens_repo.seen_since(key, now - SCREEN_WINDOW,
                                       timedelta(seconds=SCREEN_WINDOW + PUBLISH_INTERVAL))
    except DatabaseUnavailable:
        pass  # this instance's count is still right
    return len(ids)


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


def version_payload(story: Story, epoch: str = "") -> dict[str, Any]:
    """What `/live/` answers; `flags` is the embed flags' epoch (samembed.flags), so
    an open live embed fetches its document again when a flag changes or is killed."""
    screen = story.screen
    return {
        "slug": story.slug,
        "version": story.version,
        "live": story.live,
        "screen": {name: getattr(screen, name) for name in SCREEN_PUBLIC},
        "flags": epoch,
    }


def _version(request: HttpRequest, slug: str) -> HttpResponse:
    query = request.META.get("QUERY_STRING", "")
    screen = screen_id(query.encode("latin-1", "replace")) if query else None
    if query and screen is None:
        return _error(400, "The version endpoint takes no query parameters "
                           "(screens may send screen=<id>).")

    snap = flags.current()

    def build(story: Story, _: Page) -> Entry:
        return _json(200, version_payload(story, snap.epoch), story_id=str(story.id),
                     version=story.version)

    # The same lookup, 404 and 301 as every story URL; the version needs no posts.
    # The key holds the epoch, as the fast path's does (samembed.asgi.flagged_key).
    entry = _cached(request, slug, PREFIX, lambda _: _not_found(), build,
                    suffix=snap.live_suffix, with_posts=False)
    if screen is not None and entry.status == 200:
        screens.seen(entry.story_id, screen)
    return entry_response(entry, request)


version = _read_view(_version, _not_found)
