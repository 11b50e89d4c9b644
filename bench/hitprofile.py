"""The cached hit path under cProfile (`make bench-profile`): what one hit costs in
this process and where its time goes, without sockets or a load generator.

Starts the bench's database with the demo stories and the bench's flags
(bench/run.py `prepare`), runs the ASGI application's lifespan in this process
(the version and flags watches start), fills the cache with the main request
(`FEATURED`, br), then times HITS calls of the application with it and prints
microseconds per hit and the top of the profile by own time. The figures are
for one process with the cache hot; a worker under load pays more per hit
(memory, the event loop, the socket), which `make bench` measures.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen, run  # noqa: E402
from samembed.workers import PREPARED  # noqa: E402

HITS = loadgen.positive_seconds("PROFILE_HITS", "100000", "hits")


def main() -> None:
    db, env = run.prepare()
    try:
        for name in ("SECRET_KEY", "DEBUG", "LOG_LEVEL", "EMBED_SNAPSHOT_DIR", "MONGODB_URI"):
            os.environ[name] = env[name]
        os.environ["METRICS_DIR"] = tempfile.mkdtemp(prefix="samembed-profile-")
        asyncio.run(profile())
    finally:
        db.stop()


async def profile() -> None:
    from samembed import asgi

    app = asgi.application
    path, _, query = run.FEATURED.partition("?")
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "scheme": "http", "http_version": "1.1",
             "headers": [(b"host", b"127.0.0.1"), (b"accept-encoding", b"br")],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
             "asgi": {"version": "3.0"},
             # As the shipped worker offers it (samembed.workers): a hit is one message.
             "extensions": {PREPARED: {}}}
    sent: list[dict[str, Any]] = []
    requested = [False]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        # The request once, then (Django waits for a disconnect) nothing.
        if not requested[0]:
            requested[0] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def life_send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    await lifespan.put({"type": "lifespan.startup"})
    task = asyncio.ensure_future(app({"type": "lifespan"}, lifespan.get, life_send))
    await started.wait()
    await asyncio.sleep(1.0)  # the flags watch's first look
    for _ in range(3):
        sent.clear()
        requested[0] = False
        await app(dict(scope), receive, send)
    if b"server-timing: cache;desc=hit\r\n" not in sent[0].get("head", b""):
        raise loadgen.BenchError(f"the main request is not a prepared hit: {sent[:1]!r:.300}")

    t0 = time.perf_counter()
    for _ in range(HITS):
        sent.clear()
        await app(dict(scope), receive, send)
    print(f"{(time.perf_counter() - t0) / HITS * 1e6:.2f} µs per hit ({HITS} hits, "
          f"{run.FEATURED}, br), without the profiler")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(HITS):
        sent.clear()
        await app(dict(scope), receive, send)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    await lifespan.put({"type": "lifespan.shutdown"})
    await task


if __name__ == "__main__":
    main()
