"""`make bench` and `make soak`: the load-test rig and its report.

Starts a production-like stack by itself on loopback: its own embedded MongoDB
(var/bench/db, fresh each run) with the demo stories, gunicorn with
deploy/gunicorn.conf.py and production settings, and Debian's nginx with the
shipped deploy/nginx/ files (tests/servers.Nginx: only ports and paths changed).
wrk drives each scenario, bounded in time, in slices of SLICE seconds so that
throughput and latency are seen over time, not only on average.

Scenarios (`make bench`), in one run, side by side:

- ours:      the application alone (gunicorn, no proxy), /e/demo, 50 connections;
- peer:      a typical Django implementation of the same embed (bench/peer/:
             startproject middleware, cache_page with the local-memory cache,
             the same template, gunicorn gthread), 50 connections;
- stack:     as shipped, nginx -> gunicorn, 50 connections;
- ceiling:   the same nginx serving the same bytes as a static file;
- peak:      ours and stack at 200 connections;
- cold:      cache disabled (EMBED_CACHE_TTL=0), every request renders from the
             database: 1 connection (latency, and application time from the
             Server-Timing header) and 50 (throughput);
- mixed:     through the stack: several stories and templates, the screen, the
             version polls of live pages (/live/), the story page, the API,
             the loader and images;
- edit:      seconds from a story edit until both workers serve it;
- outage:    readers and a writer while the database hangs (SIGSTOP) for half of
             OUTAGE_SECONDS (30) and is killed for the other half, a worker
             added and a new instance started meanwhile (tests/faults.py, the
             long run of tests/test_outage.py). `bench/run.py outage` runs it alone.

`make soak` (`bench/run.py soak`): SOAK_MINUTES (10) through the stack at half
the maximum measured by the last `make bench` (or a short measurement), with
p99 and each worker's memory per minute.

Writes var/bench/summary.json (soak.json) and var/bench/report.html (SVG
charts). BENCH_SECONDS sets the length of each scenario (default 60).
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
SOAK_MINUTES = int(os.environ.get("SOAK_MINUTES", "10"))
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
             cpus: str | None = None) -> Iterator[int]:
    """gunicorn as shipped on `port` (a free one by default), on `cpus` if given."""
    port = port or free_port()
    if port_open(port):
        raise loadgen.BenchError(f"port {port} is already taken by another process: "
                                 "stop it, or let the bench choose a free port")
    log = OUT / f"gunicorn-{port}.log"
    process = subprocess.Popen(
        loadgen.pinned(cpus, [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", *args]),
        cwd=ROOT, env={**env, "PORT": str(port)}, stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
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


@contextmanager
def nginx(upstream: int, ceiling_body: bytes | None = None) -> Iterator[Nginx]:
    """The shipped nginx; with `ceiling_body`, also /ceiling/demo: those bytes (the
    brotli body of /e/demo) as a static file, with the headers that say so."""
    extra = ""
    if ceiling_body is not None:
        extra = ('    location = /ceiling/demo {\n'
                 '        alias @DIR@/www/ceiling.html;\n'
                 '        default_type "text/html; charset=utf-8";\n'
                 '        add_header Content-Encoding br;\n'
                 '        add_header Vary Accept-Encoding;\n    }\n')
    server = Nginx(upstream, static_root=ROOT / "var" / "static", extra_server=extra)
    if ceiling_body is not None:
        (server.dir / "www" / "ceiling.html").write_bytes(ceiling_body)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers (names in lower case)."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback URL
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.read(), {k.lower(): v for k, v in response.headers.items()}


def wrk_once(url: str, connections: int, seconds: int, script: str,
             headers: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Result:
    extra = [arg for h in headers for arg in ("-H", h)]
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
         "--timeout", "5s", "-s", script, *extra, url],
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
             env: dict[str, str] | None = None, slice_seconds: int = SLICE) -> Result:
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
                               headers, env))
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
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
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


def ceiling_of(env: dict[str, str], url: str, name: str) -> Result:
    """The raw ASGI callable serving the bytes `url` answers now, at 50 connections;
    checked to send the same status, headers and body."""
    saved = OUT / "raw-response.json"
    wanted = dict(h.split(": ", 1) for h in BROWSER)
    body = save_response(url, wanted, saved)
    with raw_asgi(env, saved) as port:
        raw_url = f"http://127.0.0.1:{port}" + urllib.parse.urlsplit(url).path
        got, headers = fetch(raw_url, wanted)
        ours_headers = {k: v for k, v in json.loads(saved.read_text())["headers"]}
        if got != body or {k: v for k, v in headers.items() if k != "date"} != ours_headers:
            raise loadgen.BenchError("the raw ASGI callable does not send our bytes")
        return scenario(name, raw_url, 50, headers=BROWSER)


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
                    ["shell", "-c", FEATURE_FLAGS]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)
    return db, env


def bench() -> None:
    db, env = prepare()
    results: dict[str, Result] = {}
    extra: dict[str, Any] = {}
    print(f"bench: {SECONDS} s per scenario in {SLICE} s slices (wrk -t2)", flush=True)
    try:
        with gunicorn(env) as port:
            base = f"http://127.0.0.1:{port}"
            body = fetch(base + "/e/demo", {"Accept-Encoding": BROWSER[0].split(": ")[1]})[0]
            results["ours_c50"] = scenario("ours c50", base + FEATURED, 50, headers=BROWSER)
            results["raw_asgi_c50"] = ceiling_of(env, base + FEATURED, "raw ASGI c50")
            results["ours_plain_c50"] = scenario("ours /e/demo c50", base + "/e/demo", 50,
                                                 headers=BROWSER)
            results["ours_c50_identity"] = scenario("ours c50 identity", base + "/e/demo", 50)
            results["ours_c200"] = scenario("ours c200 (peak)", base + "/e/demo", 200,
                                            headers=BROWSER)
            with nginx(port, ceiling_body=body) as proxy:
                edge = proxy.url
                for c in (50, 200):
                    results[f"stack_c{c}"] = scenario(f"stack c{c}", edge + "/e/demo", c,
                                                      headers=BROWSER)
                    results[f"ceiling_c{c}"] = scenario(f"ceiling c{c}", edge + "/ceiling/demo",
                                                        c, headers=BROWSER)
                paths = mixed_paths(edge)
                for path in paths:
                    fetch(edge + path, {"Accept-Encoding": "br, gzip"})
                mixed = write_lua("mixed.lua", MIXED_LUA % ", ".join(json.dumps(p)
                                                                     for p in paths))
                results["mixed_stack_c50"] = scenario("mixed stack c50", edge + "/e/demo", 50,
                                                      script=mixed)
                extra["mixed_paths"] = paths
            extra["edit_to_embed"] = propagation(base)
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
        extra["outage"] = outage(db, env)
    finally:
        db.stop()
    summary = summarise(results, extra)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    write_report(summary)
    print_table(summary)


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
        "ours_to_ceiling": round(rps["ours_c50"] / rps["ceiling_c50"], 3),
    }
    cold = extra["cold_server_timing"]
    goals = {
        "ours at least 5x the peer": ratios["ours_to_peer"] >= 5,
        "ours p99 <= 10 ms at 50 connections": results["ours_c50"]["p99_ms"] <= 10,
        "ours zero errors": results["ours_c50"]["errors"] == 0,
        "stack at least 70% of the nginx ceiling": ratios["stack_to_ceiling"] >= 0.7,
        "cold render p50 <= 5 ms of application time (excluding the database)":
            0 < cold["app_p50_ms"] <= 5,
        **outage_goals(extra["outage"]),
    }
    return {
        "machine": f"{os.cpu_count()} cores, shared with other work: figures are indicative",
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


def print_table(summary: dict[str, Any]) -> None:
    print(f"\n{'scenario':<18} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in summary["scenarios"].items():
        print(f"{name:<18} {r['requests_per_s']:>10.0f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['errors']:>7}")
    print("ratios:", json.dumps(summary["ratios"]))
    print("cold render (Server-Timing medians):", json.dumps(summary["cold_server_timing"]))
    edit = summary["edit_to_embed"]
    print(f"edit reaches both workers: p50 {edit['p50_s']} s, p95 {edit['p95_s']} s")
    print("requests per month, one instance:",
          json.dumps(summary["requests_per_month_one_instance"]))
    for goal, met in summary["goals"].items():
        print(f"  [{'x' if met else ' '}] {goal}")
    print("written: var/bench/summary.json, var/bench/report.html")


# ---- soak -------------------------------------------------------------------------


def worker_memory(base: str) -> dict[str, int]:
    text = fetch(base + "/metrics")[0].decode()
    return {pid: int(float(v)) for pid, v in re.findall(
        r'^samembed_worker_resident_memory_bytes\{pid="(\d+)"\} (\S+)$', text, re.M)}


def soak() -> None:
    db, env = prepare()
    summary_path = OUT / "summary.json"
    try:
        with gunicorn(env) as port, nginx(port) as proxy:
            url = proxy.url + "/e/demo"
            fetch(url)
            if summary_path.exists():
                maximum = json.loads(summary_path.read_text())["scenarios"]["stack_c50"][
                    "requests_per_s"]
            else:
                maximum = scenario("stack c50 (max)", url, 50, 10)["requests_per_s"]
            target = maximum / 2
            # Each connection pauses between requests so that the total rate is
            # about the target (wrk's pause is in whole ms: more connections, finer
            # steps); a millisecond is left for the request itself.
            connections = 100
            pause_ms = max(1, round(connections * 1000 / target) - 1)
            print(f"soak: {SOAK_MINUTES} min at ~{target:.0f} req/s "
                  f"({connections} connections, {pause_ms} ms pause)", flush=True)
            minutes = []
            for minute in range(SOAK_MINUTES):
                r = wrk_once(url, connections, 60, str(LUA / "delay.lua"), BROWSER,
                             env={"WRK_DELAY_MS": str(pause_ms)})
                r["minute"] = minute + 1
                r["worker_rss_bytes"] = worker_memory(proxy.url)
                minutes.append(r)
                print(f"  minute {minute + 1:>2}: {r['requests_per_s']:>8.0f} req/s  p99 "
                      f"{r['p99_ms']:.2f} ms  errors {r['errors']}  rss "
                      f"{sorted(v // 2**20 for v in r['worker_rss_bytes'].values())} MiB",
                      flush=True)
    finally:
        db.stop()
    first, last = minutes[0], minutes[-1]
    rss_first = sum(first["worker_rss_bytes"].values())
    rss_last = sum(last["worker_rss_bytes"].values())
    result = {
        "target_requests_per_s": round(target, 1),
        "achieved_requests_per_s": round(
            sum(m["requests"] for m in minutes) / sum(m["seconds"] for m in minutes), 1),
        "connections": connections,
        "minutes": minutes,
        "p99_last_over_first": round(last["p99_ms"] / max(first["p99_ms"], 0.001), 2),
        "rss_last_over_first": round(rss_last / max(rss_first, 1), 3),
        "goals": {
            "p99 in the last minute within 1.2x of the first":
                last["p99_ms"] <= 1.2 * first["p99_ms"],
            "worker memory flat (within 10%)": rss_last <= 1.1 * rss_first,
        },
    }
    (OUT / "soak.json").write_text(json.dumps(result, indent=2))
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


def write_report(summary: dict[str, Any]) -> None:
    scenarios = summary["scenarios"]
    step = summary["slice_seconds"]
    groups = {
        "50 connections": ["ours_c50", "ours_c50_identity", "stack_c50", "ceiling_c50",
                           "mixed_stack_c50", "peer_c50"],
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
            svg_chart("Soak: p99 per minute", "ms", {"p99": [m["p99_ms"] for m in minutes]},
                      1, "minutes"),
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
<p>{html.escape(summary['machine'])}. {summary['seconds_per_scenario']} s per scenario, wrk -t2,
loopback; {html.escape(summary['percentiles'])}.</p>
<table><tr><th>scenario</th><th>conns</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th>
<th>worst 5 s p99</th><th>errors</th></tr>{rows}</table>
<h2>Ratios and goals</h2><pre>{html.escape(json.dumps(summary['ratios'], indent=2))}</pre>
<ul>{goals}</ul>
<p>Cold render, application's own Server-Timing (medians; db is SecantusDB, the embedded
surrogate): <code>{html.escape(json.dumps(summary['cold_server_timing']))}</code></p>
<p>Requests per month, one instance:
<code>{html.escape(json.dumps(summary['requests_per_month_one_instance']))}</code></p>
<h2>Over time</h2>{''.join(charts)}
<h2>Soak</h2>{soak_html}
</html>"""
    (OUT / "report.html").write_text(page)


if __name__ == "__main__":
    if sys.argv[1:] == ["soak"]:
        soak()
    elif sys.argv[1:] == ["outage"]:
        outage_only()
    else:
        bench()
