"""The ingest loop's scheduling: which source runs when, and what a failure does.

`run_once()` claims every due source (compare-and-set on its version, pushing
`next_run_at` out by a lease so a second loop cannot take it), fetches it
through its registered module, runs the batch through the pipeline and
schedules the next run: the source's interval with ±10 % jitter on success (or
longer if the source asked us to wait: rate limits); exponential back-off on
failure, and after PAUSE_AFTER_FAILURES failures in a row the source is paused
with its last error until an editor presses retry in the studio. A permanent error
(the account or feed is not there: 404, 410, an unknown account) pauses it at once:
backing off would only ask the same question again.

It runs only in `manage.py ingest` (its own process), never in a web worker.
"""

from __future__ import annotations

import logging
import random
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from samembed import outbound
from samembed.ingest import pipeline
from samembed.ingest.model import Collected, SourceError
from samembed.ingest.sources import REGISTRY
from samembed.repositories import posts, sources
from samembed.repositories.sources import PAUSE_AFTER_FAILURES, Source

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_BACKOFF = 3600.0
RECHECK_WINDOW = timedelta(hours=48)
RECHECK_LIMIT = 20
SOURCES_PER_ROUND = 20


@dataclass(frozen=True)
class Outcome:
    source: Source
    report: pipeline.Report | None
    error: str | None = None


def _jittered(seconds: float) -> timedelta:
    # Jitter spreads sources added together, so they do not all fire in the same second.
    return timedelta(seconds=seconds * random.uniform(0.9, 1.1))  # noqa: S311 - not secret


_CANNOT_RESOLVE = re.compile(r"^cannot resolve ([^\s:]+)")
_ANSWERED = re.compile(r"^(\S+) answered (\d{3})")
_STATUS_WORDS = {
    400: "the request was not understood", 401: "it wants a valid access token",
    403: "it does not allow this", 404: "there is nothing at that address",
    410: "it is gone for good", 429: "too many requests: it asks us to slow down",
    500: "its server had an error", 502: "its server is unreachable behind its proxy",
    503: "it is down or overloaded", 504: "its server took too long",
}


def _host_of(settings: dict[str, Any]) -> str:
    """The host a source's settings point at, for messages."""
    for key in ("url", "instance", "appview", "pds"):
        value = settings.get(key)
        if isinstance(value, str) and value:
            return urlsplit(value).hostname or value
    return "the source"


def explain(error: BaseException, settings: dict[str, Any] | None = None) -> str:
    """What went wrong with a fetch, in words an editor can act on.

    The one place the exception tree (`Refused`, `FetchFailed` with its status,
    `SourceError`) becomes a message: the sources page, the "Test" button and
    the runner's stored `last_error` all use it.

        >>> explain(outbound.FetchFailed("cannot resolve www.example.com: [Errno -2] ..."))
        'The address www.example.com could not be found. Check the spelling.'
    """
    host = _host_of(settings or {})
    text = str(error)
    if isinstance(error, SourceError):
        return text  # the source module's own words, already for editors
    if isinstance(error, outbound.Refused):
        if "not a public address" in text:
            return (f"{host} points to a private or local network address, which samembed "
                    "never fetches from. Use the public address of the site.")
        if "longer than allowed" in text:
            return (f"{host} did not answer in time. It may be down or slow; the source "
                    "tries again by itself, or press Test again in a minute.")
        if "bytes" in text:
            return f"{host} sent more than samembed accepts ({text}). Check the address."
        if "redirects" in text:
            return f"{host} sent us round too many redirects. Check the address."
        return f"samembed will not fetch this: {text}."
    if isinstance(error, outbound.FetchFailed):
        found = _CANNOT_RESOLVE.match(text)
        if found or isinstance(error.__cause__, socket.gaierror):
            name = found.group(1) if found else host
            return f"The address {name} could not be found. Check the spelling."
        status = error.status
        if status is not None:
            words = _STATUS_WORDS.get(status, "an error")
            retry = "" if error.permanent else " The source tries again by itself."
            return f"{host} answered {status}: {words}.{retry}"
        if "ConnectError" in text or "Connection refused" in text:
            return (f"{host} refused the connection: nothing answers there, or it is down. "
                    "Check the address; the source tries again by itself.")
        if "no address" in text:
            return f"The address {host} has no IP address. Check the spelling."
        return f"{host} could not be reached ({text}). The source tries again by itself."
    return f"Unexpected error: {error.__class__.__name__}: {text}"


