"""An analytics beacon's cost in this process (`.venv/bin/python bench/beaconprofile.py`):
microseconds per beacon on the request side (`collect.Endpoint`: checks, rate
limit, queue, 204) and on the counting side (`Counter.drain`: parse, verify,
count, fold into the reach sketch), without sockets or a load generator, and
with `--profile` the top of each side's profile by own time.

What a beacon costs a worker under load is more (uvicorn's HTTP handling, the
socket): `bench/events.py read-path` and `make bench` measure that.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import SECRET  # noqa: E402

BEACONS = 20_000
AGENT = b"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"


def main() -> None:
    os.environ.setdefault("SECRET_KEY", SECRET)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")
    import django

    django.setup()
    from samembed.analytics import collect, tokens
    from samembed.analytics.collect import Counter, Endpoint

    story = "65f0c0ffee0000000000beef"
    token = tokens.sign(story, "")
    bodies = [(f'{{"k":"{token}","s":"{story}","p":"r00{i:016d}","o":"https://site{i % 7}'
               f'.example","t":"grid","n":5000,"e":[["load",null,10],["view",null,1200]]}}'
               ).encode() for i in range(BEACONS)]
    day = collect._hour(time.time()).replace(hour=0)

    def counter() -> Counter:
        c = Counter()
        c.salts = {day: b"s" * 16}  # as the flush thread would have fetched it
        return c

    async def post(endpoint: Endpoint, body: bytes, i: int) -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop()

        async def send(message: dict[str, Any]) -> None:
            return None

        await endpoint({"type": "http", "method": "POST", "path": collect.PATH,
                        "query_string": b"", "client": (f"10.0.{i >> 8 & 255}.{i & 255}", 5000),
                        "headers": [(b"content-type", b"text/plain;charset=UTF-8"),
                                    (b"user-agent", AGENT),
                                    (b"content-length", str(len(body)).encode())]},
                       receive, send)

    async def requests(endpoint: Endpoint) -> None:
        for i, body in enumerate(bodies):
            await post(endpoint, body, i)

    profile = "--profile" in sys.argv[1:]
    for side in ("request", "drain"):
        c = counter()
        endpoint = Endpoint(c, start=False)
        profiler = cProfile.Profile()
        if side == "drain":
            asyncio.run(requests(endpoint))
            started = time.perf_counter()
            if profile:
                profiler.enable()
            c.drain()
        else:
            started = time.perf_counter()
            if profile:
                profiler.enable()
            asyncio.run(requests(endpoint))
        seconds = time.perf_counter() - started
        profiler.disable()
        print(f"{side} side: {seconds / BEACONS * 1e6:.2f} µs per beacon ({BEACONS} beacons"
              f"{', under the profiler' if profile else ''})")
        if profile:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
