"""A database outage under load, end to end: readers of published stories never
notice it (any worker, including one started during it), writers are told to
retry, and everything is fresh again within 2 s of the database's return.

The long run of the same scenario (30 s) is `make bench`'s `outage` (bench/run.py).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from django.conf import settings
from pymongo.errors import PyMongoError

from samembed.embedded_db import EmbeddedDB
from samembed.repositories import flags as flags_repo
from samembed.repositories import sources, stories
from samembed.repositories.common import is_unavailable
from tests import faults
from tests.factories import make_story, using
from tests.servers import Gunicorn

TOKEN = "outage-push-token-0123456789"  # noqa: S105 - a test fixture
PATHS = ["/e/harbour", "/e/harbour?template=grid", "/s/harbour", "/e/lights",
         "/api/v1/stories/lights", "/e/tide?template=list"]


@pytest.fixture
def own_db(own_db: EmbeddedDB) -> EmbeddedDB:
    """A database of this test's own, with three published stories, a push token, and
    a rollout sticky on the story's id that every story is in (so the keys of the
    embeds carry its variant, and a worker started during the outage needs the
    stories' ids to name them)."""
    with using(own_db):
        harbour = make_story("harbour", posts=6)
        make_story("lights", posts=3)
        make_story("tide", posts=2)
        sources.set_push_token(harbour.id, TOKEN)
        flags_repo.create("img-xlarge", "desk", unit="story", percent="100")
    return own_db


def push_body(n: int) -> bytes:
    return json.dumps({"posts": [{"id": f"outage-{n}", "text": f"Pushed during the run {n}",
                                  "created_at": "2026-12-01T12:00:00Z",
                                  "author": {"name": "Desk"}}]}).encode()


def test_readers_never_notice_a_database_outage(
    own_db: EmbeddedDB, static_files: None, tmp_path: Path
) -> None:
    env = {"EMBED_SNAPSHOT_DIR": str(tmp_path / "snapshots"), "EMBED_CACHE_TTL": "1",
           "EMBED_REVALIDATE_WAIT": "0.1", "MONGODB_READ_TIMEOUT_MS": "1500"}
    server = Gunicorn(own_db.uri, workers=2, **env)
    server.start()
    try:
        for path in PATHS:  # published, and seen once before the outage
            assert faults.request(server.port, path).status == 200
        figures = faults.run(
            own_db, server, lambda: Gunicorn(own_db.uri, workers=1, **env), PATHS,
            ("/api/v1/stories/harbour/posts", {"Authorization": f"Bearer {TOKEN}"}, push_body),
            hung=2.0, killed=2.0, after=3.0)
    finally:
        server.stop()
    summary = figures.summary()
    report = faults.report(figures)
    print(report)  # the figures, with pytest -s
    assert summary["reads_during_outage"] > 200, report
    assert summary["reads_non_200"] == [], report
    assert summary["outage_p99_ms"] <= 50, report
    assert summary["new_instance"] == dict.fromkeys(PATHS, 200), report
    assert summary["new_instance_stale"], report
    assert summary["added_worker_cache_entries"] > 0, report  # it served, from disk
    assert summary["writes_5xx_without_retry_after"] == 0, report
    assert summary["writes_no_answer"] == 0, report
    assert "503" in summary["writes_by_status"] and "200" in summary["writes_by_status"], report
    assert summary["recovery_s"] <= 2.0, report
    assert set(summary["readiness_statuses"]) == {"200"}, report



def test_a_write_to_a_hung_database_gives_up_at_its_deadline(own_db: EmbeddedDB) -> None:
    # A request's first read already has the (shorter) read deadline; this is the
    # bound on everything else, a hung database holding the pooled connections.
    previous = settings.MONGODB_TIMEOUT_MS
    settings.MONGODB_TIMEOUT_MS = 1000
    try:
        with using(own_db):
            story = stories.get_by_slug("harbour")
            assert story is not None
            assert stories.get(story.id) is not None  # the pool is warm
            assert own_db.process is not None
            pid = own_db.process.pid
            os.kill(pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.raises(PyMongoError) as failed:
                    stories.bump_version(story.id)
                waited = time.monotonic() - started
            finally:
                os.kill(pid, signal.SIGCONT)
    finally:
        settings.MONGODB_TIMEOUT_MS = previous
    assert is_unavailable(failed.value)  # so the middleware answers 503 + Retry-After
    # The driver's socket timeout (the bound before a deadline was set) is 5 s.
    assert waited <= 2.0, waited
