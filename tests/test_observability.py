"""Observability: /metrics over all workers, Server-Timing, JSON logs, readiness."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from samembed import metrics
from samembed.embedded_db import EmbeddedDB
from samembed.observability import JsonFormatter, request_id
from tests.factories import make_story
from tests.servers import Gunicorn


@pytest.fixture(scope="module")
def two_workers(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    server = Gunicorn(embedded_db.uri, workers=2)
    server.start()
    yield server
    server.stop()


def get(server: Gunicorn, path: str,
        headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    # A new connection each time, so requests spread over both workers.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.headers, body


def scrape(server: Gunicorn) -> dict[str, float]:
    status, headers, body = get(server, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@pytest.mark.usefixtures("mongo_db")
def test_metrics_add_up_the_requests_of_both_workers(two_workers: Gunicorn) -> None:
    make_story("counted", posts=3)
    pids = set()
    for _ in range(40):
        status, _, _ = get(two_workers, "/e/counted")
        assert status == 200
    # Both workers must have answered: each reports its own memory gauge.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(metrics.FLUSH_INTERVAL * 1.5)
        values = scrape(two_workers)
        pids = {k for k in values if k.startswith("samembed_worker_resident_memory_bytes")}
        hits = values.get('samembed_requests_total{route="embed",status="200"}', 0)
        if len(pids) == 2 and hits == 40:
            break
    assert len(pids) == 2, pids
    assert all(values[k] > 10_000_000 for k in pids)
    assert values['samembed_requests_total{route="embed",status="200"}'] == 40
    cache = {result: values.get(f'samembed_cache_total{{result="{result}"}}', 0)
             for result in ("hit", "miss")}
    # At most one render per worker; every other request was a hit.
    assert 1 <= cache["miss"] <= 2 and cache["hit"] + cache["miss"] == 40
    assert values["samembed_db_seconds_count"] == cache["miss"]
    assert values["samembed_render_seconds_count"] == cache["miss"]
    assert values['samembed_request_duration_seconds_count{route="embed"}'] == 40
    assert values['samembed_request_duration_seconds_bucket{route="embed",le="+Inf"}'] == 40


@pytest.mark.usefixtures("mongo_db")
def test_embeds_say_where_their_time_went(two_workers: Gunicorn) -> None:
    make_story("timed", posts=2)
    status, headers, _ = get(two_workers, "/e/timed?template=grid")
    assert status == 200
    timing = headers["Server-Timing"]
    match = re.fullmatch(r"cache;desc=miss, db;dur=([\d.]+), render;dur=([\d.]+), "
                         r"app;dur=([\d.]+)", timing)
    assert match, timing
    db, render, app = (float(g) for g in match.groups())
    assert db > 0 and 0 < render <= app
    # The other worker may render once, whenever its first request comes (the
    # kernel picks the worker); every other answer is a hit.
    timings = []
    for _ in range(12):
        status, headers, _ = get(two_workers, "/e/timed?template=grid")
        assert status == 200
        timings.append(headers["Server-Timing"])
    misses = [t for t in timings if t.startswith("cache;desc=miss")]
    assert len(misses) <= 1, timings
    assert timings.count("cache;desc=hit") == len(timings) - len(misses), timings


@pytest.mark.usefixtures("mongo_db")
def test_requests_carry_an_id_that_is_kept_when_the_proxy_gives_one(
    two_workers: Gunicorn,
) -> None:
    status, headers, _ = get(two_workers, "/healthz", {"X-Request-ID": "abc-123"})
    assert status == 200 and headers["X-Request-ID"] == "abc-123"
    unsafe = "not/a token; " + "x" * 80
    status, headers, _ = get(two_workers, "/healthz", {"X-Request-ID": unsafe})
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])


def test_log_lines_are_json_with_the_request_id() -> None:
    record = logging.LogRecord("samembed.embed", logging.WARNING, __file__, 1,
                               "database unavailable: %s", ("timeout",), None)
    record.route = "embed"
    token = request_id.set("r-42")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    data = json.loads(line)
    assert data["level"] == "WARNING" and data["logger"] == "samembed.embed"
    assert data["message"] == "database unavailable: timeout"
    assert data["request_id"] == "r-42" and data["route"] == "embed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", data["time"])


def test_the_exposition_sums_workers_and_keeps_gauges_per_live_worker() -> None:
    mine = metrics.snapshot()
    other = {"pid": 2**22 + 1, "counters": {'samembed_cache_total{result="hit"}': 5.0},
             "histograms": {}, "gauges": {"samembed_cache_entries": 3}}
    mine["counters"] = {'samembed_cache_total{result="hit"}': 2.0}
    text = metrics.exposition([mine, other])
    assert '\nsamembed_cache_total{result="hit"} 7\n' in text
    assert "# TYPE samembed_cache_total counter" in text
    # The other pid does not exist: its gauge is gone, its counters stay.
    assert f'samembed_cache_entries{{pid="{2**22 + 1}"}}' not in text


def test_a_given_metrics_directory_is_created_and_emptied_of_old_counts(
    embedded_db: EmbeddedDB, static_files: None, tmp_path: Path,
) -> None:
    where = tmp_path / "run" / "metrics"  # as the Kubernetes manifest sets it: not there yet
    server = Gunicorn(embedded_db.uri, METRICS_DIR=str(where))
    server.start()
    try:
        (where / "1.json").write_text("{}")  # a previous run's: ignored after a restart
        assert get(server, "/metrics")[0] == 200
        assert any(p.name.endswith(".json") and p.name != "1.json" for p in where.iterdir())
    finally:
        server.stop()
    server = Gunicorn(embedded_db.uri, METRICS_DIR=str(where))
    server.start()
    try:
        assert not (where / "1.json").exists()
    finally:
        server.stop()


HIT = 'samembed_cache_total{result="hit"}'


def _dead_worker(where: Path, name: str, pid: int, hits: float,
                 started: int | None = 1) -> None:
    (where / name).write_text(json.dumps({
        "id": Path(name).stem, "pid": pid, "started": started, "counters": {HIT: hits},
        "histograms": {}, "gauges": {"samembed_cache_entries": 9}}))


def _hits(text: str) -> float:
    found = re.search(r'^samembed_cache_total\{result="hit"\} (\S+)$', text, re.M)
    return float(found[1]) if found else 0.0


def test_a_dead_workers_counts_survive_a_new_process_that_got_its_pid(tmp_path: Path) -> None:
    # The file a previous process with this very pid left (pids are reused).
    _dead_worker(tmp_path, f"{os.getpid()}.json", os.getpid(), 5.0)
    with override_settings(METRICS_DIR=str(tmp_path)):
        mine = _hits(metrics.exposition([metrics.snapshot()]))
        total = _hits(metrics.exposition(metrics.collect()))
    assert total == mine + 5.0


def test_dead_workers_files_are_folded_away_and_totals_never_go_back(tmp_path: Path) -> None:
    for n in range(3):
        _dead_worker(tmp_path, f"gone-{n}.json", 2**22 + 1 + n, 2.0, started=None)
    with override_settings(METRICS_DIR=str(tmp_path)):
        mine = _hits(metrics.exposition([metrics.snapshot()]))
        first = metrics.exposition(metrics.collect())
        again = metrics.exposition(metrics.collect())
    assert _hits(first) == _hits(again) == mine + 6.0
    assert sorted(p.name for p in tmp_path.glob("*.json") if p.name != "retired.json") == [
        f"{metrics.snapshot()['id']}.json"]
    # Dead workers' gauges are not shown; their counters are.
    assert 'samembed_cache_entries{pid="4194305"}' not in again
