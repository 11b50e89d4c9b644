"""`make bench-events`: the analytics endpoint under load, and what it costs the embed.

Starts its own stack like `make bench` (bench/run.py: embedded MongoDB with the
demo stories; the events workers, deploy/gunicorn-events.conf.py, two at the
lowest CPU priority, as nginx routes beacons to them; for the read path also the
web workers, deploy/gunicorn.conf.py) and measures, each bounded in time:

- max:       the event endpoint's own req/s (wrk, 50 connections, beacons of a
             distinct page view and address each);
- paced:     RATE beacons/s for PACED_SECONDS, then: rollups equal what wrk saw
             answered 204 (no loss, no double count across flushes), each
             worker's resident memory sampled every second over the run;
- restart:   the same with one worker sent SIGTERM (an orderly restart: it writes
             what it counted) and then one sent SIGKILL (a crash: at most one
             flush interval lost), the loss measured in events and in seconds of
             that worker's beacons;
- read path (`read_path_cost`, also a scenario of `make bench`): cached
             /e/demo from the web workers with beacons to the events workers
             beside (each page view one embed request at the origin: no CDN),
             against without: at saturation (beacons as fast as they are
             answered; ROUNDS alternating rounds, medians compared), and at a
             fixed offered embed rate of half the maximum with BEACONS_PER_EMBED
             beacons offered per embed, where the embeds' achieved rate and p99
             are compared with and without, and the beacons' achieved share told
             (the embeds offered by the open-loop generator, bench/openloop.c:
             wrk's paced script could not offer half a maximum this high while
             sharing the cores; latency from each request's due time);
             then every beacon accepted must be in the rollups. The beacons'
             generator runs at the lowest CPU priority (it stands for browsers
             elsewhere).
             SHARED=1 sends the beacons to the web workers instead (no events
             workers: what they are for).

Writes var/bench/events.json and prints a table.

    .venv/bin/python bench/events.py     # EVENTS_SECONDS=10 RATE=5000 PACED_SECONDS=30
    .venv/bin/python bench/events.py read-path   # that scenario alone
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

from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.run import DONE_LUA, OUT, fetch, gunicorn, prepare, wrk_once  # noqa: E402

SECONDS = int(os.environ.get("EVENTS_SECONDS", "10"))
RATE = int(os.environ.get("RATE", "5000"))
PACED_SECONDS = int(os.environ.get("PACED_SECONDS", "30"))
CONNECTIONS = 50
FLUSH = "5"
BEACONS_PER_EMBED = float(os.environ.get("BEACONS_PER_EMBED", "1"))
# The fixed offered embed rate, as a share of the embeds' own maximum.
OFFERED = float(os.environ.get("OFFERED", "0.5"))
# Paced runs: many connections, so that wrk's whole-millisecond pause makes fine steps.
PACED_CONNECTIONS = 100
ROUNDS = int(os.environ.get("ROUNDS", "3"))

BEACON_LUA = """
local n = 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args)
  prefix = string.format("%s%02d", os.getenv("RUN") or "r", tid)
end
function delay() return tonumber(os.getenv("PAUSE_MS") or "0") end
request = function()
  n = n + 1
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


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class MemorySampler:
    """Each worker's resident memory once a second, in a thread, while a run lasts."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.samples: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append({str(p): rss(p) for p in self.pids})
            self._stop.wait(1)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def summary(self) -> dict[str, Any]:
        """MiB per worker: first and last sample, the largest, and the last third's
        spread (flat: it stops growing once the bounded tables are full)."""
        out: dict[str, Any] = {}
        for pid in map(str, self.pids):
            series = [s[pid] / 2**20 for s in self.samples if s.get(pid)]
            if not series:
                continue
            tail = series[len(series) * 2 // 3:]
            out[pid] = {"first_mib": round(series[0], 1), "last_mib": round(series[-1], 1),
                        "max_mib": round(max(series), 1),
                        "last_third_spread_mib": round(max(tail) - min(tail), 1),
                        "samples": len(series)}
        return out


def pause_for(rate: float, connections: int = PACED_CONNECTIONS) -> str:
    """wrk's per-connection pause (ms) for about `rate` requests a second in all."""
    return str(max(1, round(1000 * connections / rate)))


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


