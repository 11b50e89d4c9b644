"""`make bench` and `make soak`: the load-test rig and its report.

Starts a production-like stack by itself on loopback: its own embedded MongoDB
(var/bench/db, fresh each run) with the demo stories, gunicorn with
deploy/gunicorn.conf.py and production settings, and Debian's nginx with the
shipped deploy/nginx/ files (tests/servers.Nginx: only ports and paths changed).
wrk drives each scenario, bounded in time, in slices of SLICE seconds so that
throughput and latency are seen over time, not only on average.

Scenarios (`make bench`), in one run, side by side:

- ours:      the application alone (gunicorn, no proxy), FEATURED (the frame's URL
             with every read-path feature on), 50 connections, in alternating
             slices with
- raw_asgi:  bench/raw_asgi.py serving the same bytes under the same gunicorn
             settings (the application's ceiling), both with worker CPU per request;
- ours /e/demo, identity, c200: the plain URL, the uncompressed body, peak;
- peer:      a typical Django implementation of the same embed (bench/peer/:
             startproject middleware, cache_page with the local-memory cache,
             the same template, gunicorn gthread), 50 connections;
- stack:     as shipped, nginx -> gunicorn, 50 and 200 connections, in alternating
             slices with
- ceiling:   the same nginx serving the same bytes as a static file;
- peak:      ours and stack at 200 connections;
- cold:      cache disabled (EMBED_CACHE_TTL=0), every request renders from the
             database: 1 connection (latency, and application time from the
             Server-Timing header) and 50 (throughput);
- mixed:     through the stack: several stories and templates, the screen, the
             version polls of live pages (/live/), the story page, the API,
             the loader and images; and its cacheable part (what nginx answers
             from its caches) in alternating slices with the same bytes as nginx
             static files (`static_copies`);
- cold by posts: application time with 10, 50 and 100 posts on the page;
- edit:      seconds from a story edit until both workers serve it;
- analytics: cached /e/demo with event beacons to the events workers beside
             (deploy/gunicorn-events.conf.py) against without, saturated and at
             half the maximum offered rate (bench/events.py);
- fixed rates: ours and the stack at 25/50/75 % of their maximum, offered by the
             open-loop generator (bench/openloop.c via bench/loadgen.py), servers
             and generator pinned to different cores;
- outage:    readers and a writer while the database hangs (SIGSTOP) for half of
             OUTAGE_SECONDS (30) and is killed for the other half, a worker
             added and a new instance started meanwhile (tests/faults.py, the
             long run of tests/test_outage.py). `bench/run.py outage` runs it alone.

`make soak` (`bench/run.py soak`): SOAK_MINUTES (10) through the stack at half
the maximum measured by the last `make bench` (or a short measurement), after
SOAK_WARMUP (30) seconds at that rate that are not measured, offered
at that constant rate by the open-loop generator, with p99, p99.9 and each
worker's memory per SOAK_INTERVAL. `make bench-workers` (`bench/run.py workers`):
uvicorn, gthread and sync workers, 1 to 4 of each, on FEATURED.

Writes var/bench/summary.json (bench.json, workers.json, soak.json) and
var/bench/report.html (SVG charts), and the same to bench/results/ when the load
average before the run was low enough to trust (bench/loadgen.publishable;
BENCH_PUBLISH=force overrides). BENCH_SECONDS sets the length of each scenario
(default 60); bad values, a taken port and missing programs are refused (exit 2).
"""

from __future__ import annotations

import html
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from samembed.embedded_db import EmbeddedDB, free_port, port_open  # noqa: E402
from tests import faults  # noqa: E402
from tests.servers import Gunicorn, Nginx  # noqa: E402

OUT = ROOT / "var" / "bench"
BIN = Path(sys.executable).parent
SECONDS = loadgen.positive_seconds("BENCH_SECONDS", "60")
SLICE = min(5, SECONDS)
SOAK_MINUTES = loadgen.positive_seconds("SOAK_MINUTES", "10", "minutes")
SOAK_WARMUP = loadgen.positive_seconds("SOAK_WARMUP", "30", "seconds")
OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "30"))
SECRET = "bench-only-secret-key-that-is-long-enough-for-django-checks"  # noqa: S105
LUA = OUT / "lua"

Result = dict[str, Any]
# The main request: the frame's URL as the loader writes it (a paged template, the
# embedding origin `o`), with two embed-affecting flags at 5 % (FEATURE_FLAGS) so
# the cache key carries rollout variants; the frame has the analytics script.
FEATURED = "/e/demo?template=grid&o=v03177"
FEATURE_FLAGS = """
from samembed.repositories import flags
flags.create("grid-v2", "bench", unit="origin", percent="5")
flags.create("img-xlarge", "bench", unit="story", percent="5")
"""
# A published story of 100 posts (the demo's, repeated), so that a cold render's
# growth with the posts on the page can be measured: /e/bench-100?limit=N.
POSTS_STORY = """
from dataclasses import replace
from samembed.repositories import posts, stories
demo = stories.get_by_slug("demo")
story = stories.get_by_slug("bench-100") or stories.insert(
    slug="bench-100", title=demo.title, description=demo.description, status="published",
    default_template=demo.default_template, theme=demo.theme)
mine = posts.list_published(demo.id, 100)
for n in range(100):
    post = mine[n % len(mine)]
    posts.upsert(replace(post, story_id=story.id, external_id=f"{post.external_id}-{n}",
                         rank=float(n)))
stories.bump_version(story.id)
"""
COLD_POST_COUNTS = (10, 50, 100)
# What a browser sends, so the body is the brotli one (a tenth of the HTML).
BROWSER = ("Accept-Encoding: br",)

# wrk prints its own summary; these scripts add a machine-readable line.
DONE_LUA = """
function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p90_us":%d,'
    .. '"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, errors, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
"""
DELAY_LUA = """
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
function delay() return pause end
"""
MIXED_LUA = """
local paths = {%s}
local i = math.random(#paths)
function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "br, gzip"})
end
"""


def environment(**extra: str) -> dict[str, str]:
    # Last good copies of this run's own database only.
    return {**os.environ, "SECRET_KEY": SECRET, "WEB_CONCURRENCY": "2", "DEBUG": "false",
            "LOG_LEVEL": "WARNING", "EMBED_SNAPSHOT_DIR": str(OUT / "snapshots"), **extra}


