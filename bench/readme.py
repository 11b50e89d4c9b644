"""The README's performance figures, written from bench/results/ (`make bench-readme`).

Everything between the two marker lines of README.md is replaced by what the
published results say (bench.json from `make bench`, workers.json from
`make bench-workers`, soak.json from `make soak`), each figure with the command
that produced it and its date, so no number in that part of the README is typed
by hand. `make bench-release` runs the three and then this.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import read_path_line  # noqa: E402

RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BEGIN = "<!-- bench results: written by `make bench-readme` from bench/results/; do not edit -->"
END = "<!-- end of bench results -->"

NAMES = {
    "ours_c50": "ours, the frame's URL (paged grid, origin, 2 flags in the key), br",
    "raw_asgi_c50": "raw ASGI callable, same bytes, same gunicorn settings",
    "ours_plain_c50": "ours, `/e/demo`, br",
    "ours_c50_identity": "ours, identity body",
    "ours_c200": "ours, peak",
    "stack_c50": "stack nginx → gunicorn, `/e/demo`",
    "ceiling_c50": "ceiling: nginx static file, same bytes",
    "stack_c200": "stack, peak",
    "ceiling_c200": "ceiling, peak",
    "mixed_stack_c50": "mixed through the stack",
    "mixed_cacheable_stack_c50": "mixed, its cacheable part, through the stack",
    "mixed_cacheable_ceiling_c50": "mixed, its cacheable part, as nginx static files",
    "peer_c50": "peer (`cache_page`)",
    "cold_c1": "cold, every request renders",
    "cold_c50": "cold, every request renders",
}


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _source(data: dict[str, Any], file: str) -> str:
    m = data["machine"]
    return (f"`{data['command']}`, {m['date'][:10]}, `bench/results/{file}`; {m['cores']} "
            f"cores, load average {m['load_average_before'][0]} before the run")


def _bench(data: dict[str, Any]) -> list[str]:
    lines = [f"Last published run: {_source(data, 'bench.json')} (report: "
             "`bench/results/report.html`).", "",
             "| scenario | conns | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    for key, r in data["scenarios"].items():
        lines.append(f"| {NAMES.get(key, key)} | {r['connections']} | "
                     f"{r['requests_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{r['errors']} |")
    ratios = data["ratios"]
    lines += ["", f"- ours / raw ASGI callable: {ratios['ours_to_raw_asgi']:.0%} (by the workers' "
              f"CPU time per request: {ratios.get('ours_to_raw_asgi_by_cpu', 0):.0%}, "
              f"{data['scenarios']['ours_c50'].get('cpu_us_per_request')} µs against "
              f"{data['scenarios']['raw_asgi_c50'].get('cpu_us_per_request')}); ours / peer: "
              f"{ratios['ours_to_peer']}×; stack / nginx static: {ratios['stack_to_ceiling']:.0%} "
              f"({ratios['stack_to_ceiling_c200']:.0%} at 200 connections)"
              + (f"; the mixed load's cacheable part / the same as nginx static files: "
                 f"{ratios['mixed_cacheable_stack_to_ceiling']:.0%}"
                 if "mixed_cacheable_stack_to_ceiling" in ratios else "") + "."]
    cold = data["cold_server_timing"]
    lines.append(f"- cold render of `demo`, application time p50 {cold['app_p50_ms']} ms "
                 f"(template {cold['render_p50_ms']} ms, database {cold['db_p50_ms']} ms; "
                 f"{cold['samples']} requests, the application's own `Server-Timing`).")
    by_posts = data.get("cold_by_posts")
    if by_posts:
        lines.append("- cold render by posts on the page (`/e/bench-100?limit=N`, p50 of "
                     "application / template / database ms): " + "; ".join(
                         f"{n} posts {t['app_p50_ms']} / {t['render_p50_ms']} / {t['db_p50_ms']}"
                         for n, t in by_posts.items()) + ".")
    if "analytics" in data:
        lines.append(f"- analytics (one beacon per embed request, no CDN): "
                     f"{read_path_line(data['analytics'])}.")
    fixed = data.get("fixed_rates")
    if fixed:
        lines += ["", f"Latency at fixed offered rates (`bench/openloop.c`, "
                  f"{fixed['connections']} connections, {fixed['seconds']} s each, from each "
                  f"request's due time; servers on CPU {fixed['server_cpus']}, generator on CPU "
                  f"{fixed['generator_cpus']}; the maximum measured in the same pinning):", "",
                  "| side | share of max | offered req/s | p50 ms | p99 ms | p99.9 ms | "
                  "p99 from send ms |", "|---|---|---|---|---|---|---|"]
        for side in ("ours", "stack"):
            for share, r in fixed[side]["rates"].items():
                lines.append(f"| {side} | {share} | {r['offered_per_s']:,.0f} | "
                             f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p999_ms']:.2f} | "
                             f"{r['uncorrected']['p99_ms']:.2f} |")
    lines += ["", "Goals:", ""]
    lines += [f"- {'met' if ok else '**not met**'}: {goal}" for goal, ok in data["goals"].items()]
    return lines


def _workers(data: dict[str, Any]) -> list[str]:
    models = data["models"]
    counts = sorted({c for table in models.values() for c in table}, key=int)
    lines = [f"Worker model and count ({_source(data, 'workers.json')}; `{data['url']}`, br, "
             f"{data['connections']} connections, {data['seconds']} s each), req/s (p99 ms):",
             "", "| model | " + " | ".join(f"{c} worker{'s' if c != '1' else ''}"
                                          for c in counts) + " |",
             "|---|" + "---|" * len(counts)]
    for model, table in models.items():
        cells = [f"{table[c]['requests_per_s']:,.0f} ({table[c]['p99_ms']:.1f})"
                 if c in table else "" for c in counts]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _soak(data: dict[str, Any]) -> list[str]:
    total = data["total"]
    return [f"Soak ({_source(data, 'soak.json')}): {data['target_requests_per_s']:,.0f} req/s "
            f"offered through the stack, {data['achieved_requests_per_s']:,.0f} achieved, "
            f"p99 {total['p99_ms']:.2f} ms, p99.9 {total['p999_ms']:.2f} ms, errors "
            f"{total['errors']}; p99 last/first interval {data['p99_last_over_first']}, worker "
            f"memory last/first {data['rss_last_over_first']}."]


def section(results: Path = RESULTS) -> str:
    """The generated part of the README, markers included."""
    parts: list[list[str]] = []
    for name, render in (("bench", _bench), ("workers", _workers), ("soak", _soak)):
        data = _load(results, name)
        parts.append(render(data) if data else
                     [f"No published `{name}` results yet (`make bench-release` on a quiet "
                      "machine writes them)."])
    body = "\n\n".join("\n".join(p) for p in parts)
    return f"{BEGIN}\n{body}\n{END}"


def main() -> None:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"bench/readme.py: README.md has no {BEGIN!r} … {END!r} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    README.write_text(head + section() + tail)
    print("README.md: performance figures written from bench/results/")


if __name__ == "__main__":
    main()
