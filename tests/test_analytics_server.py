"""The event endpoint served by gunicorn as shipped: beacons over HTTP, and a worker
that restarts writing what it counted."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from samembed.analytics import tokens
from samembed.embedded_db import EmbeddedDB
from samembed.mongo import database
from samembed.repositories import sources as sources_repo
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.faults import wait_for
from tests.servers import Gunicorn, Nginx
from tests.test_deploy import get
from tests.test_observability import scrape

pytestmark = pytest.mark.usefixtures("mongo_db")

READER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


@pytest.fixture
def server(embedded_db: EmbeddedDB) -> Iterator[Gunicorn]:
    # A flush interval longer than the test: only the worker's exit can write.
    gunicorn = Gunicorn(embedded_db.uri, ANALYTICS_FLUSH_INTERVAL="600")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def send(server: Gunicorn | Nginx, story: Story, view: str) -> int:
    sid = str(story.id)
    body = json.dumps({"k": tokens.sign(sid), "s": sid, "p": view, "o": "https://news.example",
                       "t": "list", "n": 2000, "e": [["load", None, 5]]}).encode()
    request = urllib.request.Request(server.url + "/api/v1/events", data=body, headers={
        "Content-Type": "text/plain;charset=UTF-8", "User-Agent": READER})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return int(response.status)


def loads(story: Story) -> int:
    return sum(d["n"].get("load", 0)
               for d in database()["stats_hourly"].find({"story_id": story.id}))


def worker_pids(server: Gunicorn) -> list[int]:
    assert server.process is not None
    master = str(server.process.pid)
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if re.search(rf"^PPid:\s+{master}$", status.read_text(), re.M):
                found.append(int(status.parent.name))
        except OSError:
            continue
    return found


def test_a_worker_that_restarts_writes_what_it_counted(server: Gunicorn) -> None:
    story = make_story("harbour")
    for i in range(10):
        assert send(server, story, f"pv-restart-{i:08d}") == 204
    assert loads(story) == 0  # not flushed yet
    (worker,) = worker_pids(server)
    os.kill(worker, signal.SIGTERM)  # an orderly restart, as max_requests or a deploy does
    wait_for(lambda: loads(story) >= 10, 20)
    assert loads(story) == 10


def nice(pid: int) -> int:
    """A process's nice value: the 19th field of /proc/<pid>/stat (after its name)."""
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[16])


def accepted(server: Gunicorn) -> float:
    """The beacons this gunicorn's workers accepted, from its own /metrics."""
    return scrape(server).get('samembed_beacons_total{reason="",result="accepted"}', 0)


def test_nginx_sends_beacons_to_the_niced_events_workers_and_to_the_web_workers_while_they_are_down(
    embedded_db: EmbeddedDB, static_files: None, tmp_path: Path,
) -> None:
    story = make_story("harbour")
    # One environment for both, as a VM's /etc/samembed/env: the events workers
    # keep their counters apart from the web workers' METRICS_DIR all the same.
    shared = {"METRICS_DIR": str(tmp_path / "metrics")}
    web = Gunicorn(embedded_db.uri, workers=1, **shared)
    events = Gunicorn(embedded_db.uri, workers=1, config="deploy/gunicorn-events.conf.py",
                      **shared)
    web.start()
    events.start()
    nginx = Nginx(web.port, events_port=events.port, worker_processes="1")
    try:
        nginx.start()
        assert [nice(pid) for pid in worker_pids(events)] == [19]
        assert [nice(pid) for pid in worker_pids(web)] == [os.nice(0)]
        # And under SCHED_IDLE: any other task that wakes takes the core at once.
        assert [os.sched_getscheduler(pid) for pid in worker_pids(events)] == [os.SCHED_IDLE]
        assert [os.sched_getscheduler(pid) for pid in worker_pids(web)] == [os.SCHED_OTHER]
        for i in range(5):
            assert send(nginx, story, f"pv-routed-{i:08d}") == 204
        wait_for(lambda: accepted(events) >= 5, 10)  # judged after the answer
        assert accepted(events) == 5
        assert accepted(web) == 0

        events.stop()  # connections refused: nginx passes each beacon to the web workers
        for i in range(5):
            assert send(nginx, story, f"pv-fallback-{i:08d}") == 204
        wait_for(lambda: accepted(web) >= 5, 10)
        assert accepted(web) == 5
        # And the events workers' exit wrote what they had counted.
        wait_for(lambda: loads(story) >= 5, 20)
        assert loads(story) >= 5
    finally:
        nginx.stop()
        events.stop()
        web.stop()


def test_nginx_never_answers_the_stats_api_from_its_microcache(embedded_db: EmbeddedDB,
                                                                static_files: None) -> None:
    story = make_story("harbour")
    sources_repo.set_push_token(story.id, "stats-token-" + "y" * 20)
    app = Gunicorn(embedded_db.uri, workers=1)
    app.start()
    nginx = Nginx(app.port, worker_processes="1")
    try:
        nginx.start()
        path = f"/api/v1/stories/{story.slug}/stats"
        status, headers, body = get(nginx.port, path,
                                    {"Authorization": "Bearer stats-token-" + "y" * 20})
        assert status == 200 and json.loads(body)["story"] == "harbour"
        assert headers.get("X-Cache-Status") == "BYPASS"
        # At once, without the token: the app's 401, not the microcache's copy of the 200.
        status, _, body = get(nginx.port, path)
        assert status == 401 and b"push token" in body
    finally:
        nginx.stop()
        app.stop()