@contextmanager
def gunicorn(env: dict[str, str], *args: str, port: int | None = None,
             cpus: str | None = None, events: bool = False) -> Iterator[int]:
    """gunicorn as shipped on `port` (a free one by default), on `cpus` if given;
    with `events`, the events workers (deploy/gunicorn-events.conf.py)."""
    port = port or free_port()
    config = "deploy/gunicorn-events.conf.py" if events else "deploy/gunicorn.conf.py"
    if port_open(port):
        raise loadgen.BenchError(f"port {port} is already taken by another process: "
                                 "stop it, or let the bench choose a free port")
    log = OUT / f"gunicorn-{port}.log"
    process = subprocess.Popen(
        loadgen.pinned(cpus, [str(BIN / "gunicorn"), "-c", config, *args]),
        cwd=ROOT, env={**env, "PORT": str(port), "EVENTS_BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    MASTERS[port] = process.pid
    try:
        deadline = time.monotonic() + 30
        while not port_open(port):
            if process.poll() is not None or time.monotonic() > deadline:
                taken = "Address already in use" in log.read_text(errors="replace")
                raise loadgen.BenchError(
                    f"port {port} was taken meanwhile by another process" if taken else
                    f"gunicorn on {port} did not start; see {log.relative_to(ROOT)}")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# The mixed load's cacheable answers as static files (`static_copies`): typed by
# their extension, brotli ones marked `.br.` in their name.
MIXED_CEILING = """    location ^~ /ceiling-mixed/ {
        root @DIR@/www;
        charset utf-8;
        types { text/html html; application/json json; text/javascript js;
                image/jpeg jpg; image/webp webp; application/octet-stream bin; }
        location ~ \\.br\\.[a-z]+$ {
            add_header Content-Encoding br;
            add_header Vary Accept-Encoding;
        }
    }
"""


@contextmanager
def nginx(upstream: int, ceiling_body: bytes | None = None) -> Iterator[Nginx]:
    """The shipped nginx; with `ceiling_body`, also /ceiling/demo: those bytes (the
    brotli body of /e/demo) as a static file, with the headers that say so, and
    /ceiling-mixed/ for the mixed load's copies (`static_copies`)."""
    extra = ""
    if ceiling_body is not None:
        extra = ('    location = /ceiling/demo {\n'
                 '        alias @DIR@/www/ceiling.html;\n'
                 '        default_type "text/html; charset=utf-8";\n'
                 '        add_header Content-Encoding br;\n'
                 '        add_header Vary Accept-Encoding;\n    }\n' + MIXED_CEILING)
    server = Nginx(upstream, static_root=ROOT / "var" / "static", extra_server=extra)
    if ceiling_body is not None:
        (server.dir / "www" / "ceiling.html").write_bytes(ceiling_body)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# gunicorn masters the bench started, by port.
MASTERS: dict[int, int] = {}


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers (names in lower case)."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback URL
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.read(), {k.lower(): v for k, v in response.headers.items()}


def wrk_once(url: str, connections: int, seconds: int, script: str,
             headers: tuple[str, ...] = (), env: dict[str, str] | None = None,
             cpus: str | None = None, nice: int = 0) -> Result:
    extra = [arg for h in headers for arg in ("-H", h)]
    threads = min(2, connections) if cpus is None else min(len(cpus.split(",")), connections)
    niced = ["nice", "-n", str(nice)] if nice else []
    if nice >= 19:
        # The lowest priority (browsers elsewhere, in the analytics scenario) is also
        # SCHED_IDLE, as the events workers are: a share alone still delays the servers.
        niced = ["chrt", "--idle", "0", *niced]
    out = subprocess.run(
        loadgen.pinned(cpus, [*niced, "wrk", f"-t{threads}", f"-c{connections}",
                              f"-d{seconds}s", "--timeout", "5s", "-s", script, *extra, url]),
        capture_output=True, text=True, check=True, timeout=seconds + 60,
        env={**os.environ, **(env or {})},
    ).stdout
    line = re.search(r"^JSON (\{.*\})$", out, re.M)
    if not line:
        raise SystemExit(f"bench: unexpected wrk output:\n{out}")
    raw = json.loads(line.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "seconds": round(seconds_run, 2),
        "requests_per_s": round(raw["requests"] / seconds_run, 1),
        "errors": raw["errors"] + (int(non2xx.group(1)) if non2xx else 0),
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
    }


def scenario(name: str, url: str, connections: int, seconds: int = SECONDS,
             script: Path | None = None, headers: tuple[str, ...] = (),
             env: dict[str, str] | None = None, slice_seconds: int = SLICE,
             cpus: str | None = None) -> Result:
    """`seconds` of load in slices; totals over all slices, and each slice kept."""
    # Warm with the very request measured: fill both workers' caches and nginx's
    # (a first fill under load waits on proxy_cache_lock, by design, which would
    # show as a 500 ms p99 that steady state never has).
    for _ in range(3):
        fetch(url, dict(h.split(": ", 1) for h in headers))
    slices = []
    started = time.monotonic()
    while time.monotonic() - started < seconds - 0.5:
        length = max(1, min(slice_seconds, round(seconds - (time.monotonic() - started))))
        slices.append(wrk_once(url, connections, length, str(script or LUA / "done.lua"),
                               headers, env, cpus))
    return _totals(name, url, connections, slices)


def _totals(name: str, url: str, connections: int, slices: list[Result]) -> Result:
    requests = sum(s["requests"] for s in slices)
    duration = sum(s["seconds"] for s in slices)

    def weighted(key: str) -> float:
        return round(sum(s[key] * s["requests"] for s in slices) / max(requests, 1), 3)

    result = {
        "url": url, "connections": connections, "requests": requests,
        "requests_per_s": round(requests / duration, 1),
        "errors": sum(s["errors"] for s in slices),
        "p50_ms": weighted("p50_ms"), "p99_ms": weighted("p99_ms"),
        "worst_slice_p99_ms": max(s["p99_ms"] for s in slices),
        "slices": slices,
    }
    print(f"  {name:<16} {result['requests_per_s']:>10.0f} req/s  p50 {result['p50_ms']:>7.2f}"
          f"  p99 {result['p99_ms']:>7.2f} ms  errors {result['errors']}", flush=True)
    return result


def save_response(url: str, headers: dict[str, str], path: Path) -> bytes:
    """Status, headers (in order, less Date, which the server adds) and body of one
    answer, as bench/raw_asgi.py serves them; returns the body."""
    for _ in range(3):  # a hit, as measured, not the render that fills the cache
        fetch(url, headers)
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port,
                                            timeout=10)
    try:
        connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers=headers)
        response = connection.getresponse()
        body = response.read()
        kept = [(k.lower(), v) for k, v in response.getheaders() if k.lower() != "date"]
        status = response.status
    finally:
        connection.close()
    path.write_text(json.dumps({"url": url, "status": status, "headers": kept,
                                "body_hex": body.hex()}))
    return body


@contextmanager
def raw_asgi(env: dict[str, str], saved: Path, cpus: str | None = None) -> Iterator[int]:
    """bench/raw_asgi.py under the same gunicorn settings and worker class as ours."""
    with gunicorn({**env, "RAW_RESPONSE": str(saved)}, "bench.raw_asgi:application",
                  cpus=cpus) as port:
        yield port