@dataclass
class Trial:
    """A "Test" fetch: the first posts a source would collect, or why it cannot."""

    posts: list[Collected] = field(default_factory=list)
    total: int = 0
    error: str | None = None
    # Seconds the network asked us to wait (a rate limit), when it did.
    wait: float | None = None


TRIAL_POSTS = 5


def trial(kind: str, settings: dict[str, Any]) -> Trial:
    """Fetch a source once through its own module, storing nothing."""
    module = REGISTRY.get(kind)
    if module is None:
        return Trial(error=f"Unknown source kind {kind!r}.")
    try:
        batch = module.fetch(settings, {}, [])
    except (SourceError, outbound.FetchFailed, outbound.Refused) as e:
        return Trial(error=explain(e, settings))
    except Exception as e:  # noqa: BLE001 - the editor sees the reason; nothing is stored
        log.exception("test fetch of a %s source failed", kind)
        return Trial(error=explain(e, settings))
    ordered = sorted(batch.posts, key=lambda p: p.posted_at, reverse=True)
    return Trial(posts=ordered[:TRIAL_POSTS], total=len(batch.posts), wait=batch.wait)


def is_permanent(error: BaseException) -> bool:
    """Whether asking the source again cannot help (it says what we follow is not there)."""
    if isinstance(error, SourceError):
        return error.permanent
    return isinstance(error, outbound.FetchFailed) and error.status in (404, 410)


def _failed(source: Source, now: datetime, error: str, permanent: bool = False) -> Source:
    # Rate limits are not failures: sources report them as Batch.wait (see below).
    failures = source.failures + 1
    delay = min(source.interval * 2 ** failures, MAX_BACKOFF)
    pause = permanent or failures >= PAUSE_AFTER_FAILURES
    return sources.save(
        source, failures=failures, last_error=error, next_run_at=now + _jittered(delay),
        paused_since=now if pause else None) or source


def run_source(source: Source, now: datetime) -> Outcome | None:
    """Fetch and store one source; None if another loop claimed it first."""
    claimed = sources.save(source, next_run_at=now + LEASE, last_run_at=now)
    if claimed is None:
        return None
    module = REGISTRY.get(source.kind)
    if module is None:
        return Outcome(_failed(claimed, now, f"Unknown source kind {source.kind!r}."), None,
                       "unknown kind")
    try:
        recheck = posts.recent_external_ids(claimed.id, now - RECHECK_WINDOW,  # type: ignore[arg-type]
                                            RECHECK_LIMIT)
        batch = module.fetch(claimed.settings, claimed.cursor, recheck)
        report = pipeline.store(claimed.story_id, claimed.kind, batch.posts,
                                source_id=claimed.id, deleted=batch.deleted)
    except (SourceError, outbound.FetchFailed, outbound.Refused) as e:
        message = explain(e, claimed.settings)
        return Outcome(_failed(claimed, now, message, is_permanent(e)), None, message)
    except Exception as e:  # noqa: BLE001 - one broken source must not stop the others
        log.exception("source %s (%s) failed", claimed.id, claimed.kind)
        message = f"Unexpected error: {e.__class__.__name__}: {e}"
        return Outcome(_failed(claimed, now, message), None, message)
    wait = max(claimed.interval, batch.wait or 0)
    saved = sources.save(
        claimed, cursor=batch.cursor, failures=0, last_error=None, last_ok_at=now,
        paused_since=None, next_run_at=now + _jittered(wait),
        last_report={**report.counts(), "skipped": len(batch.skipped)})
    return Outcome(saved or claimed, report)


def run_once(now: datetime | None = None) -> list[Outcome]:
    """Every due source once, then pending media copies of pushed/imported posts."""
    now = now or datetime.now(UTC)
    outcomes = [o for o in (run_source(s, now) for s in sources.due(now, SOURCES_PER_ROUND))
                if o is not None]
    pipeline.copy_pending()
    return outcomes


def retry(source: Source) -> Source | None:
    """An editor's retry: unpause, forget the failures, run at the next round."""
    return sources.save(source, failures=0, paused_since=None, last_error=None,
                        next_run_at=datetime.now(UTC))


def loop(stop: threading.Event, max_sleep: float = 5.0) -> None:
    """Run due sources until `stop` is set, sleeping until the next one is due."""
    while not stop.is_set():
        try:
            run_once()
            upcoming = sources.next_due()
        except Exception:  # noqa: BLE001 - the database may be away; keep the loop alive
            log.exception("ingest round failed")
            upcoming = None
        wait = max_sleep if upcoming is None else (upcoming - datetime.now(UTC)).total_seconds()
        stop.wait(min(max(wait, 0.2), max_sleep))
