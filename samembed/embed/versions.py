"""The version watch: every process learns of a changed story within about a second.

One daemon thread per process (started when the ASGI server starts, so after
gunicorn's fork) asks MongoDB every WATCH_INTERVAL seconds for the stories
changed since its last look (an indexed range on `updated_at`, so the cost does
not grow with the number of stories) and expires the response-cache entries of
any story whose version moved. The 10 s TTL stays the upper bound when the
watch cannot reach the database. Each look's outcome also goes to the response
cache's circuit breaker, so the read path learns of an outage, and of its end,
from the watch as well as from its own renders.

Writers stamp `updated_at` with their own clock; the look-back window
(WATCH_OVERLAP) absorbs clock skew between instances and slow commits, and the
versions already seen keep repeated sightings from expiring entries again.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from functools import partial

from samembed import flags
from samembed.embed.cache import Entry, ResponseCache, response_cache
from samembed.exceptions import DatabaseUnavailable
from samembed.repositories import stories

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.5
WATCH_OVERLAP = timedelta(seconds=5)
# A failing look waits longer each time, up to a pause still shorter than the cache
# TTL, so a watch that keeps failing neither spins nor goes quiet for good.
WATCH_BACKOFF_MAX = 8.0


def _outdated(entry: Entry, *, change: stories.Change) -> bool:
    if entry.story_id is not None:
        return entry.story_id == change.id and (entry.version or 0) < change.version
    # 404s and redirects carry no story: match them by their slug, so a story just
    # published or renamed is not hidden behind them for a whole TTL.
    return entry.slug is not None and (
        entry.slug == change.slug or entry.slug in change.previous_slugs)


class VersionWatch:
    def __init__(self, cache: ResponseCache, interval: float = WATCH_INTERVAL) -> None:
        self.cache = cache
        self.interval = interval
        self.seen: dict[str, int] = {}
        self._since = datetime.now(UTC) - WATCH_OVERLAP
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Look once; returns how many cache entries were expired."""
        started = datetime.now(UTC)
        changed = stories.changed_since(self._since - WATCH_OVERLAP)
        self._since = started
        expired = 0
        for change in changed:
            if not (isinstance(change.version, int) and isinstance(change.slug, str)):
                # A document another writer left malformed must not stop the watch
                # for every other story: skip it, the TTL still bounds its entries.
                logger.warning("version watch: skipped story %s with version %r, slug %r",
                               change.id, change.version, change.slug)
                continue
            if self.seen.get(change.id, 0) >= change.version:
                continue
            expired += self.cache.invalidate(partial(_outdated, change=change))
            if flags.story_id_of(change.slug) not in (None, change.id):
                # The slug is another story's now: flags sticky on the id follow it.
                flags.remember_story(change.slug, change.id)
            # Only once expired: a look that fails here sees the change again next time.
            self.seen[change.id] = change.version
        # Forget versions that have left the look-back window: bounded memory.
        if len(self.seen) > 10_000:
            recent = {c.id for c in changed}
            self.seen = {sid: v for sid, v in self.seen.items() if sid in recent}
        return expired

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            try:
                self.poll()
            except DatabaseUnavailable as e:
                self.cache.breaker.failure()
                logger.warning("version watch: database unavailable: %s", e)
            except Exception:
                # Whatever else goes wrong (a server error pymongo does not class as
                # unavailable, an unexpected answer), the thread must outlive it:
                # a dead watch leaves every edit waiting out the TTL until a restart.
                logger.exception("version watch: look failed")
            else:
                # A look that worked proves the database answers: the read path's
                # breaker closes now rather than at its next probe.
                self.cache.breaker.success()
                pause = self.interval
                continue
            pause = min(pause * 2, max(WATCH_BACKOFF_MAX, self.interval))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="version-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


_watch: VersionWatch | None = None


def start_watch() -> VersionWatch:
    """Start this process's watch (idempotent)."""
    global _watch
    if _watch is None:
        _watch = VersionWatch(response_cache())
        _watch.start()
    return _watch