def paired(names: tuple[str, str], urls: tuple[str, str], connections: int,
           seconds: int = SECONDS, masters: tuple[int, int] | None = None,
           scripts: tuple[Path, Path] | None = None) -> tuple[Result, Result]:
    """Two scenarios in alternating slices, so a change in the machine's other load
    falls on both alike and their ratio holds; with the gunicorn `masters` (ports),
    each side's worker CPU time per request too (`cpu_us_per_request`), which the
    machine's other load hardly moves."""
    wanted = dict(h.split(": ", 1) for h in BROWSER)
    for url in urls:
        for _ in range(3):
            fetch(url, wanted)
    slices: tuple[list[Result], list[Result]] = ([], [])
    started = time.monotonic()
    while time.monotonic() - started < 2 * seconds - 1:
        length = max(1, min(SLICE, round(seconds - (time.monotonic() - started) / 2)))
        for index, url in enumerate(urls):
            before = workers_cpu(masters[index]) if masters else 0.0
            script = scripts[index] if scripts else LUA / "done.lua"
            one = wrk_once(url, connections, length, str(script), BROWSER)
            if masters:
                one["cpu_us_per_request"] = round(
                    (workers_cpu(masters[index]) - before) / max(one["requests"], 1) * 1e6, 2)
            slices[index].append(one)
    results = (_totals(names[0], urls[0], connections, slices[0]),
               _totals(names[1], urls[1], connections, slices[1]))
    if masters:
        for result, side in zip(results, slices, strict=True):
            cpu = sorted(s["cpu_us_per_request"] for s in side)
            result["cpu_us_per_request"] = cpu[len(cpu) // 2]
    return results


def workers_cpu(port: int) -> float:
    """CPU seconds (user + system) used so far by the workers of the gunicorn on `port`."""
    master = MASTERS[port]
    ticks = 0
    for child in subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                                text=True).stdout.split():
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def ours_and_ceiling(env: dict[str, str], url: str) -> tuple[Result, Result]:
    """Ours at `url` and the raw ASGI callable serving the bytes `url` answers now
    (checked: the same status, headers and body), in alternating slices."""
    saved = OUT / "raw-response.json"
    wanted = dict(h.split(": ", 1) for h in BROWSER)
    body = save_response(url, wanted, saved)
    with raw_asgi(env, saved) as port:
        raw_url = f"http://127.0.0.1:{port}" + urllib.parse.urlsplit(url).path
        got, headers = fetch(raw_url, wanted)
        ours_headers = {k: v for k, v in json.loads(saved.read_text())["headers"]}
        # Date and (urllib asks to close) Connection are uvicorn's own.
        if got != body or {k: v for k, v in headers.items()
                           if k not in ("date", "connection")} != ours_headers:
            raise loadgen.BenchError("the raw ASGI callable does not send our bytes")
        ours_port = urllib.parse.urlsplit(url).port or 0
        return paired(("ours c50", "raw ASGI c50"), (url, raw_url), 50,
                      masters=(ours_port, port))


