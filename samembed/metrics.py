"""Prometheus metrics for every worker of an instance, served at `/metrics`.

Each process counts in memory (a dict increment, cheap enough for the ASGI fast
path, which answers cache hits in microseconds) and a daemon thread writes a
snapshot to `<METRICS_DIR>/<id>.json` once a second, where the id is random per
process (a pid is reused, and a new process must not overwrite a dead one's
counts). `/metrics`, answered by whichever worker the request reaches, writes its
own snapshot first, then sums every file in the directory, so a scrape sees all
workers. Snapshots of workers that exited (recycled by `max_requests`; a process
is known by its pid and its start time, so a reused pid is not mistaken for it)
are folded into `retired.json` under a lock and removed, so totals never go
backwards and files do not pile up; per-worker gauges (memory, cache size) are
shown for live workers only.

`deploy/gunicorn.conf.py` gives each gunicorn master a fresh directory (or
METRICS_DIR) before the workers fork. Without a directory (tests in one
process, `manage.py` commands) `/metrics` shows this process alone.

What is counted:

    samembed_requests_total{route,status}          requests answered
    samembed_request_duration_seconds{route}       time to answer (histogram)
    samembed_cache_total{result=hit|miss|stale}    read-path cache outcomes
    samembed_db_seconds / samembed_render_seconds  per cache miss (histograms)
    samembed_worker_resident_memory_bytes{pid}     per live worker
    samembed_cache_entries{pid}, samembed_cache_bytes{pid}
    samembed_database_up{pid}, samembed_circuit_open{pid}   the database as each
                                                   worker sees it (embed/cache.Breaker)
    samembed_flag_events_total{flag,variant,kind}  flags' guardrail counts (embed/guard.py)

Snapshots also carry the big screens each worker saw polling (`screens`, not
exported): the producer remote sums them into "3 screens connected".
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from bisect import bisect_left
from pathlib import Path

# Seconds; the read path lives in the first few buckets.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
FLUSH_INTERVAL = 1.0

HELP = {
    "samembed_requests_total": ("counter", "Requests answered, by route and status."),
    "samembed_request_duration_seconds": ("histogram", "Time to answer a request, by route."),
    "samembed_cache_total": ("counter", "Read-path response cache outcomes (hit, miss, stale)."),
    "samembed_db_seconds": ("histogram", "Database time of one read-path render."),
    "samembed_render_seconds": ("histogram", "Template time of one read-path render."),
    "samembed_worker_resident_memory_bytes": ("gauge", "Resident memory of each live worker."),
    "samembed_cache_entries": ("gauge", "Entries in each live worker's response cache."),
    "samembed_cache_bytes": ("gauge", "Bytes accounted to each live worker's response cache."),
    "samembed_database_up": ("gauge", "1 when each live worker's last database call worked."),
    "samembed_circuit_open": ("gauge",
                              "1 while each live worker's read-path breaker refuses renders."),
    "samembed_flag_events_total": ("counter", "Embed flags' exposures, server and client "
                                   "errors, by flag, variant and kind (embed/guard.py)."),
}


def series(name: str, **labels: str) -> str:
    """The series name in exposition format: `name{a="b"}` (labels sorted)."""
    if not labels:
        return name
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


class Tally:
    """The hits of one kind of fast-path answer (the counters it adds one to, the
    duration histogram it goes in), counted in its own attributes and added to
    the registry's figures when they are read (`snapshot`): a hit then costs two
    attribute increments instead of dictionary updates. One writer (the event
    loop's thread), like its registry."""

    __slots__ = ("counters", "duration", "hits", "quick", "quick_seconds")

    def __init__(self, counters: tuple[str, ...], duration: str) -> None:
        self.counters = counters
        self.duration = duration
        self.hits = 0
        # Hits within the first histogram bucket, and their seconds; slower ones go
        # to the registry's histogram as they happen.
        self.quick = 0
        self.quick_seconds = 0.0


# A hit this fast falls in the histogram's first bucket (bisect_left: <= the bound).
QUICK = BUCKETS[0]


class Registry:
    """Counters and histograms of one process, keyed by series name.

    Increments are plain dict updates without a lock: the fast path and Django's
    sync thread write different registries (`fast` and `app` below), so each
    registry has one writer thread and the flush thread only copies. Any other
    thread writes `threads`, a `LockedRegistry`.
    """

    def __init__(self) -> None:
        self.counters: dict[str, float] = {}
        # series -> [count per bucket..., count above the last bucket, sum]
        self.histograms: dict[str, list[float]] = {}
        self.tallies: dict[tuple[tuple[str, ...], str], Tally] = {}

    def tally(self, counters: tuple[str, ...], duration: str) -> Tally:
        """The one `Tally` of these series in this registry."""
        found = self.tallies.get((counters, duration))
        if found is None:
            found = self.tallies[(counters, duration)] = Tally(counters, duration)
        return found

    def inc(self, key: str, value: float = 1.0) -> None:
        self.counters[key] = self.counters.get(key, 0.0) + value

    def counts(self) -> dict[str, float]:
        """Every counter of this registry as it stands, the tallies' hits added in."""
        found = dict(list(self.counters.items()))
        for tally in list(self.tallies.values()):
            hits = tally.hits
            if hits:
                for key in tally.counters:
                    found[key] = found.get(key, 0.0) + hits
        return found

    def clear(self) -> None:
        """Every figure back to nothing. The tallies stay, zeroed: their holders
        (the fast path's remembered answers) go on counting in them."""
        self.counters.clear()
        self.histograms.clear()
        for tally in list(self.tallies.values()):
            tally.hits = tally.quick = 0
            tally.quick_seconds = 0.0

    def inc_all(self, keys: tuple[str, ...]) -> None:
        """`inc` of each series in `keys` by one (the fast path's hit, in one call)."""
        counters = self.counters
        for key in keys:
            counters[key] = counters.get(key, 0.0) + 1.0

    def observe(self, key: str, seconds: float) -> None:
        h = self.histograms.get(key)
        if h is None:
            h = self.histograms[key] = [0.0] * (len(BUCKETS) + 2)
        h[bisect_left(BUCKETS, seconds)] += 1
        h[-1] += seconds


class LockedRegistry(Registry):
    """A registry several threads write (background threads, each rarely): a
    read-modify-write of one series from two threads at once would lose one."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def inc(self, key: str, value: float = 1.0) -> None:
        with self._lock:
            super().inc(key, value)

    def observe(self, key: str, seconds: float) -> None:
        with self._lock:
            super().observe(key, seconds)


fast = Registry()  # the event loop's (the ASGI fast path)
app = Registry()  # Django's request thread's
threads = LockedRegistry()  # every other thread's: analytics' flush, worker shutdown


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The name in parentheses may hold spaces; field 22 (starttime) follows it.
    fields = stat.rsplit(b")", 1)[-1].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


_self: tuple[int, str, int | None] | None = None


def _identity() -> tuple[str, int | None]:
    """This process's snapshot id and start time, made again after a fork."""
    global _self
    pid = os.getpid()
    if _self is None or _self[0] != pid:
        _self = (pid, f"{secrets.token_hex(8)}-{int(time.time())}", process_start(pid))
    return _self[1], _self[2]


RETIRED = "retired.json"


def snapshot() -> dict[str, object]:
    """This process's figures, as written to its file."""
    from samembed.embed.cache import response_cache

    counters: dict[str, float] = {}
    histograms: dict[str, list[float]] = {}
    for registry in (fast, app, threads):
        for key, value in registry.counts().items():
            counters[key] = counters.get(key, 0.0) + value
        for key, h in list(registry.histograms.items()):
            mine = histograms.setdefault(key, [0.0] * len(h))
            for i, v in enumerate(h):
                mine[i] += v
        for tally in list(registry.tallies.values()):
            quick, quick_seconds = tally.quick, tally.quick_seconds
            if quick:
                mine = histograms.setdefault(tally.duration, [0.0] * (len(BUCKETS) + 2))
                mine[0] += quick
                mine[-1] += quick_seconds
    from samembed.embed.live import screens

    cache = response_cache()
    ident, started = _identity()
    return {
        "id": ident,
        "pid": os.getpid(),
        "started": started,
        # Open big screens by story, for the producer remote (embed/live.py).
        "screens": screens.snapshot(),
        "counters": counters,
        "histograms": histograms,
        "gauges": {
            "samembed_worker_resident_memory_bytes": _rss_bytes(),
            "samembed_cache_entries": len(cache),
            "samembed_cache_bytes": cache.nbytes,
            "samembed_database_up": 0 if cache.breaker.failures else 1,
            "samembed_circuit_open": 0 if cache.breaker.state == "closed" else 1,
        },
    }


def directory() -> Path | None:
    from django.conf import settings

    return Path(settings.METRICS_DIR) if settings.METRICS_DIR else None


def flush() -> None:
    """Write this process's snapshot atomically (rename), if there is a directory."""
    where = directory()
    if where is None:
        return
    _write(where, f"{_identity()[0]}.json", snapshot())


def _write(where: Path, name: str, data: dict[str, object]) -> None:
    # Readers see the old file or the new one, never half of one.
    tmp = where / f".{name}.{os.getpid()}.tmp"
    tmp.write_bytes(json.dumps(data).encode())
    os.replace(tmp, where / name)


def _live(snap: dict[str, object]) -> bool:
    """Whether the process that wrote `snap` is still running (not a reuse of its pid)."""
    pid = snap.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    started = snap.get("started")
    if isinstance(started, int) and os.path.isdir("/proc"):
        return process_start(pid) == started
    return pid == os.getpid() or _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect() -> list[dict[str, object]]:
    """Every worker's latest snapshot (this one's fresh)."""
    where = directory()
    if where is None:
        return [snapshot()]
    flush()
    found: list[tuple[Path, dict[str, object]]] = []
    dead: list[tuple[Path, dict[str, object]]] = []
    for path in where.glob("*.json"):
        if path.name == RETIRED:
            continue
        snap = _read(path)
        if snap is None:
            continue
        (found if _live(snap) else dead).append((path, snap))
    retired = _retire(where, dead) if dead else _read(where / RETIRED)
    return [snap for _, snap in found] + ([retired] if retired else [])


def _read(path: Path) -> dict[str, object] | None:
    try:
        snap = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None  # replaced or removed while read: next scrape sees it
    # Anything else in the directory is not ours to count.
    if isinstance(snap, dict) and {"pid", "counters", "histograms", "gauges"} <= snap.keys():
        return snap
    return None


def _retire(where: Path, dead: list[tuple[Path, dict[str, object]]]) -> dict[str, object]:
    """Fold dead workers' counters into `retired.json`, then remove their files.

    Under a lock, so two scrapes never fold one file twice; the ids folded are kept
    (until their file is gone) so a crash between the write and the removal does not
    count a file again at the next scrape.
    """
    with open(where / ".retired.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        retired = _read(where / RETIRED) or {
            "id": "retired", "pid": 0, "counters": {}, "histograms": {}, "gauges": {}}
        merged = {str(i) for i in retired.get("merged", []) or []  # type: ignore[attr-defined]
                  if (where / f"{i}.json").exists()}
        counters: dict[str, float] = retired["counters"]  # type: ignore[assignment]
        histograms: dict[str, list[float]] = retired["histograms"]  # type: ignore[assignment]
        for path, snap in dead:
            ident = str(snap.get("id") or path.stem)
            if ident in merged or not path.exists():
                continue
            merged.add(ident)
            for key, value in snap["counters"].items():  # type: ignore[attr-defined]
                counters[key] = counters.get(key, 0.0) + value
            for key, h in snap["histograms"].items():  # type: ignore[attr-defined]
                total = histograms.setdefault(key, [0.0] * len(h))
                for i, v in enumerate(h):
                    total[i] += v
        retired["merged"] = sorted(merged)
        _write(where, RETIRED, retired)
        for path, _ in dead:
            path.unlink(missing_ok=True)
    return retired


def exposition(snapshots: list[dict[str, object]]) -> str:
    """The Prometheus text format (version 0.0.4) of the summed snapshots."""
    counters: dict[str, float] = {}
    histograms: dict[str, list[float]] = {}
    gauges: dict[str, list[tuple[int, float]]] = {}
    for snap in snapshots:
        for key, value in snap["counters"].items():  # type: ignore[attr-defined]
            counters[key] = counters.get(key, 0.0) + value
        for key, h in snap["histograms"].items():  # type: ignore[attr-defined]
            total = histograms.setdefault(key, [0.0] * len(h))
            for i, v in enumerate(h):
                total[i] += v
        pid = int(snap["pid"])  # type: ignore[call-overload]
        if snap["gauges"] and _live(snap):
            for name, value in snap["gauges"].items():  # type: ignore[attr-defined]
                gauges.setdefault(name, []).append((pid, value))

    by_name: dict[str, list[str]] = {}
    for key in sorted(counters):
        name = key.split("{", 1)[0]
        by_name.setdefault(name, []).append(f"{key} {counters[key]:g}")
    for key in sorted(histograms):
        name, _, labels = key.partition("{")
        labels = labels.rstrip("}")
        h = histograms[key]
        sep = "," if labels else ""
        lines = by_name.setdefault(name, [])
        cumulative = 0.0
        for bound, count in zip(BUCKETS, h, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {cumulative:g}')
        cumulative += h[len(BUCKETS)]
        lines.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {cumulative:g}')
        suffix = f"{{{labels}}}" if labels else ""
        lines.append(f"{name}_sum{suffix} {h[-1]:.6f}")
        lines.append(f"{name}_count{suffix} {cumulative:g}")
    for name, values in sorted(gauges.items()):
        by_name[name] = [f'{name}{{pid="{pid}"}} {value:g}' for pid, value in sorted(values)]

    out = []
    for name in sorted(by_name):
        kind, text = HELP.get(name, ("untyped", name))
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(by_name[name])
    return "\n".join(out) + "\n"


class Flusher:
    """The per-process thread that writes the snapshot every FLUSH_INTERVAL."""

    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-flush", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                flush()
            except OSError:
                time.sleep(self.interval)  # directory gone (shutting down): try later

    def start(self) -> Flusher:
        if directory() is not None:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        try:
            flush()
        except OSError:
            pass
