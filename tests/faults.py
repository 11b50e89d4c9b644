"""A database outage under load, for the fault test (`make test`, a few seconds) and
the bench (`make bench`, 30 s): the same run, the same figures.

Readers ask for published stories on new connections (so every worker of every
instance is asked) from a few threads, and a writer pushes posts, while the
database is first stopped (SIGSTOP: it hangs, every call runs into its deadline)
and then killed (SIGKILL: connections refused). During the outage a worker is
added to the running instance (SIGTTIN: a fresh process, empty cache) and a new
instance is started on the same host, sharing the last good copies on disk; then
the database is started again and the run measures how long until every answer
is fresh.

Every thread is bounded in time, every server is stopped by whoever started it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samembed.embedded_db import EmbeddedDB
from tests.servers import Gunicorn


@dataclass
class Answer:
    started: float
    seconds: float
    port: int
    path: str
    status: int  # 0: no HTTP answer at all
    stale: bool = False
    retry_after: str | None = None


@dataclass
class Figures:
    reads: list[Answer] = field(default_factory=list)
    writes: list[Answer] = field(default_factory=list)
    stopped_at: float = 0.0
    killed_at: float = 0.0
    back_at: float = 0.0
    ended_at: float = 0.0
    new_instance: dict[str, int] = field(default_factory=dict)  # path -> status
    new_instance_stale: bool = False
    added_at: float = 0.0
    added_worker: int = 0
    # What the added worker's cache held by the end (from /metrics): it served.
    added_worker_entries: float = 0.0
    new_instance_at: float = 0.0
    readiness: list[int] = field(default_factory=list)

    def during(self) -> list[Answer]:
        return [a for a in self.reads if self.stopped_at <= a.started < self.back_at]

    def summary(self) -> dict[str, Any]:
        """The figures the issue asks for."""
        during = sorted(a.seconds for a in self.during())
        fresh_after = [a for a in self.reads if a.started >= self.back_at]
        last_stale = max((a.started + a.seconds for a in fresh_after if a.stale),
                         default=self.back_at)
        return {
            "outage_s": round(self.back_at - self.stopped_at, 2),
            "added_worker_s": round(self.added_at - self.stopped_at, 3),
            "added_worker_cache_entries": self.added_worker_entries,
            "new_instance_s": round(self.new_instance_at - self.stopped_at, 3),
            "hung_s": round(self.killed_at - self.stopped_at, 2),
            "reads": len(self.reads),
            "reads_during_outage": len(during),
            "reads_200_share": sum(a.status == 200 for a in self.reads) / max(len(self.reads), 1),
            # status, path, port, seconds from the database's stop
            "reads_non_200": [(a.status, a.path, a.port, round(a.started - self.stopped_at, 3))
                              for a in self.reads if a.status != 200][:20],
            "outage_p50_ms": round(_percentile(during, 0.50) * 1000, 2),
            "outage_p99_ms": round(_percentile(during, 0.99) * 1000, 2),
            "outage_max_ms": round((during[-1] if during else 0.0) * 1000, 2),
            "outage_stale_share": round(sum(a.stale for a in self.during())
                                        / max(len(during), 1), 3),
            "recovery_s": round(last_stale - self.back_at, 3),
            "writes": len(self.writes),
            "writes_by_status": _count(a.status for a in self.writes),
            "writes_5xx_without_retry_after": sum(
                1 for a in self.writes
                if a.status >= 500 and not (a.status == 503 and a.retry_after)),
            "writes_no_answer": sum(a.status == 0 for a in self.writes),
            "writes_max_s": round(max((a.seconds for a in self.writes), default=0.0), 2),
            "new_instance": self.new_instance,
            "new_instance_stale": self.new_instance_stale,
            "readiness_statuses": _count(self.readiness),
        }


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else 0.0


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return counts


def request(port: int, path: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10) -> Answer:
    """One request on a new connection; status 0 when no HTTP answer came."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers={"Accept-Encoding": "br", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return Answer(started, time.monotonic() - started, port, path, response.status,
                      response.getheader("X-Samembed-Cache") == "stale",
                      response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException):
        return Answer(started, time.monotonic() - started, port, path, 0)
    finally:
        conn.close()