def server_timing(url: str, samples: int) -> dict[str, float]:
    """Medians of what the application reports in Server-Timing on cold renders."""
    parts: dict[str, list[float]] = {"db": [], "render": [], "app": []}
    for _ in range(samples):
        _, headers = fetch(url)
        for name, value in re.findall(r"(\w+);dur=([\d.]+)",
                                      headers.get("server-timing", "")):
            if name in parts:
                parts[name].append(float(value))

    def median(values: list[float]) -> float:
        values.sort()
        return round(values[len(values) // 2], 3) if values else 0.0

    return {
        "samples": samples,
        "app_p50_ms": median(parts["app"]),
        "render_p50_ms": median(parts["render"]),
        "db_p50_ms": median(parts["db"]),
        "app_p90_ms": round(sorted(parts["app"])[int(len(parts["app"]) * 0.9)], 3)
        if parts["app"] else 0.0,
    }


def propagation(base: str, trials: int = 20) -> dict[str, float]:
    """Seconds from a story edit until both workers serve it (new connections)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")
    django.setup()
    from samembed.repositories import stories

    delays = []
    for n in range(trials):
        story = stories.get_by_slug("demo")
        if story is None:
            raise SystemExit("bench: the demo story is missing")
        marker = f"Harbour Lights (edit {n})"
        stories.update(story, {"title": marker})
        start, streak = time.monotonic(), 0
        while streak < 10 and time.monotonic() - start < 15:
            body = fetch(base + "/e/demo")[0]
            streak = streak + 1 if marker.encode() in body else 0
        delays.append(time.monotonic() - start)
    delays.sort()
    return {"trials": trials, "p50_s": round(delays[len(delays) // 2], 3),
            "p95_s": round(delays[int(len(delays) * 0.95) - 1], 3), "max_s": round(delays[-1], 3)}


def mixed_paths(base: str) -> list[str]:
    api = json.loads(fetch(base + "/api/v1/stories/demo")[0])
    images = [m["url"] for p in api["posts"] for m in p["media"]][:3]
    paths = ["/e/demo", "/e/demo?template=grid", "/e/demo?template=list",
             "/e/demo?template=carousel", "/e/demo?template=ticker",
             "/e/demo-live?template=screen", "/e/demo-live", "/screen/demo-live", "/s/demo",
             "/api/v1/stories/demo", "/api/v1/stories/demo-live", "/embed.js",
             # What every open live embed and screen asks once a second.
             "/live/demo-live", "/live/demo-live", "/live/demo-live", *images]
    # Image URLs may be absolute; wrk requests paths on the bench's host.
    return [urllib.parse.urlsplit(p)._replace(scheme="", netloc="").geturl() for p in paths]


_EXTENSIONS = {"text/html": "html", "application/json": "json", "text/javascript": "js",
               "image/jpeg": "jpg", "image/webp": "webp"}


def static_copies(proxy: Nginx, paths: list[str]) -> tuple[list[str], list[str]]:
    """The mixed load's cacheable part: the paths nginx answers from its caches
    (X-Cache-Status HIT on a second look), and for each the path of a static file
    there holding the same body, type and coding (MIXED_CEILING)."""
    wanted = {"Accept-Encoding": "br, gzip"}
    directory = proxy.dir / "www" / "ceiling-mixed"
    directory.mkdir(exist_ok=True)
    cacheable, copies = [], []
    for index, path in enumerate(paths):
        fetch(proxy.url + path, wanted)
        body, headers = fetch(proxy.url + path, wanted)
        if headers.get("x-cache-status") != "HIT":
            continue
        kind = headers.get("content-type", "").split(";")[0].strip()
        coding = headers.get("content-encoding", "")
        if coding not in ("", "br"):
            raise loadgen.BenchError(f"{path} came {coding}-coded: the ceiling has br only")
        name = f"{index}{'.br' if coding else ''}.{_EXTENSIONS.get(kind, 'bin')}"
        (directory / name).write_bytes(body)
        cacheable.append(path)
        copies.append(f"/ceiling-mixed/{name}")
    return cacheable, copies


def write_lua(name: str, text: str) -> Path:
    LUA.mkdir(parents=True, exist_ok=True)
    path = LUA / name
    path.write_text(text + DONE_LUA)
    return path


def prepare() -> tuple[EmbeddedDB, dict[str, str]]:
    loadgen.require("wrk", "nginx", "cc", "taskset")
    OUT.mkdir(parents=True, exist_ok=True)
    write_lua("done.lua", "")
    write_lua("delay.lua", DELAY_LUA)
    shutil.rmtree(OUT / "db", ignore_errors=True)
    shutil.rmtree(OUT / "snapshots", ignore_errors=True)
    db = EmbeddedDB(OUT / "db", free_port(), cache_size="512M")
    db.start()
    env = environment(MONGODB_URI=db.uri)
    os.environ.update(MONGODB_URI=db.uri, SECRET_KEY=SECRET)
    for command in (["ensure_indexes"], ["load_demo"], ["collectstatic", "--noinput"],
                    ["shell", "-c", FEATURE_FLAGS], ["shell", "-c", POSTS_STORY]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
    return db, env


def bench() -> None:
    machine = loadgen.machine()
    print(f"bench: load average {machine['load_average_before']} before the run on "
          f"{machine['cores']} cores", flush=True)
    db, env = prepare()
    results: dict[str, Result] = {}
    extra: dict[str, Any] = {}
    print(f"bench: {SECONDS} s per scenario in {SLICE} s slices (wrk -t2)", flush=True)
    try:
        with gunicorn(env) as port:
            base = f"http://127.0.0.1:{port}"
            body = fetch(base + "/e/demo", {"Accept-Encoding": BROWSER[0].split(": ")[1]})[0]
            results["ours_c50"], results["raw_asgi_c50"] = ours_and_ceiling(env, base + FEATURED)
            results["ours_plain_c50"] = scenario("ours /e/demo c50", base + "/e/demo", 50,
                                                 headers=BROWSER)
            results["ours_c50_identity"] = scenario("ours c50 identity", base + "/e/demo", 50)
            results["ours_c200"] = scenario("ours c200 (peak)", base + "/e/demo", 200,
                                            headers=BROWSER)
            with nginx(port, ceiling_body=body) as proxy:
                edge = proxy.url
                for c in (50, 200):
                    results[f"stack_c{c}"], results[f"ceiling_c{c}"] = paired(
                        (f"stack c{c}", f"ceiling c{c}"),
                        (edge + "/e/demo", edge + "/ceiling/demo"), c)
                paths = mixed_paths(edge)
                for path in paths:
                    fetch(edge + path, {"Accept-Encoding": "br, gzip"})
                mixed = write_lua("mixed.lua", MIXED_LUA % ", ".join(json.dumps(p)
                                                                     for p in paths))
                results["mixed_stack_c50"] = scenario("mixed stack c50", edge + "/e/demo", 50,
                                                      script=mixed)
                extra["mixed_paths"] = paths
                # Its cacheable part against nginx serving the same bytes as files.
                cacheable, copies = static_copies(proxy, paths)
                scripts = (write_lua("mixed-cacheable.lua", MIXED_LUA % ", ".join(
                               json.dumps(p) for p in cacheable)),
                           write_lua("mixed-ceiling.lua", MIXED_LUA % ", ".join(
                               json.dumps(p) for p in copies)))
                (results["mixed_cacheable_stack_c50"],
                 results["mixed_cacheable_ceiling_c50"]) = paired(
                    ("mixed cacheable stack c50", "mixed cacheable ceiling c50"),
                    (edge + cacheable[0], edge + copies[0]), 50, scripts=scripts)
                extra["mixed_cacheable_paths"] = cacheable
            extra["edit_to_embed"] = propagation(base)
            extra["analytics"] = analytics(port, env)
        peer_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.peer.settings"}
        with gunicorn(peer_env, "-k", "gthread", "--threads", "4",
                      "bench.peer.wsgi:application") as port:
            # The same request; the peer, like most Django projects, does not compress.
            results["peer_c50"] = scenario("peer c50", f"http://127.0.0.1:{port}/e/demo", 50,
                                           headers=BROWSER)
        with gunicorn({**env, "EMBED_CACHE_TTL": "0"}) as port:
            url = f"http://127.0.0.1:{port}/e/demo"
            results["cold_c1"] = scenario("cold c1", url, 1, min(SECONDS, 20), headers=BROWSER)
            results["cold_c50"] = scenario("cold c50", url, 50, min(SECONDS, 20),
                                           headers=BROWSER)
            extra["cold_server_timing"] = server_timing(url, 200)
            extra["cold_by_posts"] = {
                str(n): server_timing(f"http://127.0.0.1:{port}/e/bench-100?limit={n}", 100)
                for n in COLD_POST_COUNTS}
            print("  cold by posts on the page:", json.dumps(
                {n: t["app_p50_ms"] for n, t in extra["cold_by_posts"].items()}), flush=True)
        extra["fixed_rates"] = latency_at_fixed_rates(env)
        extra["outage"] = outage(db, env)
    finally:
        db.stop()
    summary = summarise(results, extra)
    summary["machine"] = {**machine, "load_average_after": loadgen.load_average()}
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    write_report(summary)
    print_table(summary)
    publish("bench", summary, machine, f"BENCH_SECONDS={SECONDS} make bench",
            files=("report.html",))


def analytics(port: int, env: dict[str, str]) -> dict[str, Any]:
    """Cached /e/demo with the analytics beacons of its page views, against without
    (bench/events.read_path_cost)."""
    from bench import events
    from samembed.analytics import tokens
    from samembed.repositories import stories

    story = stories.get_by_slug("demo")  # Django is set up by propagation()
    if story is None:
        raise SystemExit("bench: the demo story is missing")
    wrk_env = {"TOKEN": tokens.sign(str(story.id)), "STORY": str(story.id)}
    with gunicorn(env, events=True) as events_port:
        result = events.read_path_cost(f"http://127.0.0.1:{port}",
                                       f"http://127.0.0.1:{events_port}", wrk_env,
                                       min(SECONDS, 20))
    print("  analytics       ", events.read_path_line(result), flush=True)
    return result


OUTAGE_PATHS = ["/e/demo", "/e/demo?template=grid", "/e/demo?template=list",
                "/e/demo?template=carousel", "/e/demo-live?template=screen", "/e/demo-live",
                "/screen/demo-live", "/s/demo", "/api/v1/stories/demo", "/live/demo-live"]
OUTAGE_TOKEN = "bench-push-token-0123456789"  # noqa: S105 - loopback only


def outage(db: EmbeddedDB, env: dict[str, str]) -> dict[str, Any]:
    """The fault run (tests/faults.py) against production settings: OUTAGE_SECONDS of
    outage, the published demo stories read, posts pushed to `demo`."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")
    django.setup()
    from samembed.repositories import sources, stories

    story = stories.get_by_slug("demo")
    if story is None:
        raise SystemExit("bench: the demo story is missing")
    sources.set_push_token(story.id, OUTAGE_TOKEN)
    snapshots = OUT / "snapshots"
    shutil.rmtree(snapshots, ignore_errors=True)
    server_env = {key: env[key] for key in ("SECRET_KEY", "DEBUG", "LOG_LEVEL")}
    server_env |= {"STATIC_ROOT": "var/static", "EMBED_SNAPSHOT_DIR": str(snapshots)}

    def body(n: int) -> bytes:
        return json.dumps({"posts": [{"id": f"bench-outage-{time.time_ns()}-{n}",
                                      "text": f"Pushed during the outage run {n}",
                                      "created_at": "2026-12-01T12:00:00Z",
                                      "author": {"name": "Bench"}}]}).encode()

    server = Gunicorn(db.uri, workers=2, **server_env)
    server.start()
    try:
        for path in OUTAGE_PATHS:
            fetch(server.url + path)
        figures = faults.run(
            db, server, lambda: Gunicorn(db.uri, workers=2, **server_env), OUTAGE_PATHS,
            ("/api/v1/stories/demo/posts", {"Authorization": f"Bearer {OUTAGE_TOKEN}"}, body),
            hung=OUTAGE_SECONDS / 2, killed=OUTAGE_SECONDS / 2, after=5.0)
    finally:
        server.stop()
    summary = figures.summary()
    print("  outage          ", json.dumps({k: summary[k] for k in (
        "outage_s", "reads_during_outage", "reads_200_share", "outage_p99_ms",
        "recovery_s", "writes_by_status")}), flush=True)
    return summary


def outage_goals(o: dict[str, Any]) -> dict[str, bool]:
    """The issue's bar for a database outage."""
    return {
        "outage: 100% of published-story reads answered 200": o["reads_200_share"] == 1.0,
        "outage: p99 <= 50 ms while the database is away": o["outage_p99_ms"] <= 50,
        "outage: no 5xx but 503 + Retry-After on writes":
            o["writes_5xx_without_retry_after"] == 0 and o["writes_no_answer"] == 0,
        "outage: fresh again within 2 s of the database's return": o["recovery_s"] <= 2,
        "outage: a new instance serves the last good copies":
            set(o["new_instance"].values()) == {200},
    }


def outage_only() -> None:
    db, env = prepare()
    try:
        summary = outage(db, env)
    finally:
        db.stop()
    (OUT / "outage.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary, indent=2, default=str))
    for goal, met in outage_goals(summary).items():
        print(f"  [{'x' if met else ' '}] {goal}")
    print("written: var/bench/outage.json")


def summarise(results: dict[str, Result], extra: dict[str, Any]) -> dict[str, Any]:
    rps = {k: r["requests_per_s"] for k, r in results.items()}
    month = 86400 * 30
    ratios = {
        "ours_to_peer": round(rps["ours_c50"] / rps["peer_c50"], 2),
        "stack_to_ceiling": round(rps["stack_c50"] / rps["ceiling_c50"], 3),
        "stack_to_ceiling_c200": round(rps["stack_c200"] / rps["ceiling_c200"], 3),
        "stack_to_peer": round(rps["stack_c50"] / rps["peer_c50"], 2),
        "mixed_cacheable_stack_to_ceiling": round(
            rps["mixed_cacheable_stack_c50"] / rps["mixed_cacheable_ceiling_c50"], 3),
        "ours_to_ceiling": round(rps["ours_c50"] / rps["ceiling_c50"], 3),
        "ours_to_raw_asgi": round(rps["ours_c50"] / rps["raw_asgi_c50"], 3),
        # The same share from the workers' CPU time per request, which the machine's
        # other load moves far less than throughput.
        "ours_to_raw_asgi_by_cpu": round(results["raw_asgi_c50"]["cpu_us_per_request"]
                                         / max(results["ours_c50"]["cpu_us_per_request"],
                                               0.001), 3),
    }
    fixed = extra["fixed_rates"]
    cold = extra["cold_server_timing"]
    def clean(*names: str) -> bool:
        # A ratio is a figure only when neither side had errors: a side that failed
        # requests (a socket error, a timeout) measured something else.
        return all(results[n]["errors"] == 0 for n in names)

    goals = {
        "ours at least 10x the peer":
            ratios["ours_to_peer"] >= 10 and clean("ours_c50", "peer_c50"),
        "ours at least 90% of the raw ASGI callable":
            ratios["ours_to_raw_asgi"] >= 0.9 and clean("ours_c50", "raw_asgi_c50"),
        "ours zero errors": results["ours_c50"]["errors"] == 0,
        "stack at least 90% of the nginx ceiling":
            ratios["stack_to_ceiling"] >= 0.9 and clean("stack_c50", "ceiling_c50"),
        "stack at least 85% of the nginx ceiling on the mixed load's cacheable part":
            ratios["mixed_cacheable_stack_to_ceiling"] >= 0.85
            and clean("mixed_cacheable_stack_c50", "mixed_cacheable_ceiling_c50"),
        **{f"{side} at 50% of its maximum: p99 <= 5 ms, p99.9 <= 20 ms":
           fixed[side]["rates"]["50%"]["p99_ms"] <= 5
           and fixed[side]["rates"]["50%"]["p999_ms"] <= 20
           and fixed[side]["rates"]["50%"]["unsent"] == 0 for side in ("ours", "stack")},
        "cold render p50 <= 3 ms of application time (excluding the database)":
            0 < cold["app_p50_ms"] <= 3,
        **outage_goals(extra["outage"]),
        **analytics_goals(extra["analytics"]),
    }
    return {
        "seconds_per_scenario": SECONDS,
        "slice_seconds": SLICE,
        "percentiles": "request-weighted means of the slices' wrk percentiles",
        "scenarios": results,
        "ratios": ratios,
        "requests_per_month_one_instance": {
            "stack": int(rps["stack_c50"] * month),
            "application_alone": int(rps["ours_c50"] * month),
            "seed_goal": 500_000_000,
        },
        "goals": goals,
        **extra,
    }


def analytics_goals(a: dict[str, Any]) -> dict[str, bool]:
    """The analytics scenario's goals: the embeds keep their rate beside the beacons,
    and no beacon the endpoint accepted is missing from the rollups."""
    kept = a.get("beacons_kept", {})
    return {
        "analytics: embeds within 5% of their rate with beacons beside, saturated (median)":
            a["saturated"]["embed_ratio"] >= 0.95,
        "analytics: embeds within 5% of their rate with beacons beside, at 50% of the max":
            a["fixed_rate"]["embed_rate_ratio"] >= 0.95,
        "analytics: every beacon accepted is in the rollups":
            bool(kept) and kept["accepted"] == kept["rolled_up"],
    }


def print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'scenario':<18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in summary["scenarios"].items():
        print(f"{name:<18} {r['requests_per_s']:>10.0f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['errors']:>7}")
    print("ratios:", json.dumps(summary["ratios"]))
    for side in ("ours", "stack"):
        for share, r in summary["fixed_rates"][side]["rates"].items():
            print(f"{side} at {share} of max: {r['offered_per_s']:.0f} req/s, p50 "
                  f"{r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} p99.9 {r['p999_ms']:.2f} ms")
    print("cold render (Server-Timing medians):", json.dumps(summary["cold_server_timing"]))
    edit = summary["edit_to_embed"]
    print(f"edit reaches both workers: p50 {edit['p50_s']} s, p95 {edit['p95_s']} s")
    print("requests per month, one instance:",
          json.dumps(summary["requests_per_month_one_instance"]))
    if "analytics" in summary:
        from bench.events import read_path_line

        print("analytics:", read_path_line(summary["analytics"]))
    for goal, met in summary["goals"].items():
        print(f"  [{'x' if met else ' '}] {goal}")
    print("written: var/bench/summary.json, var/bench/report.html")


# ---- fixed rates, worker models, published results --------------------------------

RESULTS = ROOT / "bench" / "results"
# Offered rates as shares of the maximum measured in the same run and pinning.
RATE_SHARES = (0.25, 0.5, 0.75)
WORKER_MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "uvicorn": ("samembed.asgi:application", ()),
    "gthread": ("samembed.wsgi:application", ("-k", "gthread", "--threads", "4")),
    "sync": ("samembed.wsgi:application", ("-k", "sync")),
}


def cpu_split() -> tuple[str | None, str | None, int]:
    """(server CPUs, generator CPUs, server cores) for the fixed-rate scenarios: the
    generator alone on the last core, the servers on the others, so the tail measured
    is the server's and not the two fighting for a core (BENCH_PIN=0: no pinning)."""
    cores = os.cpu_count() or 1
    if cores < 2 or os.environ.get("BENCH_PIN", "1") == "0":
        return None, None, cores
    return ("0" if cores == 2 else f"0-{cores - 2}"), str(cores - 1), cores - 1


def pin_tree(pid: int, cpus: str | None) -> None:
    """Pin a running process and its children (nginx's workers) to `cpus`."""
    if cpus is None:
        return
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                              text=True).stdout.split()
    for each in [str(pid), *children]:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, each], check=True,
                       stdout=subprocess.DEVNULL)


