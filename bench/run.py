"""`make bench`: our embed against the typical-Django peer, in one run, with wrk.

Starts its own embedded MongoDB (var/bench/db, fresh each run) with the demo
stories, then, one at a time on loopback ports:

- ours:  gunicorn + deploy/gunicorn.conf.py (uvicorn workers, the fast path);
- peer:  the same gunicorn settings serving bench/peer (default middleware,
         cache_page with the local-memory cache, the same template) with a
         WSGI worker, as a typical Django project would;
- cold:  ours with the cache disabled (EMBED_CACHE_TTL=0), every request renders;
- edit:  20 story edits, each timed until both workers serve it.

Each scenario is bounded by BENCH_SECONDS (default 30). Writes
var/bench/summary.json and prints a table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from samembed.embedded_db import EmbeddedDB, free_port, port_open  # noqa: E402

OUT = ROOT / "var" / "bench"
BIN = Path(sys.executable).parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "30"))
SECRET = "bench-only-secret-key-that-is-long-enough-for-django-checks"  # noqa: S105


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "SECRET_KEY": SECRET, "WEB_CONCURRENCY": "2", **extra}


def start(args: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=(OUT / f"server-{port}.log").open("wb"))
    deadline = time.monotonic() + 30
    while not port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"bench: server on {port} did not start; see var/bench/")
        time.sleep(0.1)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, connections: int, seconds: int = SECONDS,
        headers: tuple[str, ...] = ()) -> dict[str, float]:
    for _ in range(3):  # warm: fill the caches of both workers
        urllib.request.urlopen(url, timeout=10).read()  # noqa: S310 - loopback URL we built
    extra = [arg for h in headers for arg in ("-H", h)]
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency",
         *extra, url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout
    result: dict[str, float] = {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "errors": 0.0,
    }
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out, re.M)
        if m:
            result[f"p{pct}_ms"] = round(_ms(m.group(1), m.group(2)), 3)
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)",
                    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        m = re.search(pattern, out)
        if m:
            result["errors"] += sum(int(g) for g in m.groups())
    return result


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
            body = urllib.request.urlopen(base + "/e/demo", timeout=5).read()  # noqa: S310
            streak = streak + 1 if marker.encode() in body else 0
        delays.append(time.monotonic() - start)
    delays.sort()
    return {"trials": trials, "p50_s": round(delays[len(delays) // 2], 3),
            "p95_s": round(delays[int(len(delays) * 0.95) - 1], 3), "max_s": round(delays[-1], 3)}


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench: wrk is not installed (make bench installs Debian's wrk)")
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / "db", ignore_errors=True)
    db = EmbeddedDB(OUT / "db", free_port(), cache_size="512M")
    db.start()
    env = environment(MONGODB_URI=db.uri)
    os.environ.update(MONGODB_URI=db.uri, SECRET_KEY=SECRET)
    results: dict[str, dict[str, float]] = {}
    try:
        for command in (["ensure_indexes"], ["load_demo"], ["collectstatic", "--noinput"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env,
                           check=True, stdout=subprocess.DEVNULL)
        gunicorn = [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py"]
        servers = {
            "ours": (gunicorn, env),
            "peer": (gunicorn + ["-k", "gthread", "--threads", "4", "bench.peer.wsgi:application"],
                     {**env, "DJANGO_SETTINGS_MODULE": "bench.peer.settings"}),
            "cold": (gunicorn, {**env, "EMBED_CACHE_TTL": "0"}),
        }
        for name, (args, server_env) in servers.items():
            port = free_port()
            process = start(args, {**server_env, "PORT": str(port)}, port)
            try:
                url = f"http://127.0.0.1:{port}/e/demo"
                if name == "cold":
                    results["cold_c1"] = wrk(url, 1, min(SECONDS, 15))
                else:
                    results[f"{name}_c50"] = wrk(url, 50)
                    if name == "ours":
                        results["edit_to_embed"] = propagation(f"http://127.0.0.1:{port}")
                    # What browsers send: the compressed body is a tenth of the size.
                    results[f"{name}_c50_br"] = wrk(url, 50, headers=("Accept-Encoding: br",))
            finally:
                stop(process)
    finally:
        db.stop()
    ours, peer = results["ours_c50"]["requests_per_s"], results["peer_c50"]["requests_per_s"]
    summary = {
        "seconds_per_scenario": SECONDS,
        "scenarios": results,
        "ratio_ours_to_peer": round(ours / peer, 2),
        "requests_per_month_one_instance": int(ours * 86400 * 30),
    }
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{'scenario':<12} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in results.items():
        if "requests_per_s" in r:
            print(f"{name:<12} {r['requests_per_s']:>10.0f} {r.get('p50_ms', 0):>8.2f} "
                  f"{r.get('p99_ms', 0):>8.2f} {r['errors']:>7.0f}")
    edit = results["edit_to_embed"]
    print(f"edit reaches both workers: p50 {edit['p50_s']} s, p95 {edit['p95_s']} s, "
          f"max {edit['max_s']} s over {edit['trials']} edits")
    print(f"ours / peer: {summary['ratio_ours_to_peer']}x; written to var/bench/summary.json")


if __name__ == "__main__":
    main()
