"""The version watch: a changed story reaches every process's cache within a second."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator

import pytest
from django.test import Client

from samembed.embed.cache import response_cache
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