def fixed_rates(name: str, url: str, generator_cpus: str | None) -> Result:
    """The maximum (wrk, 50 connections), then p50/p99/p99.9 at RATE_SHARES of it from
    the open-loop generator, latency counted from each request's due time."""
    maximum = scenario(f"{name} max", url, 50, min(SECONDS, 10), headers=BROWSER,
                       cpus=generator_cpus)
    binary = loadgen.build(OUT)
    rates: dict[str, Result] = {}
    for share in RATE_SHARES:
        r = loadgen.open_loop(binary, url, maximum["requests_per_s"] * share, 50, SECONDS,
                              BROWSER, cpus=generator_cpus)
        rates[f"{round(share * 100)}%"] = r
        print(f"  {name} at {share:.0%}: {r['offered_per_s']:>8.0f} req/s offered, "
              f"{r['achieved_per_s']:.0f} achieved, p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f} "
              f"p99.9 {r['p999_ms']:.2f} ms (uncorrected p99 {r['uncorrected']['p99_ms']:.2f})"
              f", errors {r['errors']}, unsent {r['unsent']}", flush=True)
    return {"url": url, "max": {k: maximum[k] for k in ("requests_per_s", "p50_ms", "p99_ms",
                                                          "errors")},
            "rates": rates}


def latency_at_fixed_rates(env: dict[str, str]) -> Result:
    """Ours and the stack, servers on their cores and the generator on its own."""
    server_cpus, generator_cpus, server_cores = cpu_split()
    print(f"fixed rates: servers on CPUs {server_cpus or 'any'}, generator on "
          f"{generator_cpus or 'any'}", flush=True)
    with gunicorn({**env, "WEB_CONCURRENCY": str(server_cores)}, cpus=server_cpus) as port:
        ours = fixed_rates("ours", f"http://127.0.0.1:{port}{FEATURED}", generator_cpus)
        with nginx(port) as proxy:
            assert proxy.process is not None  # noqa: S101 - started by nginx()
            pin_tree(proxy.process.pid, server_cpus)
            stack = fixed_rates("stack", proxy.url + FEATURED, generator_cpus)
    return {"server_cpus": server_cpus, "generator_cpus": generator_cpus,
            "workers": server_cores, "connections": 50, "seconds": SECONDS,
            "generator": "bench/openloop.c", "ours": ours, "stack": stack}


