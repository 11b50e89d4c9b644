"""Flags across real processes: two gunicorn instances of two workers each agree on
every unit's variant, and a kill reaches all of them within 2 s."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest

from samembed.embedded_db import EmbeddedDB
from samembed.flags import bucket, origin_unit
from samembed.repositories import flags as repo
from tests.factories import make_story
from tests.servers import Gunicorn

pytestmark = pytest.mark.usefixtures("mongo_db")

NEW = b'data-template-version="2"'


@pytest.fixture
def instances(embedded_db: EmbeddedDB, static_files: None) -> Iterator[list[Gunicorn]]:
    started = []
    try:
        for _ in range(2):
            # The default 10 s TTL: the kill must not wait for entries to expire.
            server = Gunicorn(embedded_db.uri, workers=2)
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()


def fetch(server: Gunicorn, path: str) -> tuple[int, bytes]:
    # A new connection each time, so the requests spread over the workers.
    with urllib.request.urlopen(server.url + path, timeout=10) as response:  # noqa: S310
        return response.status, response.read()


def wait_for(server: Gunicorn, path: str, new: bool, within: float,
             since: float | None = None) -> float:
    """Seconds from `since` (now) until the first of 20 answers in a row (on new
    connections, so on every worker) on the new variant (`new`) or the old one;
    fails after `within`."""
    started = time.monotonic() if since is None else since
    run_began, run = time.monotonic(), 0
    while run < 20:
        assert time.monotonic() - started < within, f"{server.url}{path} not {new} in time"
        if (NEW in fetch(server, path)[1]) == new:
            run += 1
        else:
            run, run_began = 0, time.monotonic()
    return run_began - started


def test_two_instances_agree_and_a_kill_reaches_every_worker_within_2_s(
        instances: list[Gunicorn]) -> None:
    make_story("demo", posts=3, status="published")
    flag = repo.create("grid-v2", "ada", unit="origin", percent="30")
    units = [origin_unit(f"https://site{i}.example") for i in range(60)]
    expected = {u: bucket("grid-v2", u) < 3000 for u in units}
    on = next(u for u, new in expected.items() if new)
    for server in instances:
        wait_for(server, f"/e/demo?template=grid&o={on}", True, 5)
    for server in instances:
        for u in units:
            status, body = fetch(server, f"/e/demo?template=grid&o={u}")
            assert status == 200 and (NEW in body) == expected[u], (server.url, u)
    assert 5 <= sum(expected.values()) <= 35

    repo.update(flag, "ada", killed=True)
    killed_at = time.monotonic()
    for server in instances:
        # The first run of answers all on the old template began within 2 s.
        assert wait_for(server, f"/e/demo?template=grid&o={on}", False, 5, killed_at) < 2.0