Run = tuple[str, int, int, str, tuple[str, ...], dict[str, str]]


def _parallel(*runs: Run, nice_last: bool = False) -> list[dict[str, Any]]:
    """wrk_once for each (url, connections, seconds, script, headers, env) at the
    same time; their results in order. `nice_last`: the last generator at the
    lowest CPU priority."""
    results: list[dict[str, Any]] = [{} for _ in runs]

    def one(n: int, run: Run) -> None:
        url, connections, seconds, script, headers, env = run
        nice = 19 if nice_last and n == len(runs) - 1 else 0
        results[n] = wrk_once(url, connections, seconds, script, headers, env=env, nice=nice)

    threads = [threading.Thread(target=one, args=(n, r)) for n, r in enumerate(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def read_path_cost(base: str, beacons_base: str, wrk_env: dict[str, str],
                   seconds: int = SECONDS) -> dict[str, Any]:
    """What beacons cost cached /e/demo, as deployed: embeds to the web workers at
    `base`, beacons to the events workers at `beacons_base` (nginx's routing).
    Saturated (beacons as fast as they are answered, beside), and at half the embeds'
    maximum with beacons offered at their share: achieved rates and p99."""
    lua = OUT / "lua" / "beacon.lua"
    lua.write_text(BEACON_LUA)
    done = str(OUT / "lua" / "done.lua")
    openloop = loadgen.build(OUT)
    embed = base + "/e/demo"
    beacons = beacons_base + "/api/v1/events"
    br = ("Accept-Encoding: br",)
    for _ in range(3):
        fetch(embed, {"Accept-Encoding": "br"})
    story_id = ObjectId(wrk_env["STORY"])
    before = (accepted(beacons_base), rolled_up(story_id))
    out: dict[str, Any] = {"beacons_per_embed": BEACONS_PER_EMBED, "seconds": seconds,
                           "shared_workers": base == beacons_base,
                           "load_average_before": os.getloadavg()[0]}

    # The beacons' generator stands in for readers' browsers, which run elsewhere:
    # at the lowest CPU priority it takes only what the servers leave, and the
    # embeds pay for the beacons' serving, not for their sending.
    # Saturated runs on these cores swing by more than the effect sought, so
    # alone and with alternate, ROUNDS times, and their medians are compared.
    print(f"read path: saturated, embeds alone and with beacons beside, {seconds} s each, "
          f"{ROUNDS} rounds", flush=True)
    alones, withs, beacon_runs = [], [], []
    for n in range(ROUNDS):
        alones.append(wrk_once(embed, CONNECTIONS, seconds, done, br))
        # Page views of their own each round: a page view seen before is a replay.
        with_embed, with_beacons = _parallel(
            (embed, CONNECTIONS, seconds, done, br, {}),
            (beacons, CONNECTIONS, seconds, str(lua), (), {**wrk_env, "RUN": f"sat{n}"}),
            nice_last=True)
        withs.append(with_embed)
        beacon_runs.append(with_beacons)
    alone = _median_run(alones)
    with_embed, with_beacons = _median_run(withs), _median_run(beacon_runs)
    out["saturated"] = {
        "embeds_alone_per_s": alone["requests_per_s"],
        "embeds_with_beacons_per_s": with_embed["requests_per_s"],
        "beacons_per_s": with_beacons["requests_per_s"],
        "beacon_errors": sum(r["errors"] for r in beacon_runs),
        "embed_ratio": round(with_embed["requests_per_s"] / alone["requests_per_s"], 3),
        "rounds": {"alone": [r["requests_per_s"] for r in alones],
                   "with": [r["requests_per_s"] for r in withs],
                   "beacons": [r["requests_per_s"] for r in beacon_runs]},
        "alone": alone, "with": with_embed, "beacons": with_beacons}

    target = alone["requests_per_s"] * OFFERED
    print(f"read path: embeds offered at {target:.0f}/s ({OFFERED:.0%} of the maximum), "
          f"alone and with {target * BEACONS_PER_EMBED:.0f} beacons/s beside", flush=True)
    paced_alone = _offered(openloop, embed, target, seconds, br)
    paced: dict[str, Any] = {}
    beside = threading.Thread(target=lambda: paced.update(
        embed=_offered(openloop, embed, target, seconds, br)))
    beside.start()
    paced_beacons = wrk_once(
        beacons, PACED_CONNECTIONS, seconds, str(lua),
        env={**wrk_env, "RUN": "fix", "PAUSE_MS": pause_for(target * BEACONS_PER_EMBED)},
        nice=19)
    beside.join()
    paced_embed = paced["embed"]
    keys = ("requests_per_s", "p50_ms", "p99_ms", "errors")
    out["fixed_rate"] = {
        "offered_embeds_per_s": round(target, 1), "offered_share_of_max": OFFERED,
        "without": {k: paced_alone[k] for k in keys},
        "with": {k: paced_embed[k] for k in keys},
        "beacons": {k: paced_beacons[k] for k in keys},
        "embed_rate_ratio": round(paced_embed["requests_per_s"]
                                  / max(paced_alone["requests_per_s"], 1), 3),
        "beacon_rate_ratio": round(paced_beacons["requests_per_s"]
                                   / max(paced_embed["requests_per_s"] * BEACONS_PER_EMBED, 1),
                                   3),
        "embed_p99_with_over_without": round(paced_embed["p99_ms"]
                                             / max(paced_alone["p99_ms"], 0.001), 2),
    }
    # Lost or only late: every beacon the endpoint took must reach the rollups (the
    # ones wrk did not send in time were waiting on their connection, as a
    # browser's queued beacons wait: late, not lost).
    after = settle(beacons_base, story_id)
    out["beacons_kept"] = {"accepted": after[0] - before[0],
                           "rolled_up": after[1] - before[1]}
    out["load_average_after"] = os.getloadavg()[0]
    return out


def _offered(binary: Path, url: str, rate: float, seconds: int,
             headers: tuple[str, ...]) -> dict[str, Any]:
    """`rate` requests/s from the open-loop generator, in wrk_once's terms (achieved
    req/s, ms from each request's due time, errors and requests never sent)."""
    r = loadgen.open_loop(binary, url, rate, CONNECTIONS, seconds, headers)
    return {"requests_per_s": r["achieved_per_s"], "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"], "errors": r["errors"] + r["unsent"]}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median req/s."""
    return sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2]


def read_path_line(r: dict[str, Any]) -> str:
    """The scenario's line in a report (also of results published before the events
    workers: those sent the beacons to the web workers, one run each)."""
    sat, fixed = r["saturated"], r["fixed_rate"]
    where = "the web workers" if r.get("shared_workers", True) else "the events workers"
    rounds = len(sat["rounds"]["alone"]) if "rounds" in sat else 1
    answered = (f"; beacons answered {fixed['beacon_rate_ratio']:.0%} of their share"
                f" (p99 {fixed['beacons']['p99_ms']:.2f} ms)"
                if "beacon_rate_ratio" in fixed else "")
    if "beacons_kept" in r:
        kept = r["beacons_kept"]
        answered += (f"; of {kept['accepted']:,} beacons accepted, {kept['rolled_up']:,} "
                     "in the rollups")
    return (f"beacons to {where}: saturated, embeds {sat['embeds_with_beacons_per_s']:,.0f}/s"
            f" with {sat['beacons_per_s']:,.0f} beacons/s beside against "
            f"{sat['embeds_alone_per_s']:,.0f} alone ({sat['embed_ratio']:.2f}, median of "
            f"{rounds} run(s)); offered {fixed['offered_embeds_per_s']:,.0f}/s with "
            f"{r['beacons_per_embed']:g} beacon(s) each: achieved "
            f"{fixed['with']['requests_per_s']:,.0f} against "
            f"{fixed['without']['requests_per_s']:,.0f} without ({fixed['embed_rate_ratio']:.3f}),"
            f" p99 {fixed['with']['p99_ms']:.2f} ms against {fixed['without']['p99_ms']:.2f} ms"
            f"{answered}")


def _setup() -> tuple[Any, dict[str, str], dict[str, str], Any]:
    db, env = prepare()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")
    import django

    django.setup()
    from samembed.analytics import tokens
    from samembed.repositories import stories

    story = stories.get_by_slug("demo")
    if story is None:
        raise SystemExit("bench: the demo story is missing")
    wrk_env = {"TOKEN": tokens.sign(str(story.id)), "STORY": str(story.id)}
    env = {**env, "ANALYTICS_FLUSH_INTERVAL": FLUSH, "ANALYTICS_RATE": "5",
           "ANALYTICS_BURST": "30"}
    return db, env, wrk_env, story


def read_path_only() -> None:
    db, env, wrk_env, _ = _setup()
    try:
        # SHARED=1: the beacons to the web workers, as without the events workers.
        with gunicorn(env) as port, gunicorn(env, events=True) as events_port:
            beacons = port if os.environ.get("SHARED") == "1" else events_port
            result = read_path_cost(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{beacons}",
                                    wrk_env)
    finally:
        db.stop()
    (OUT / "events-read-path.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "saturated"}, indent=2))
    print(read_path_line(result))


def main() -> None:
    db, env, wrk_env, story = _setup()
    lua = OUT / "lua" / "beacon.lua"
    lua.write_text(BEACON_LUA)
    results: dict[str, Any] = {"rate": RATE, "paced_seconds": PACED_SECONDS,
                               "flush_interval_s": float(FLUSH)}
    try:
        with gunicorn(env, events=True) as port:
            base = f"http://127.0.0.1:{port}"
            url = base + "/api/v1/events"
            fetch(base + "/e/demo")

            print(f"events: max, {SECONDS} s, {CONNECTIONS} connections", flush=True)
            results["max"] = wrk_once(url, CONNECTIONS, SECONDS, str(lua),
                                      env={**wrk_env, "RUN": "max"})
            results["max"]["accepted_then_rolled_up"] = settle(base, story.id)

            pause = pause_for(RATE)
            print(f"events: {RATE}/s for {PACED_SECONDS} s", flush=True)
            base_count = rolled_up(story.id)
            with MemorySampler(workers(port)) as sampler:
                paced = wrk_once(url, PACED_CONNECTIONS, PACED_SECONDS, str(lua),
                                 env={**wrk_env, "RUN": "pac", "PAUSE_MS": pause})
                got, rolled = settle(base, story.id)
            answered = paced["requests"] - paced["errors"]
            this_run = rolled - base_count
            # wrk counts answers it read: requests in flight when it stops are counted
            # by the server and not by wrk, at most one per connection.
            paced.update(answered=answered, accepted_total=got, rolled_up_total=rolled,
                         rolled_up_this_run=this_run,
                         rollups_equal_accepted=got == rolled,
                         rollups_within_in_flight_of_answered=(
                             answered <= this_run <= answered + PACED_CONNECTIONS),
                         memory=sampler.summary())
            results["paced"] = paced

            for sig, name in ((signal.SIGTERM, "restart_term"), (signal.SIGKILL, "restart_kill")):
                print(f"events: {name}", flush=True)
                kids = workers(port)
                before = rolled_up(story.id)
                victim = kids[0]
                timer = threading.Timer(PACED_SECONDS / 2, os.kill, (victim, sig))
                timer.start()
                run = wrk_once(url, PACED_CONNECTIONS, PACED_SECONDS, str(lua),
                               env={**wrk_env, "RUN": name[-4:], "PAUSE_MS": pause})
                timer.join()
                time.sleep(float(FLUSH) * 2 + 1)
                after = rolled_up(story.id)
                # The killed worker's counters die with it, so count what wrk saw answered.
                answered = run["requests"] - run["errors"]
                lost = answered - (after - before)
                per_worker = run["requests_per_s"] / max(len(kids), 1)
                run.update(answered=answered, rolled_up_this_run=after - before, lost=lost,
                           lost_seconds_of_the_workers_beacons=round(lost / per_worker, 2),
                           flush_interval_s=float(FLUSH))
                results[name] = run

            with gunicorn(env) as web:
                results["read_path"] = read_path_cost(f"http://127.0.0.1:{web}", base, wrk_env)
            body, _ = fetch(base + "/e/demo", {"Accept-Encoding": "br"})
            results["embed_br_bytes"] = len(body)
    finally:
        db.stop()
    (OUT / "events.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(read_path_line(results["read_path"]))


if __name__ == "__main__":
    if sys.argv[1:] == ["read-path"]:
        read_path_only()
    else:
        main()