def worker_models(env: dict[str, str]) -> Result:
    """req/s of the main request per worker model and count (1-4), same settings."""
    seconds = min(SECONDS, 10)
    table: dict[str, dict[str, Result]] = {}
    for model, (app, args) in WORKER_MODELS.items():
        for count in range(1, 5):
            with gunicorn({**env, "WEB_CONCURRENCY": str(count)}, *args, app) as port:
                r = scenario(f"{model} x{count}", f"http://127.0.0.1:{port}{FEATURED}", 50,
                             seconds, headers=BROWSER)
            table.setdefault(model, {})[str(count)] = {
                k: r[k] for k in ("requests_per_s", "p50_ms", "p99_ms", "errors")}
    return {"seconds": seconds, "connections": 50, "url": FEATURED, "models": table}


def publish(name: str, data: dict[str, Any], machine: Result, command: str,
            files: tuple[str, ...] = ()) -> None:
    """var/bench/<name>.json always; bench/results/ too when the machine was quiet."""
    ok, why = loadgen.publishable(machine["load_average_before"])
    data = {"command": command, "machine": {**machine,
                                            "load_average_after": loadgen.load_average()},
            "published": why, **data}
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2))
    if ok:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
        for file in files:
            shutil.copyfile(OUT / file, RESULTS / file)
    print(f"{name}: {why}" + (f"; written to {RESULTS.relative_to(ROOT)}/" if ok else ""))


def workers_only() -> None:
    machine = loadgen.machine()
    db, env = prepare()
    try:
        data = worker_models(env)
    finally:
        db.stop()
    publish("workers", data, machine, f"BENCH_SECONDS={SECONDS} make bench-workers")


