"""The bench's own instruments (bench/loadgen.py): the open-loop generator charges a
stalled server for every request it should have been sent, and the bench refuses
bad settings and a busy machine with a message that says what to do."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import loadgen, readme
from samembed.embedded_db import free_port


class StallingServer:
    """HTTP/1.1 keep-alive on loopback answering "ok" at once, except that every
    answer due in [stall_from, stall_from + stall_for) seconds after its first
    request is held until that window ends: a server pausing as a GC or a
    database failover would."""

    def __init__(self, stall_from: float, stall_for: float) -> None:
        self.port = free_port()
        self.stall_from, self.stall_for = stall_from, stall_for
        self.first: float | None = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                now = time.monotonic()
                if self.first is None:
                    self.first = now
                since = now - self.first
                if self.stall_from <= since < self.stall_from + self.stall_for:
                    await asyncio.sleep(self.stall_from + self.stall_for - since)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        # Handlers still waiting on their clients' next request end here.
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    def __enter__(self) -> StallingServer:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return loadgen.build(tmp_path_factory.mktemp("openloop"))


@pytest.fixture
def stalling() -> Iterator[StallingServer]:
    with StallingServer(stall_from=1.0, stall_for=1.0) as server:
        yield server


def test_open_loop_latency_counts_the_wait_of_requests_due_during_a_stall(
        generator: Path, stalling: StallingServer) -> None:
    result = loadgen.open_loop(generator, f"http://127.0.0.1:{stalling.port}/", rate=500,
                               connections=10, seconds=3, interval=1)

    # Every due request was sent and answered: the rate is the one offered.
    assert result["errors"] == 0 and result["unsent"] == 0
    assert 1400 <= result["requests"] <= 1500
    # A quarter-second stall would show a sixth of requests above 0.5 s: a second's
    # stall puts the p90 there and the p99 near the stall's length, measured from
    # when each request was due...
    assert result["p90_ms"] >= 300
    assert 800 <= result["p99_ms"] <= 1200
    # ...while timing from the actual send (what wrk reports) sees only the ten
    # requests that were in flight when it began.
    assert result["uncorrected"]["p90_ms"] < 50
    # The generator sent each as soon as its connection was free: the wait was the
    # server's, not the generator's own.
    assert result["sending"]["p90_ms"] < 50
    assert [i["interval"] for i in result["intervals"]] == [1, 2, 3]
    assert result["intervals"][0]["p99_ms"] < 100


def test_open_loop_sends_a_slot_due_just_before_the_end_late_rather_than_calling_it_unsent(
        generator: Path) -> None:
    # Rate 500 on 10 connections: each has a slot every 20 ms. Answers due in the
    # last 30 ms are held until 10 ms past the end, so about half the connections
    # have their last slot (due in the last 10 ms) behind an answer still on its way
    # at the end: one slot late each, as any tail would leave them.
    with StallingServer(stall_from=0.97, stall_for=0.04) as server:
        result = loadgen.open_loop(generator, f"http://127.0.0.1:{server.port}/", rate=500,
                                   connections=10, seconds=1, interval=1)

    assert result["errors"] == 0 and result["unsent"] == 0
    assert result["requests"] == 500
    # Charged from when they were due.
    assert result["max_ms"] >= 10
    assert result["uncorrected"]["max_ms"] >= 10
    assert set(result["intervals"][0]) >= {"uncorrected", "sending", "machine"}
    assert 0 <= result["intervals"][0]["machine"]["busy"] <= 1


def test_open_loop_reports_a_rate_it_could_not_send(generator: Path) -> None:
    with StallingServer(stall_from=0.0, stall_for=5.0) as server:
        result = loadgen.open_loop(generator, f"http://127.0.0.1:{server.port}/", rate=200,
                                   connections=2, seconds=1)

    # Two connections held for the whole second can send two of its 200 requests.
    assert result["unsent"] >= 190


@pytest.mark.parametrize("raw", ["0", "-5", "ten"])
def test_bench_seconds_must_be_a_positive_whole_number(
        monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("BENCH_SECONDS", raw)

    with pytest.raises(SystemExit) as refused:
        loadgen.positive_seconds("BENCH_SECONDS", "60")

    assert refused.value.code == 2
    assert f"BENCH_SECONDS={raw!r}" in str(refused.value)


def test_a_missing_program_is_named_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(SystemExit) as refused:
        loadgen.require("wrk", "nginx")

    assert refused.value.code == 2
    assert "apt-get install nginx wrk" in str(refused.value)


def test_figures_from_a_busy_machine_are_not_published(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_PUBLISH", raising=False)
    cores = os.cpu_count() or 1

    quiet, _ = loadgen.publishable([0.1 * cores, 0.1, 0.1])
    busy, why = loadgen.publishable([3.0 * cores, 2.0, 1.0])
    monkeypatch.setenv("BENCH_PUBLISH", "force")
    forced, forced_why = loadgen.publishable([3.0 * cores, 2.0, 1.0])

    assert quiet is True
    assert busy is False and "BENCH_PUBLISH=force" in why
    assert forced is True and "noisy" in forced_why


def test_the_readme_figures_name_the_command_and_date_of_each_result(
        tmp_path: Path) -> None:
    machine = {"date": "2026-12-02T21:00:00Z", "cores": 2, "load_average_before": [0.1, 0.2, 0.3]}
    (tmp_path / "workers.json").write_text(json.dumps({
        "command": "BENCH_SECONDS=10 make bench-workers", "machine": machine, "url": "/e/demo",
        "connections": 50, "seconds": 10,
        "models": {"uvicorn": {"1": {"requests_per_s": 20000.0, "p99_ms": 3.5}}}}))

    text = readme.section(tmp_path)

    assert text.startswith(readme.BEGIN) and text.endswith(readme.END)
    assert "`BENCH_SECONDS=10 make bench-workers`, 2026-12-02" in text
    assert "| uvicorn | 20,000 (3.5) |" in text
    # What was never published says so instead of showing old figures.
    assert "No published `bench` results yet" in text
    assert "No published `soak` results yet" in text
