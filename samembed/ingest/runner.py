"""The ingest loop's scheduling: which source runs when, and what a failure does.

`run_once()` claims every due source (compare-and-set on its version, pushing
`next_run_at` out by a lease so a second loop cannot take it), fetches it
through its registered module, runs the batch through the pipeline and
schedules the next run: the source's interval with ±10 % jitter on success (or
longer if the source asked us to wait: rate limits); exponential back-off on
failure, and after PAUSE_AFTER_FAILURES failures in a row the source is paused
with its last error until an editor presses retry in the studio.

It runs only in `manage.py ingest` (its own process), never in a web worker.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from samembed import outbound
from samembed.ingest import pipeline
from samembed.ingest.model import SourceError
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


def _failed(source: Source, now: datetime, error: str) -> Source:
    # Rate limits are not failures: sources report them as Batch.wait (see below).
    failures = source.failures + 1
    delay = min(source.interval * 2 ** failures, MAX_BACKOFF)
    return sources.save(
        source, failures=failures, last_error=error, next_run_at=now + _jittered(delay),
        paused_since=now if failures >= PAUSE_AFTER_FAILURES else None) or source


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
        return Outcome(_failed(claimed, now, str(e)), None, str(e))
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