# ---- soak -------------------------------------------------------------------------


def worker_memory(base: str) -> dict[str, int]:
    text = fetch(base + "/metrics")[0].decode()
    return {pid: int(float(v)) for pid, v in re.findall(
        r'^samembed_worker_resident_memory_bytes\{pid="(\d+)"\} (\S+)$', text, re.M)}


def soak() -> None:
    """SOAK_MINUTES through the stack at half the maximum, offered at a constant rate
    by the open-loop generator; per interval the tails (from due and from send), the
    generator's own delay, how busy the machine was and each worker's memory."""
    machine = loadgen.machine()
    db, env = prepare()
    summary_path = OUT / "summary.json"
    interval = loadgen.positive_seconds("SOAK_INTERVAL", "60")
    try:
        with gunicorn(env) as port, nginx(port) as proxy:
            url = proxy.url + FEATURED
            fetch(url)
            if summary_path.exists():
                maximum = json.loads(summary_path.read_text())["scenarios"]["stack_c50"][
                    "requests_per_s"]
            else:
                maximum = scenario("stack c50 (max)", url, 50, 10,
                                   headers=BROWSER)["requests_per_s"]
            target = maximum / 2
            connections = 50
            # Warmed first, unmeasured: the first measured minute is compared with the
            # last, and one holding start-up (connections opened, caches filled,
            # code paths met for the first time) would make any drift look small.
            print(f"soak: {SOAK_WARMUP} s of warm-up at {target:.0f} req/s, not measured",
                  flush=True)
            loadgen.open_loop(loadgen.build(OUT), url, target, connections, SOAK_WARMUP,
                              BROWSER, interval=SOAK_WARMUP)
            print(f"soak: {SOAK_MINUTES} min at {target:.0f} req/s offered "
                  f"({connections} connections, open loop)", flush=True)
            minutes: list[Result] = []

            def each(r: Result) -> None:
                r["minute"] = r["interval"] * interval / 60
                r["requests_per_s"] = round(r["requests"] / interval, 1)
                r["worker_rss_bytes"] = worker_memory(proxy.url)
                minutes.append(r)
                # Where a tail came from: the answer (from send), the generator's own
                # delay in sending, or a machine that was busy or lent to others.
                print(f"  {r['minute']:>5.1f} min: {r['requests_per_s']:>8.0f} req/s  p99 "
                      f"{r['p99_ms']:.2f} ms  p99.9 {r['p999_ms']:.2f} ms (from send "
                      f"{r['uncorrected']['p999_ms']:.2f}; sending max "
                      f"{r['sending']['max_ms']:.2f})  busy "
                      f"{r['machine'].get('busy', 0):.0%} steal "
                      f"{r['machine'].get('steal_s', 0):.2f} s  errors {r['errors']}  rss "
                      f"{sorted(v // 2**20 for v in r['worker_rss_bytes'].values())} MiB",
                      flush=True)

            total = loadgen.open_loop(loadgen.build(OUT), url, target, connections,
                                      SOAK_MINUTES * 60, BROWSER, interval=interval,
                                      on_interval=each)
    finally:
        db.stop()
    first, last = minutes[0], minutes[-1]
    rss_first = sum(first["worker_rss_bytes"].values())
    rss_last = sum(last["worker_rss_bytes"].values())
    result = {
        "target_requests_per_s": round(target, 1),
        "achieved_requests_per_s": total["achieved_per_s"],
        "connections": connections,
        "interval_seconds": interval,
        "total": {k: v for k, v in total.items() if k != "intervals"},
        "minutes": minutes,
        "p99_last_over_first": round(last["p99_ms"] / max(first["p99_ms"], 0.001), 2),
        "rss_last_over_first": round(rss_last / max(rss_first, 1), 3),
        "goals": {
            "p99 in the last minute within 1.2x of the first":
                last["p99_ms"] <= 1.2 * first["p99_ms"],
            "worker memory flat (within 10%)": rss_last <= 1.1 * rss_first,
            "p99 <= 5 ms and p99.9 <= 20 ms over the soak":
                total["p99_ms"] <= 5 and total["p999_ms"] <= 20,
            "every due request sent and answered": total["unsent"] == 0
                and total["errors"] == 0,
        },
    }
    publish("soak", result, machine,
            f"SOAK_MINUTES={SOAK_MINUTES} SOAK_INTERVAL={interval} make soak")
    if summary_path.exists():
        write_report(json.loads(summary_path.read_text()))
    print(json.dumps({k: v for k, v in result.items() if k != "minutes"}, indent=2))


# ---- report -------------------------------------------------------------------------

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
           "#7f7f7f", "#bcbd22", "#e377c2"]


