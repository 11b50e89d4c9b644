"""The bench's measuring instruments, apart from wrk: the open-loop generator
(`openloop.c`, latency at a fixed offered rate with coordinated omission
accounted for), CPU pinning, and the machine's description and load check that
decide whether a run's figures may be published (`bench/results/`).

Used by bench/run.py (`make bench`, `make soak`) and tests/test_bench_tools.py.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "bench" / "openloop.c"
# A run is published only from a machine this quiet (1-minute load average per core,
# measured before the run), unless BENCH_PUBLISH=force says otherwise.
QUIET_LOAD_PER_CORE = float(os.environ.get("BENCH_MAX_LOAD_PER_CORE", "0.25"))

Result = dict[str, Any]


class BenchError(SystemExit):
    """A bench that cannot run as asked: the message says what to do (exit status 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"bench: {message}")
        self.code = 2


def positive_seconds(name: str, default: str, unit: str = "seconds") -> int:
    """An environment variable that must be a whole number above zero (of `unit`)."""
    raw = os.environ.get(name, default)
    try:
        value = int(raw)
    except ValueError:
        raise BenchError(f"{name}={raw!r} is not a whole number of {unit}") from None
    if value <= 0:
        raise BenchError(f"{name}={raw!r}: it must be at least 1 ({unit} of load)")
    return value


def require(*commands: str) -> None:
    """Refuse to start without the programs the bench drives, naming their packages."""
    packages = {"wrk": "wrk", "nginx": "nginx", "cc": "gcc", "taskset": "util-linux"}
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        names = " ".join(sorted({packages.get(c, c) for c in missing}))
        raise BenchError(f"{', '.join(missing)} not found: `make system-deps` installs them "
                         f"(Debian: apt-get install {names})")


def build(out_dir: Path) -> Path:
    """The generator, compiled once per change of its source."""
    binary = out_dir / "openloop"
    if not binary.exists() or binary.stat().st_mtime < SOURCE.stat().st_mtime:
        require("cc")
        out_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-O2", "-o", str(binary), str(SOURCE)], check=True)
    return binary


def pinned(cpus: str | None, command: list[str]) -> list[str]:
    """`command` run on these CPUs only (taskset), or as it is when `cpus` is None."""
    return ["taskset", "-c", cpus, *command] if cpus else command


def open_loop(binary: Path, url: str, rate: float, connections: int, seconds: float,
              headers: tuple[str, ...] = (), interval: float = 0, cpus: str | None = None,
              on_interval: Any = None) -> Result:
    """`rate` requests/s for `seconds`, latencies from each request's due time.

    Returns the generator's totals (ms), and each interval's when `interval` is set.
    """
    args = [str(binary), "-r", str(rate), "-c", str(connections), "-d", str(seconds)]
    if interval:
        args += ["-i", str(interval)]
    for header in headers:
        args += ["-H", header]
    intervals: list[Result] = []
    total: Result | None = None
    ticks = cpu_ticks()
    with subprocess.Popen(pinned(cpus, [*args, url]), stdout=subprocess.PIPE,
                          text=True) as process:
        for line in process.stdout or ():
            record = json.loads(line)
            if record.get("total"):
                total = record
                continue
            item = {"interval": record["interval"], "requests": record["requests"],
                    "errors": record["errors"], **_ms(record["latency"]),
                    "uncorrected": _ms(record["uncorrected"]),
                    "sending": _ms(record["sending"])}
            now = cpu_ticks()
            item["machine"] = machine_share(ticks, now)
            ticks = now
            intervals.append(item)
            if on_interval is not None:
                on_interval(item)
        status = process.wait(timeout=seconds + 30)
    if status != 0 or total is None:
        raise BenchError(f"the open-loop generator failed against {url}")
    result: Result = {
        "offered_per_s": round(rate, 1), "achieved_per_s": total["achieved_per_s"],
        "connections": connections, "seconds": seconds, "requests": total["requests"],
        "errors": total["errors"] + total["non2xx"], "unsent": total["unsent"],
        **_ms(total["latency"]),
        "uncorrected": _ms(total["uncorrected"]),
        "sending": _ms(total["sending"]),
    }
    if intervals:
        result["intervals"] = intervals
    return result


def _ms(latency: dict[str, int]) -> dict[str, float]:
    return {key.replace("_us", "_ms"): value / 1000 for key, value in latency.items()}


def machine() -> Result:
    """What the figures were measured on, and how busy it was just before."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), "")
    return {
        "cores": os.cpu_count(), "cpu": model, "kernel": platform.release(),
        "python": platform.python_version(), "load_average_before": load_average(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind, in clock ticks (/proc/stat's "cpu" line:
    user, nice, system, idle, iowait, irq, softirq, steal); empty where there is none."""
    try:
        line = Path("/proc/stat").read_text().split("\n", 1)[0]
    except OSError:
        return []
    return [int(x) for x in line.split()[1:9]]


def machine_share(before: list[int], after: list[int]) -> Result:
    """Between two `cpu_ticks`: the share of the machine's CPU time that was busy, and
    the CPU seconds the hypervisor gave to others (steal): time in which nothing
    here ran, though no process here sees it as its own."""
    if len(before) < 8 or len(after) < 8:
        return {}
    spent = [b - a for a, b in zip(before, after, strict=True)]
    whole = sum(spent) or 1
    return {"busy": round(1 - (spent[3] + spent[4]) / whole, 3),
            "steal_s": round(spent[7] / os.sysconf("SC_CLK_TCK"), 2)}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def publishable(before: list[float]) -> tuple[bool, str]:
    """Whether a run that started at this load average may publish its figures."""
    limit = QUIET_LOAD_PER_CORE * (os.cpu_count() or 1)
    if before[0] <= limit:
        return True, f"load average {before[0]} <= {limit:g} before the run"
    if os.environ.get("BENCH_PUBLISH") == "force":
        return True, (f"load average {before[0]} > {limit:g} before the run, published "
                      "anyway (BENCH_PUBLISH=force): the figures are noisy")
    return False, (f"load average {before[0]} > {limit:g} before the run: figures kept in "
                   "var/bench/ only (BENCH_PUBLISH=force publishes them anyway)")
