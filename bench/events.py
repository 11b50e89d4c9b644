"""`make bench-events`: the analytics endpoint under load, and what it costs the embed.

Starts its own stack like `make bench` (bench/run.py: embedded MongoDB with the
demo stories, gunicorn with deploy/gunicorn.conf.py, two workers) and measures,
each bounded in time:

- max:       the event endpoint's own req/s (wrk, 50 connections, beacons of a
             distinct page view and address each);
- paced:     RATE beacons/s for PACED_SECONDS, then: rollups equal what the
             endpoint accepted (no loss, no double count across flushes), each
             worker's resident memory before and after;
- restart:   the same with one worker sent SIGTERM (an orderly restart: it writes
             what it counted) and then one sent SIGKILL (a crash: at most one
             flush interval lost), the loss measured;
- embed:     cached /e/demo req/s alone, then mixed in one wrk with beacons (one
             beacon per two embeds, then one per embed): the embeds' req/s kept.

Writes var/bench/events.json and prints a table.

    .venv/bin/python bench/events.py     # EVENTS_SECONDS=10 RATE=5000 PACED_SECONDS=30
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import DONE_LUA, OUT, fetch, gunicorn, prepare, wrk_once  # noqa: E402

SECONDS = int(os.environ.get("EVENTS_SECONDS", "10"))
RATE = int(os.environ.get("RATE", "5000"))
PACED_SECONDS = int(os.environ.get("PACED_SECONDS", "30"))
CONNECTIONS = 50
FLUSH = "5"

BEACON_LUA = """
local n = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args) prefix = string.format("%s%02d", os.getenv("RUN") or "r", tid) end
function delay() return tonumber(os.getenv("PAUSE_MS") or "0") end
local share = tonumber(os.getenv("SHARE") or "1")
local embed = wrk.format("GET", "/e/demo", {["Accept-Encoding"] = "br"})
request = function()
  n = n + 1
  -- With SHARE > 1, one request in SHARE is a beacon and the others the cached embed.
  if share > 1 and n % share ~= 0 then return embed end
  local view = string.format("%s%016d", prefix, n)
  local body = '{"k":"' .. os.getenv("TOKEN") .. '","s":"' .. os.getenv("STORY")
    .. '","p":"' .. view .. '","o":"https://site' .. (n % 7) .. '.example","t":"grid",'
    .. '"n":5000,"e":[["load",null,10],["view",null,1200]]}'
  local address = string.format("10.%d.%d.%d", tid, math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", "/api/v1/events", {
    ["Content-Type"] = "text/plain;charset=UTF-8", ["X-Forwarded-For"] = address,
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"}, body)
end
""" + DONE_LUA


def metrics(base: str) -> dict[str, float]:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:  # noqa: S310 - loopback
        text = r.read().decode()
    found: dict[str, float] = {}
    for name, value in re.findall(r"^(samembed_[^ ]+) ([0-9.e+]+)$", text, re.M):
        found[name] = float(value)
    return found


def accepted(base: str) -> int:
    return int(metrics(base).get(
        'samembed_beacons_total{reason="",result="accepted"}', 0))


def memory(base: str) -> dict[str, int]:
    return {k: int(v) for k, v in metrics(base).items()
            if k.startswith("samembed_worker_resident_memory_bytes")}


def rolled_up(story_id: Any) -> int:
    from samembed.mongo import database

    return sum(d["n"].get("load", 0) for d in database()["stats_hourly"].find(
        {"story_id": story_id, "kind": "page"}))


def settle(base: str, story_id: Any, timeout: float = 30) -> tuple[int, int]:
    """(accepted, rolled up) once two flushes passed with nothing new."""
    deadline = time.monotonic() + timeout
    last = (-1, -1)
    while time.monotonic() < deadline:
        now = (accepted(base), rolled_up(story_id))
        if now == last and now[0] == now[1]:
            return now
        last = now
        time.sleep(float(FLUSH) + 1)
    return last


def _environ_has(pid: str, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _parent(pid: str) -> str:
    found = re.search(r"PPid:\t(\d+)", Path(f"/proc/{pid}/status").read_text())
    return found.group(1) if found else "0"


def workers(port: int) -> list[int]:
    """The pids of the gunicorn workers serving `port` (children of its master)."""
    marker = f"PORT={port}".encode()
    ours = {p.name for p in Path("/proc").iterdir() if p.name.isdigit()
            and _environ_has(p.name, marker)}
    return sorted(int(p) for p in ours if _parent(p) in ours)


def main() -> None:
    db, env = prepare()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")
    import django

    django.setup()
    from samembed.analytics import tokens
    from samembed.repositories import stories

    story = stories.get_by_slug("demo")
    if story is None:
        raise SystemExit("bench: the demo story is missing")
    lua = OUT / "lua" / "beacon.lua"
    lua.write_text(BEACON_LUA)
    wrk_env = {"TOKEN": tokens.sign(str(story.id)), "STORY": str(story.id)}
    results: dict[str, Any] = {"rate": RATE, "paced_seconds": PACED_SECONDS,
                               "flush_interval_s": float(FLUSH)}
    env = {**env, "ANALYTICS_FLUSH_INTERVAL": FLUSH, "ANALYTICS_RATE": "5",
           "ANALYTICS_BURST": "30"}
    try:
        with gunicorn(env) as port:
            base = f"http://127.0.0.1:{port}"
            url = base + "/api/v1/events"
            fetch(base + "/e/demo")

            print(f"events: max, {SECONDS} s, {CONNECTIONS} connections", flush=True)
            results["max"] = wrk_once(url, CONNECTIONS, SECONDS, str(lua),
                                      env={**wrk_env, "RUN": "max"})
            results["max"]["accepted_then_rolled_up"] = settle(base, story.id)

            pause = str(round(1000 * CONNECTIONS / RATE))
            print(f"events: {RATE}/s for {PACED_SECONDS} s", flush=True)
            before_memory = memory(base)
            base_count = rolled_up(story.id)
            paced = wrk_once(url, CONNECTIONS, PACED_SECONDS, str(lua),
                             env={**wrk_env, "RUN": "pac", "PAUSE_MS": pause})
            got, rolled = settle(base, story.id)
            paced.update(accepted_total=got, rolled_up_total=rolled,
                         rolled_up_this_run=rolled - base_count,
                         memory_before=before_memory, memory_after=memory(base))
            results["paced"] = paced

            for sig, name in ((signal.SIGTERM, "restart_term"), (signal.SIGKILL, "restart_kill")):
                print(f"events: {name}", flush=True)
                kids = workers(port)
                before = (accepted(base), rolled_up(story.id))
                victim = kids[0]
                timer = threading.Timer(PACED_SECONDS / 2, os.kill, (victim, sig))
                timer.start()
                run = wrk_once(url, CONNECTIONS, PACED_SECONDS, str(lua),
                               env={**wrk_env, "RUN": name[-4:], "PAUSE_MS": pause})
                timer.join()
                time.sleep(float(FLUSH) * 2 + 1)
                after_rolled = rolled_up(story.id)
                # The killed worker's counters die with it, so count what wrk saw answered.
                run.update(answered=run["requests"] - run["errors"],
                           rolled_up_this_run=after_rolled - before[1],
                           lost=run["requests"] - run["errors"] - (after_rolled - before[1]))
                results[name] = run

            print(f"events: embed alone and mixed with beacons, {SECONDS} s each", flush=True)
            done_lua = OUT / "lua" / "done.lua"
            alone = wrk_once(base + "/e/demo", CONNECTIONS, SECONDS, str(done_lua),
                             ("Accept-Encoding: br",))
            embed: dict[str, Any] = {"alone_per_s": alone["requests_per_s"], "alone": alone}
            for share in (3, 2):
                mixed = wrk_once(url, CONNECTIONS, SECONDS, str(lua),
                                 env={**wrk_env, "RUN": f"mx{share}", "SHARE": str(share)})
                per_s = round(mixed["requests_per_s"] * (share - 1) / share, 1)
                embed[f"one_beacon_per_{share - 1}_embeds"] = {
                    "embeds_per_s": per_s,
                    "beacons_per_s": round(mixed["requests_per_s"] / share, 1),
                    "embed_ratio": round(per_s / alone["requests_per_s"], 3), "wrk": mixed}
            body, _ = fetch(base + "/e/demo", {"Accept-Encoding": "br"})
            embed["embed_br_bytes"] = len(body)
            results["embed"] = embed
    finally:
        db.stop()
    (OUT / "events.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