def svg_chart(title: str, unit: str, lines: dict[str, list[float]], x_step: float,
              x_label: str = "seconds") -> str:
    """A line chart as inline SVG: one polyline per series over time."""
    width, height, left, bottom, top, right = 720, 300, 70, 40, 30, 170
    values = [v for series in lines.values() for v in series] or [1.0]
    y_max = max(values) * 1.1 or 1.0
    n = max((len(s) for s in lines.values()), default=1)
    x_max = max(n * x_step, x_step)
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(i: int, v: float) -> str:
        return (f"{left + plot_w * ((i + 1) * x_step) / x_max:.1f},"
                f"{top + plot_h * (1 - v / y_max):.1f}")

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(title)}" font-family="sans-serif" '
             f'font-size="11">',
             f'<text x="{left}" y="18" font-size="14">{html.escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
             f'y2="{top + plot_h}" stroke="#333"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>']
    for k in range(5):
        v = y_max * k / 4
        y = top + plot_h * (1 - k / 4)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,.0f}</text>'
                     if y_max >= 20 else
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.1f}</text>')
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#eee"/>')
    for k in range(5):
        parts.append(f'<text x="{left + plot_w * k / 4:.1f}" y="{top + plot_h + 14}" '
                     f'text-anchor="middle">{x_max * k / 4:g}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">'
                 f'{x_label}</text>')
    parts.append(f'<text x="14" y="{top + plot_h / 2}" transform="rotate(-90 14 '
                 f'{top + plot_h / 2})" text-anchor="middle">{html.escape(unit)}</text>')
    for index, (name, series) in enumerate(lines.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(xy(i, v) for i, v in enumerate(series))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"/>')
        y = top + 14 * index + 8
        parts.append(f'<rect x="{width - right + 10}" y="{y - 8}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{width - right + 24}" y="{y + 1}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def analytics_html(summary: dict[str, Any]) -> str:
    """The analytics scenario's line in the report."""
    if "analytics" not in summary:
        return ""
    from bench.events import read_path_line

    line = html.escape(read_path_line(summary["analytics"]))
    return f"<h2>Analytics on the read path</h2><p>{line}</p>"


def describe_machine(machine: dict[str, Any] | str) -> str:
    """One line: cores, CPU, load average before and after, date."""
    if isinstance(machine, str):
        return machine
    return (f"{machine.get('cores')} cores ({machine.get('cpu', '')}), Linux "
            f"{machine.get('kernel', '')}, Python {machine.get('python', '')}; load average "
            f"{machine.get('load_average_before')} before, {machine.get('load_average_after')} "
            f"after; {machine.get('date', '')}")


def fixed_rate_table(fixed: dict[str, Any] | None) -> str:
    """The HTML table of latency at fixed offered rates."""
    if not fixed:
        return ""
    rows = "".join(
        f"<tr><td>{side}</td><td>{share}</td><td>{r['offered_per_s']:,.0f}</td>"
        f"<td>{r['achieved_per_s']:,.0f}</td><td>{r['p50_ms']:.2f}</td><td>{r['p99_ms']:.2f}</td>"
        f"<td>{r['p999_ms']:.2f}</td><td>{r['max_ms']:.2f}</td>"
        f"<td>{r['uncorrected']['p99_ms']:.2f}</td><td>{r['errors']}</td><td>{r['unsent']}</td></tr>"
        for side in ("ours", "stack") for share, r in fixed[side]["rates"].items())
    return (f"<h2>Latency at fixed offered rates</h2><p>bench/openloop.c, "
            f"{fixed['connections']} connections, {fixed['seconds']} s per rate, latency from "
            f"each request's due time (coordinated omission accounted for); servers on CPUs "
            f"{fixed['server_cpus']} ({fixed['workers']} worker(s)), generator on "
            f"{fixed['generator_cpus']}. Maximum (wrk, same pinning): ours "
            f"{fixed['ours']['max']['requests_per_s']:,.0f}, stack "
            f"{fixed['stack']['max']['requests_per_s']:,.0f} req/s.</p>"
            "<table><tr><th>side</th><th>share of max</th><th>offered/s</th><th>achieved/s</th>"
            "<th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th>"
            "<th>p99 from send ms</th><th>errors</th><th>unsent</th></tr>"
            f"{rows}</table>")


def write_report(summary: dict[str, Any]) -> None:
    scenarios = summary["scenarios"]
    step = summary["slice_seconds"]
    groups = {
        "50 connections": ["ours_c50", "raw_asgi_c50", "ours_plain_c50", "ours_c50_identity",
                           "stack_c50", "ceiling_c50", "mixed_stack_c50",
                           "mixed_cacheable_stack_c50", "mixed_cacheable_ceiling_c50", "peer_c50"],
        "200 connections (peak)": ["ours_c200", "stack_c200", "ceiling_c200"],
        "cold (cache disabled)": ["cold_c1", "cold_c50"],
    }
    charts = []
    for title, names in groups.items():
        present = [n for n in names if n in scenarios]
        charts.append(svg_chart(f"Throughput, {title}", "requests/s",
                                {n: [s["requests_per_s"] for s in scenarios[n]["slices"]]
                                 for n in present}, step))
        charts.append(svg_chart(f"p99 latency, {title}", "ms",
                                {n: [s["p99_ms"] for s in scenarios[n]["slices"]]
                                 for n in present}, step))
    soak_path = OUT / "soak.json"
    soak_html = "<p>No soak run yet (<code>make soak</code>).</p>"
    if soak_path.exists():
        soak_data = json.loads(soak_path.read_text())
        minutes = soak_data["minutes"]
        pids = sorted({p for m in minutes for p in m["worker_rss_bytes"]})
        charts_soak = [
            svg_chart("Soak: latency per minute", "ms", {
                "p99": [m["p99_ms"] for m in minutes],
                "p99.9": [m["p999_ms"] for m in minutes],
                "p99.9 from send": [m.get("uncorrected", {}).get("p999_ms", 0)
                                    for m in minutes],
                "generator's delay, max": [m.get("sending", {}).get("max_ms", 0)
                                           for m in minutes]}, 1, "minutes"),
            svg_chart("Soak: worker memory per minute", "MiB",
                      {f"worker {p}": [m["worker_rss_bytes"].get(p, 0) / 2**20
                                       for m in minutes] for p in pids}, 1, "minutes"),
        ]
        soak_html = (f"<p>Target {soak_data['target_requests_per_s']:.0f} req/s, achieved "
                     f"{soak_data.get('achieved_requests_per_s', 0):.0f}; p99 last/first "
                     f"minute {soak_data['p99_last_over_first']}; memory last/first "
                     f"{soak_data['rss_last_over_first']}.</p>" + "".join(charts_soak))
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{r['connections']}</td>"
        f"<td>{r['requests_per_s']:,.0f}</td><td>{r['p50_ms']:.2f}</td>"
        f"<td>{r['p99_ms']:.2f}</td><td>{r['worst_slice_p99_ms']:.2f}</td>"
        f"<td>{r['errors']}</td></tr>"
        for n, r in scenarios.items())
    goals = "".join(f"<li>{'met' if ok else '<b>not met</b>'}: {html.escape(g)}</li>"
                    for g, ok in summary["goals"].items())
    page = f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>samembed bench</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
td:first-child{{text-align:left}}svg{{display:block;margin:1em 0}}</style>
<h1>samembed load test</h1>
<p>{html.escape(describe_machine(summary.get('machine', {})))}.
{summary['seconds_per_scenario']} s per scenario, wrk -t2,
loopback; {html.escape(summary['percentiles'])}.</p>
<table><tr><th>scenario</th><th>conns</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th>
<th>worst 5 s p99</th><th>errors</th></tr>{rows}</table>
<h2>Ratios and goals</h2><pre>{html.escape(json.dumps(summary['ratios'], indent=2))}</pre>
<ul>{goals}</ul>
<p>Cold render, application's own Server-Timing (medians; db is SecantusDB, the embedded
surrogate): <code>{html.escape(json.dumps(summary['cold_server_timing']))}</code></p>
<p>Requests per month, one instance:
<code>{html.escape(json.dumps(summary['requests_per_month_one_instance']))}</code></p>
{analytics_html(summary)}
{fixed_rate_table(summary.get('fixed_rates'))}
<h2>Over time</h2>{''.join(charts)}
<h2>Soak</h2>{soak_html}
</html>"""
    (OUT / "report.html").write_text(page)


def main() -> None:
    """`bench/run.py [soak|outage|workers]`; a refusal prints what to do, exit status 2."""
    try:
        command()
    except loadgen.BenchError as refused:
        print(refused, file=sys.stderr)
        sys.exit(2)


def command() -> None:
    if sys.argv[1:] == ["soak"]:
        soak()
    elif sys.argv[1:] == ["outage"]:
        outage_only()
    elif sys.argv[1:] == ["workers"]:
        workers_only()
    else:
        bench()


if __name__ == "__main__":
    main()
