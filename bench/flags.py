"""What feature flags cost on a cache hit: `/e/demo` req/s with 0 and 20 flags.

Not part of `make bench`: run it by hand,

    .venv/bin/python bench/flags.py      # BENCH_SECONDS (20) per scenario

It starts the bench's stack (its own embedded MongoDB with the demo stories,
gunicorn as shipped, 2 workers) and drives `/e/demo?template=grid&o=<origin>`
(the URL the loader writes) with wrk at 50 connections: with no flags, with 20
flags (two that change the embed, `grid-v2` sticky on the origin and
`img-xlarge` on the story, both at 5 %, and 18 others), and with none again, so
the noise of the machine is seen next to the difference. It also times one
evaluation in-process (`asgi.flagged_key` with 0 and 20 flags: what flags add to a hit).
Results go to var/bench/flags.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_SECONDS", "20")

from bench.run import BROWSER, OUT, ROOT, fetch, gunicorn, prepare, scenario  # noqa: E402

SECONDS = int(os.environ["BENCH_SECONDS"])
URL_PATH = "/e/demo?template=grid&o=v03177"

CREATE = """
from samembed.repositories import flags
flags.create("grid-v2", "bench", unit="origin", percent="5")
flags.create("img-xlarge", "bench", unit="story", percent="5")
for i in range(18):
    flags.create(f"other-{i}", "bench", unit="story", percent=str(i * 5))
"""
DELETE = """
from samembed.repositories import flags
for f in flags.all_flags():
    flags.delete(f, "bench")
"""


def manage_shell(env: dict[str, str], code: str) -> None:
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)


def evaluation_ns() -> dict[str, float]:
    """ns per hit for the key of the loader's URL (`asgi.flagged_key`: the origin
    split and the flags' part, remembered per URL while the snapshot stands) with
    0 and with 20 flags, and what the 20 add."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")
    from samembed import flags
    from samembed.asgi import flagged_key

    found = {}
    for label, docs in (("0 flags", []), ("20 flags", [
            {"key": "grid-v2", "rollout": 500, "unit": "origin"},
            {"key": "img-xlarge", "rollout": 500, "unit": "story"},
            *({"key": f"other-{i}", "rollout": i * 500} for i in range(18))])):
        flags.install(flags.Snapshot.build(docs))
        flagged_key("/e/demo", b"template=grid&o=v03177")
        n = 200_000
        flagged = min(timeit.repeat(lambda: flagged_key("/e/demo", b"template=grid&o=v03177"),
                                    number=n, repeat=5)) / n
        found[f"{label}, flagged_key"] = round(flagged * 1e9, 1)
        # A URL met for the first time (a new origin): the flags evaluated for it.
        queries = [f"template=grid&o=u{i:05d}".encode() for i in range(20_000)]
        started = time.perf_counter()
        for query in queries:
            flagged_key("/e/demo", query)
        found[f"{label}, first time per URL"] = round(
            (time.perf_counter() - started) / len(queries) * 1e9, 1)
    found["20 flags less 0"] = round(found["20 flags, flagged_key"]
                                     - found["0 flags, flagged_key"], 1)
    return found


def unit_on() -> str:
    """An origin unit that grid-v2 at 5 % lets in."""
    from samembed.flags import bucket

    return next(u for u in map(str, range(10_000)) if bucket("grid-v2", u) < 500)


def wait_for(url: str, new: bool) -> None:
    """Until 20 answers in a row (both workers) are on the new grid (or the old)."""
    deadline, run = time.monotonic() + 10, 0
    while run < 20 and time.monotonic() < deadline:
        run = run + 1 if (b"data-template-version" in fetch(url)[0]) == new else 0


def main() -> None:
    db, env = prepare()
    results = {}
    try:
        with gunicorn(env) as port:
            base = f"http://127.0.0.1:{port}"
            url = base + URL_PATH
            # The bench's database comes with its two embed flags (bench/run.py
            # FEATURE_FLAGS): none at first here.
            manage_shell(env, DELETE)
            wait_for(f"{base}/e/demo?template=grid&o={unit_on()}", False)
            results["0 flags"] = scenario("0 flags", url, 50, SECONDS, headers=BROWSER)
            manage_shell(env, CREATE)
            # The watch of each worker has the flags within its interval; wait for a
            # render that shows them rather than for time to pass.
            wait_for(f"{base}/e/demo?template=grid&o={unit_on()}", True)
            results["20 flags"] = scenario("20 flags", url, 50, SECONDS, headers=BROWSER)
            manage_shell(env, DELETE)
            wait_for(f"{base}/e/demo?template=grid&o={unit_on()}", False)
            results["0 flags again"] = scenario("0 flags again", url, 50, SECONDS,
                                                headers=BROWSER)
    finally:
        db.stop()
    summary = {name: {k: r[k] for k in ("requests_per_s", "p50_ms", "p99_ms", "errors")}
               for name, r in results.items()}
    summary["evaluation_ns_per_hit"] = evaluation_ns()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "flags.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
