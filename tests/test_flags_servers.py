"""Flags across real processes: two gunicorn instances of two workers each agree on
every unit's variant, and a kill reaches all of them within 2 s."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from samembed import flags
from samembed.embedded_db import EmbeddedDB, free_port
from samembed.flags import bucket, origin_unit
from samembed.repositories import flag_counts
from samembed.repositories import flags as repo
from tests.factories import make_story
from tests.servers import ROOT, Gunicorn

pytestmark = pytest.mark.usefixtures("mongo_db")

NEW = b'data-template-version="2"'


def two_instances(uri: str, workers: int = 1, **env: str) -> Iterator[list[Gunicorn]]:
    """Two gunicorn instances on one database, stopped after."""
    started: list[Gunicorn] = []
    try:
        for _ in range(2):
            server = Gunicorn(uri, workers=workers, **env)
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def instances(embedded_db: EmbeddedDB, static_files: None) -> Iterator[list[Gunicorn]]:
    # The default 10 s TTL: the kill must not wait for entries to expire.
    yield from two_instances(embedded_db.uri, workers=2)


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


STARTED_DURING_OUTAGE = """
import os, sys
import django
django.setup()
from samembed import flags
import samembed.embed.render  # declares the embed flags, as a worker does
flags.start_watch()
snap = flags.installed()
print(flags.variant("grid-v2", origin=sys.argv[1]), snap.saved, len(snap.rules))
"""


def test_a_process_started_during_an_outage_takes_the_last_good_snapshot_from_disk(
        tmp_path: Path) -> None:
    beta = "https://beta.example"
    repo.create("grid-v2", "ada", unit="origin", origins=beta)
    repo.create("hero", "ada", percent="100")
    with override_settings(EMBED_SNAPSHOT_DIR=str(tmp_path)):
        flags.refresh()
    assert (tmp_path / "flags.json").exists()
    # Nothing listens there: the database cannot be read at all.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/?replicaSet=rs0",
           "MONGODB_READ_TIMEOUT_MS": "300", "EMBED_SNAPSHOT_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", STARTED_DURING_OUTAGE, origin_unit(beta)],
                          cwd=ROOT, env=env, capture_output=True, timeout=60, check=True)
    assert done.stdout.decode().split() == ["on", "True", "2"], done.stderr.decode()[-2000:]
    # Without a copy on disk it has nothing but the defaults.
    (tmp_path / "flags.json").unlink()
    done = subprocess.run([sys.executable, "-c", STARTED_DURING_OUTAGE, origin_unit(beta)],
                          cwd=ROOT, env=env, capture_output=True, timeout=60, check=True)
    assert done.stdout.decode().split() == ["off", "False", "0"], done.stderr.decode()[-2000:]


@pytest.fixture
def flushing(embedded_db: EmbeddedDB, static_files: None) -> Iterator[list[Gunicorn]]:
    """Two instances of one worker, flushing their guardrail counts often."""
    yield from two_instances(embedded_db.uri, FLAGS_FLUSH_INTERVAL="0.3")


def beacon(server: Gunicorn, body: bytes) -> int:
    request = urllib.request.Request(server.url + "/flags/error", data=body, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return int(response.status)


def test_the_guard_decides_on_the_sum_of_every_instance(flushing: list[Gunicorn]) -> None:
    make_story("demo", posts=2, status="published")
    repo.create("grid-v2", "ada", unit="origin", percent="50")
    units = [origin_unit(f"https://site{i}.example") for i in range(40)]
    on = next(u for u in units if bucket("grid-v2", u) < 5000)
    off = next(u for u in units if bucket("grid-v2", u) >= 5000)
    for server in flushing:
        wait_for(server, f"/e/demo?template=grid&o={on}", True, 5)

    def serve(server: Gunicorn) -> None:
        for _ in range(25):
            assert fetch(server, f"/e/demo?template=grid&o={on}")[0] == 200
            assert fetch(server, f"/e/demo?template=grid&o={off}")[0] == 200
        sent = time.monotonic()
        for _ in range(8):  # five a second are counted from one address
            assert beacon(server, b"grid-v2=on") == 204
            time.sleep(max(0.0, sent + 0.25 - time.monotonic()))
            sent = time.monotonic()

    def counted(off_shown: float, errors: float) -> dict[str, dict[str, float]]:
        """The rollup once the instances' flushes carry this much."""
        deadline = time.monotonic() + 10
        while True:
            found = flag_counts.recent(["grid-v2"], 300).get("grid-v2", {})
            if found.get("off", {}).get("exposure", 0) >= off_shown and \
                    found.get("on", {}).get("client_error", 0) >= errors:
                return found
            assert time.monotonic() < deadline, found
            time.sleep(0.1)

    def guard() -> str:
        out = io.StringIO()
        call_command("flags", "guard", "--once", "--min-exposures", "40", stdout=out)
        return out.getvalue()

    serve(flushing[0])
    counted(25, 8)
    # One instance alone has not shown enough: nothing is decided.
    assert guard() == "" and repo.get("grid-v2").rollout == 5000  # type: ignore[union-attr]
    serve(flushing[1])
    found = counted(50, 16)
    assert found["on"]["exposure"] >= 50 and found["on"]["client_error"] == 16
    assert "guard: grid-v2 back to 0%" in guard()
    assert repo.get("grid-v2").rollout == 0  # type: ignore[union-attr]