def worker_pids(master: int) -> list[int]:
    """The gunicorn workers of `master` (its children)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _gauge(port: int, name: str, pid: int) -> float:
    """One worker's gauge from /metrics (written by each worker once a second)."""
    value = 0.0

    def found() -> bool:
        nonlocal value
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        match = re.search(rf'^{name}\{{pid="{pid}"\}} ([0-9.e+]+)$', text, re.M)
        value = float(match.group(1)) if match else 0.0
        return value > 0

    wait_for(found, 5, step=0.25)
    return value


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def run(db: EmbeddedDB, server: Gunicorn, new_instance: Callable[[], Gunicorn],
        paths: list[str], write: tuple[str, dict[str, str], Callable[[int], bytes]],
        hung: float, killed: float, after: float = 4.0, readers: int = 4) -> Figures:
    """Load `server` (and the new instance once it is up) through an outage of at
    least `hung` + `killed` seconds; the new instance is stopped before returning."""
    figures = Figures()
    ports = [server.port]
    stop = threading.Event()
    lock = threading.Lock()

    def read(n: int) -> None:
        i = n
        while not stop.is_set():
            i += 1
            answer = request(ports[i % len(ports)], paths[i % len(paths)])
            with lock:
                figures.reads.append(answer)

    def push() -> None:
        path, headers, body = write
        n = 0
        while not stop.is_set():
            n += 1
            # As long as the shipped proxies wait for an answer (proxy_read_timeout).
            answer = request(server.port, path, "POST", body(n),
                             {"Content-Type": "application/json", **headers}, timeout=30)
            with lock:
                figures.writes.append(answer)
            stop.wait(0.2)

    def probe_readiness() -> None:
        while not stop.wait(0.5):
            for port in list(ports):
                status = request(port, "/readyz", timeout=2).status
                with lock:
                    figures.readiness.append(status)

    threads = [threading.Thread(target=read, args=(n,), daemon=True) for n in range(readers)]
    threads += [threading.Thread(target=push, daemon=True),
                threading.Thread(target=probe_readiness, daemon=True)]
    instance: Gunicorn | None = None
    assert db.process is not None
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)  # load before the outage: the baseline
        figures.stopped_at = time.monotonic()
        os.kill(db.process.pid, signal.SIGSTOP)
        # A worker added while the database hangs starts with an empty cache.
        master = server.process.pid  # type: ignore[union-attr]
        before = set(worker_pids(master))
        os.kill(master, signal.SIGTTIN)
        assert wait_for(lambda: bool(set(worker_pids(master)) - before), 10), "no worker added"
        figures.added_worker = (set(worker_pids(master)) - before).pop()
        figures.added_at = time.monotonic()
        time.sleep(hung)
        figures.killed_at = time.monotonic()
        os.kill(db.process.pid, signal.SIGKILL)
        db.process.wait()
        started = time.monotonic()
        instance = new_instance()
        instance.start()
        for path in paths:
            answer = request(instance.port, path)
            figures.new_instance[path] = answer.status
            figures.new_instance_stale = figures.new_instance_stale or answer.stale
        figures.new_instance_at = time.monotonic()
        ports.append(instance.port)
        time.sleep(max(0.0, killed - (time.monotonic() - started)))
        figures.added_worker_entries = _gauge(server.port, "samembed_cache_entries",
                                              figures.added_worker)
        db.start()
        figures.back_at = time.monotonic()
        time.sleep(after)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        figures.ended_at = time.monotonic()
        if instance is not None:
            instance.stop()
        if db.process is not None and db.process.poll() is None:
            os.kill(db.process.pid, signal.SIGCONT)
    return figures


def report(figures: Figures) -> str:
    """The summary as one JSON document."""
    return json.dumps(figures.summary(), indent=2, default=str)
