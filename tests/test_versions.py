"""The version watch: a changed story reaches every process's cache within a second."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from django.test import Client

from samembed import mongo
from samembed.embed.cache import Entry, ResponseCache, response_cache
from samembed.embed.versions import VersionWatch
from samembed.embedded_db import EmbeddedDB
from samembed.repositories import stories as stories_repo
from tests.factories import make_post, make_story
from tests.servers import Gunicorn

pytestmark = pytest.mark.usefixtures("mongo_db")


def test_a_new_version_expires_only_that_storys_entries() -> None:
    client = Client()
    changed = make_story("changed", posts=1)
    make_story("untouched", posts=1)
    watch = VersionWatch(response_cache())
    watch.poll()  # what exists now is the baseline
    client.get("/e/changed"), client.get("/e/changed?template=grid"), client.get("/e/untouched")
    assert watch.poll() == 0
    make_post(changed, 7, text="late news")
    stories_repo.bump_version(changed.id)
    assert watch.poll() == 2
    assert watch.poll() == 0  # seen once, not again
    assert response_cache().peek("/e/untouched") is not None
    assert b"late news" in client.get("/e/changed").content


def test_a_published_draft_is_not_hidden_behind_its_cached_404() -> None:
    client = Client()
    draft = make_story("soon", posts=1, status="draft")
    watch = VersionWatch(response_cache())
    watch.poll()
    assert client.get("/e/soon").status_code == 404
    assert stories_repo.update(draft, {"status": "published"})
    assert watch.poll() == 1
    assert client.get("/e/soon").status_code == 200


@pytest.fixture
def two_workers(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    server = Gunicorn(embedded_db.uri, workers=2)
    server.start()
    yield server
    server.stop()


def fetch(server: Gunicorn, path: str) -> bytes:
    # A new connection each time, so both workers are asked.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", path)
    body = conn.getresponse().read()
    conn.close()
    return body


def test_both_workers_serve_an_edit_within_a_second_and_a_half(two_workers: Gunicorn) -> None:
    story = make_story("both", posts=2, title="Before the edit")
    for _ in range(20):  # fill both workers' caches
        assert b"Before the edit" in fetch(two_workers, "/e/both")
    assert stories_repo.update(story, {"title": "After the edit"})
    edited = time.monotonic()
    deadline = edited + 1.5
    streak = 0
    while time.monotonic() < deadline and streak < 20:
        streak = streak + 1 if b"After the edit" in fetch(two_workers, "/e/both") else 0
    assert streak >= 20, "an edit did not reach both workers within 1.5 s"


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_the_watch_outlives_a_malformed_story_and_still_sees_a_later_edit() -> None:
    client = Client()
    story = make_story("kept", posts=1)
    # A writer past the validator (an old release, a restore, a hand edit) left
    # stories the watch cannot read.
    mongo.database()["stories"].insert_one(
        {"slug": "odd", "version": "seven", "updated_at": datetime.now(UTC)},
        bypass_document_validation=True)
    mongo.database()["stories"].insert_one({"updated_at": datetime.now(UTC)},
                                           bypass_document_validation=True)
    watch = VersionWatch(response_cache(), interval=0.02)
    watch.start()
    try:
        time.sleep(0.2)  # several looks at the malformed documents
        assert watch._thread is not None and watch._thread.is_alive()
        client.get("/e/kept")
        assert response_cache().peek("/e/kept") is not None
        make_post(story, 5, text="after the odd one")
        stories_repo.bump_version(story.id)
        assert wait_for(lambda: response_cache().peek("/e/kept") is None, 3), \
            "the watch stopped expiring entries after a malformed story"
        assert watch._thread.is_alive()
    finally:
        watch.stop()
    assert b"after the odd one" in client.get("/e/kept").content


class FailingCache(ResponseCache):
    """A cache whose first few invalidations fail, as any unexpected error would."""

    def __init__(self, failures: int) -> None:
        super().__init__(ttl=10, max_bytes=1 << 20, stale_if_error=60)
        self.failures = failures
        self.calls: list[float] = []

    def invalidate(self, predicate: Callable[[Entry], bool]) -> int:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise RuntimeError("unexpected")
        return super().invalidate(predicate)


def test_the_watch_backs_off_after_any_error_and_recovers() -> None:
    cache = FailingCache(failures=3)
    watch = VersionWatch(cache, interval=0.05)
    watch.poll()  # the baseline
    story = make_story("flaky", posts=1)
    watch.start()
    try:
        assert wait_for(lambda: len(cache.calls) >= 4, 5), "the watch died on an error"
        assert watch._thread is not None and watch._thread.is_alive()
        gaps = [b - a for a, b in zip(cache.calls, cache.calls[1:], strict=False)]
        # Each failure doubles the pause (0.1, 0.2, 0.4 s): it never spins.
        assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39, gaps
        seen = len(cache.calls)
        stories_repo.bump_version(story.id)
        assert wait_for(lambda: len(cache.calls) > seen, 2), "no look after recovering"
        assert watch.seen[str(story.id)] == story.version + 1
    finally:
        watch.stop()
