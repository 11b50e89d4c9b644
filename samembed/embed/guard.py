"""Guardrail counts of the flags that change embeds: per flag and variant, how
many embed requests got it (exposures), how many renders failed (server errors),
how many frames reported a script error (client errors), and how many renders
there were and how long they took (render, render_seconds).

    fast path: an /e/ hit      -> asgi.hit_key -> hit_part()          metrics.fast
    Django:    any other /e/ request -> exposed(variants, app)        metrics.app
               a render               -> rendered(variants, s)        metrics.app
               a render that raises   -> failed(variants)             metrics.app
    frame:     error / unhandledrejection -> navigator.sendBeacon("/flags/error",
               "grid-v2=on&img-xlarge=off") -> FastPath -> beacon()   metrics.fast

Counted in memory as `samembed_flag_events_total{flag,variant,kind}` and summed
over workers by `samembed.metrics` (/metrics). Every FLAGS_FLUSH_INTERVAL a
thread of each worker (`CountFlusher`) writes what was counted since its last
write as `$inc` upserts into `flag_counts` (samembed.repositories.flag_counts),
so the guard and the studio see the sum over every worker of every instance.
Memory stays bounded whatever arrives: a beacon counts only flags of the
current snapshot and their own variants (a forged name is dropped, never a new
series), its body is read up to BEACON_MAX_BYTES, and each address may report
BEACON_PER_ADDRESS a second, with the table of addresses itself bounded.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from samembed import flags, metrics
from samembed.ratelimit import RateLimit

logger = logging.getLogger(__name__)

BEACON_PATH = "/flags/error"
BEACON_MAX_BYTES = 512
BEACON_PER_ADDRESS = 5
ADDRESSES_MAX = 4096
KINDS = ("exposure", "server_error", "client_error", "render", "render_seconds")
NAME = "samembed_flag_events_total"

_series: dict[tuple[str, str, str], str] = {}
# series name -> (flag, variant, kind), for the flusher: as bounded as the counters.
_labels: dict[str, tuple[str, str, str]] = {}
# Reports per address: BEACON_PER_ADDRESS a second, in bounded memory.
_recent = RateLimit(lambda: (BEACON_PER_ADDRESS, BEACON_PER_ADDRESS), ADDRESSES_MAX)


def _name(kind: str, key: str, variant: str) -> str:
    found = _series.get((kind, key, variant))
    if found is None:
        if len(_series) > 4 * ADDRESSES_MAX:
            _series.clear()
            _labels.clear()
        found = _series[(kind, key, variant)] = metrics.series(
            NAME, flag=key, variant=variant, kind=kind)
        _labels[found] = (key, variant, kind)
    return found


def _count(registry: metrics.Registry, kind: str, variants: Mapping[str, str]) -> None:
    for rule in flags.installed().embed:
        registry.inc(_name(kind, rule.key, variants.get(rule.key, flags.OFF)))


def exposed(variants: Mapping[str, str], registry: metrics.Registry = metrics.fast) -> None:
    """One embed request answered for these variants: by the fast path (a hit, its
    thread's registry) or by Django (`metrics.app`), never by both."""
    _count(registry, "exposure", variants)


def hit_part(slug: str, origin: str | None) -> tuple[str, tuple[str, ...]] | None:
    """The flags' part of the cache key of `/e/<slug>` for this origin unit, and the
    exposure series the request counts if the fast path answers it: worked out once
    per (slug, origin) and snapshot, then one dictionary lookup. None: a flag is
    sticky on the story's id and this process does not know the slug's (Django
    learns it)."""
    snap = flags.installed()
    found = snap.memo.get((slug, origin))
    if found is None:
        if snap.by_story_id and flags.story_id_of(slug) is None:
            return None
        variants = flags.embed_variants(slug, origin, snap=snap)
        found = (flags.key_suffix(variants),
                 tuple(_name("exposure", r.key, variants.get(r.key, flags.OFF))
                       for r in snap.embed))
        if not snap.drawn:
            if len(snap.memo) >= flags.MEMO_MAX:
                snap.memo.clear()
            snap.memo[(slug, origin)] = found
    return found


def failed(variants: Mapping[str, str]) -> None:
    """One render for these variants raised (Django's thread)."""
    _count(metrics.app, "server_error", variants)


def rendered(variants: Mapping[str, str], seconds: float) -> None:
    """One render for these variants took `seconds` (Django's thread, where it ran)."""
    for rule in flags.installed().embed:
        variant = variants.get(rule.key, flags.OFF)
        metrics.app.inc(_name("render", rule.key, variant))
        metrics.app.inc(_name("render_seconds", rule.key, variant), seconds)


def report(body: bytes) -> int:
    """Count one client error report ("k=v&k=v"); how many flags it counted."""
    snap = flags.installed()
    rules = snap.rules
    embed = {r.key for r in snap.embed}
    counted = 0
    for pair in body.decode("utf-8", "replace").split("&")[:16]:
        key, _, variant = pair.partition("=")
        rule = rules.get(key)
        if rule is None or key not in embed:
            continue
        if variant != flags.OFF and variant not in {n for n, _ in rule.variants}:
            continue
        metrics.fast.inc(_name("client_error", key, variant))
        counted += 1
    return counted


def allowed(address: str, now: float | None = None) -> bool:
    """Whether `address` may report once more now."""
    return _recent.allow(address, time.monotonic() if now is None else now)


_NO_STORE = [(b"cache-control", b"no-store"), (b"content-length", b"0")]


async def beacon(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST /flags/error, answered by the fast path: 204 (counted or not, so a
    forger learns nothing), 405 for other methods, 413 beyond the size bound."""
    status = 204
    if scope["method"] != "POST":
        status = 405
    else:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > BEACON_MAX_BYTES:
                status = 413
                break
        client = scope.get("client") or ("", 0)
        if status == 204 and allowed(str(client[0])):
            report(body)
    headers = list(_NO_STORE)
    if status == 405:
        headers.append((b"allow", b"POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def totals(snapshots: list[dict[str, object]] | None = None
           ) -> dict[str, dict[str, dict[str, float]]]:
    """flag -> variant -> kind -> count, summed over this instance's workers."""
    found: dict[str, dict[str, dict[str, float]]] = {}
    for snap in snapshots if snapshots is not None else metrics.collect():
        counters = snap.get("counters")
        if not isinstance(counters, dict):
            continue
        for series, value in counters.items():
            if not series.startswith(NAME + "{"):
                continue
            labels = dict(part.split("=", 1) for part in series[len(NAME) + 1:-1].split(","))
            key, variant, kind = (labels.get(k, '""').strip('"')
                                  for k in ("flag", "variant", "kind"))
            cell = found.setdefault(key, {}).setdefault(variant, dict.fromkeys(KINDS, 0.0))
            cell[kind] = cell.get(kind, 0.0) + float(value)
    return found


# ---- the decision: is a variant worse than "off"? ----------------------------------

# One-sided 99 %: a healthy variant is ramped down by chance about once in a hundred
# looks at most, and only when it is also worse by more than the margin.
Z_WORSE = 2.33
MIN_EXPOSURES = 200
MARGIN = 0.01

Counts = dict[str, dict[str, dict[str, float]]]  # flag -> variant -> kind -> count


@dataclass(frozen=True)
class Verdict:
    key: str
    variant: str
    kind: str
    rate: float
    baseline: float
    reason: str


def worse(errors: float, shown: float, base_errors: float, base_shown: float,
          margin: float = MARGIN, least: int = MIN_EXPOSURES) -> bool:
    """Whether errors/shown exceeds base_errors/base_shown by more than `margin`,
    with one-sided 99 % confidence (two-proportion z-test)."""
    if shown < least or base_shown < least:
        return False
    p1, p0 = errors / shown, base_errors / base_shown
    if p1 - p0 <= margin:
        return False
    pooled = (errors + base_errors) / (shown + base_shown)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / shown + 1 / base_shown))
    return spread == 0 or (p1 - p0) / spread > Z_WORSE


def difference(now: Counts, before: Counts) -> Counts:
    """`now` less `before`, cell by cell (a window of counts)."""
    out: Counts = {}
    for key, variants in now.items():
        for variant, kinds in variants.items():
            old = before.get(key, {}).get(variant, {})
            out.setdefault(key, {})[variant] = {
                k: max(0.0, v - old.get(k, 0.0)) for k, v in kinds.items()}
    return out


def judge(window: Counts, margin: float = MARGIN, least: int = MIN_EXPOSURES
          ) -> list[Verdict]:
    """Every variant whose error rate over `window` is worse than "off"'s."""
    found = []
    for key, variants in sorted(window.items()):
        base = variants.get(flags.OFF)
        if base is None:
            continue
        for variant, c in sorted(variants.items()):
            if variant == flags.OFF:
                continue
            for kind in ("client_error", "server_error"):
                if worse(c.get(kind, 0.0), c.get("exposure", 0.0), base.get(kind, 0.0),
                         base.get("exposure", 0.0), margin, least):
                    rate = c[kind] / c["exposure"]
                    baseline = base.get(kind, 0.0) / base["exposure"]
                    label = kind.replace("_", " ")
                    found.append(Verdict(key, variant, kind, rate, baseline, (
                        f"{variant}: {label} rate {rate:.2%} against {baseline:.2%} for off "
                        f"over {int(c['exposure'])} and {int(base['exposure'])} exposures")))
                    break
    return found


# A scheduled step goes ahead only when the new variant is shown not to be worse:
# the one-sided 95 % upper bound of its error rate less the old one's is below the
# margin (Agresti-Caffo: one error and one success added to each side, so that
# no errors at all on both sides still gives a bound that shrinks with exposures).
Z_NOT_WORSE = 1.645


def not_worse(errors: float, shown: float, base_errors: float, base_shown: float,
              margin: float = MARGIN, least: int = MIN_EXPOSURES) -> bool:
    """Whether errors/shown is, with one-sided 95 % confidence, not worse than
    base_errors/base_shown by `margin` or more (a non-inferiority test)."""
    if shown < least or base_shown < least:
        return False
    p1 = (errors + 1) / (shown + 2)
    p0 = (base_errors + 1) / (base_shown + 2)
    spread = math.sqrt(p1 * (1 - p1) / (shown + 2) + p0 * (1 - p0) / (base_shown + 2))
    return (p1 - p0) + Z_NOT_WORSE * spread < margin


def healthy(variants: Mapping[str, Mapping[str, float]], margin: float = MARGIN,
            least: int = MIN_EXPOSURES) -> tuple[bool, str]:
    """Whether every variant of one flag is shown not worse than "off" for client
    and server errors, with why not (too few exposures yet, or not shown)."""
    base = variants.get(flags.OFF, {})
    others = {v: c for v, c in variants.items() if v != flags.OFF}
    if not others:
        return False, "no exposures of the new variant yet"
    for variant, c in sorted(others.items()):
        shown, base_shown = c.get("exposure", 0.0), base.get("exposure", 0.0)
        if shown < least or base_shown < least:
            return False, (f"waiting for {least} exposures of {variant} and of off "
                           f"(now {int(shown)} and {int(base_shown)})")
        for kind in ("client_error", "server_error"):
            if not not_worse(c.get(kind, 0.0), shown, base.get(kind, 0.0), base_shown,
                             margin, least):
                return False, (f"{variant}: {kind.replace('_', ' ')} rate "
                               f"{c.get(kind, 0.0) / shown:.2%} not yet shown within "
                               f"{margin:.2%} of off's {base.get(kind, 0.0) / base_shown:.2%}")
    return True, ", ".join(
        f"{v}: {int(c.get('exposure', 0))} exposures, client errors "
        f"{c.get('client_error', 0.0) / c['exposure']:.2%}, server errors "
        f"{c.get('server_error', 0.0) / c['exposure']:.2%}" for v, c in sorted(variants.items())
        if c.get("exposure")) + " (not worse than off, one-sided 95 %)"


def render_ms(c: Mapping[str, float]) -> float | None:
    """Mean render time in milliseconds of one variant's counts (None: no render)."""
    renders = c.get("render", 0.0)
    return 1000 * c.get("render_seconds", 0.0) / renders if renders else None


_SERIES = re.compile(r'^%s\{([^}]*)\} ([0-9.e+]+)$' % NAME, re.M)


def parse_exposition(text: str) -> dict[str, object]:
    """A /metrics page's flag counters, as a snapshot `totals` reads."""
    return {"counters": {f"{NAME}{{{m.group(1)}}}": float(m.group(2))
                         for m in _SERIES.finditer(text)}}


# ---- shared counts: every worker's, summed in MongoDB ------------------------------

FLUSH_INTERVAL = 5.0


def _parse(series: str) -> tuple[str, str, str] | None:
    found = _labels.get(series)
    if found is not None or not series.startswith(NAME + "{"):
        return found
    labels = dict(part.split("=", 1) for part in series[len(NAME) + 1:-1].split(","))
    key, variant, kind = (labels.get(k, '""').strip('"') for k in ("flag", "variant", "kind"))
    return key, variant, kind


class CountFlusher:
    """Writes this process's guardrail counts, as increments since its last good
    write, into `flag_counts`. Nothing is kept but the counters themselves and what
    was last written of each (both bounded by the flags and their variants), so
    a database that stays away costs no memory: the next good write carries it all."""

    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self.interval = interval
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _counters() -> dict[str, float]:
        # A copy taken once: what is written and what is remembered as written agree.
        # A series can be in both registries (exposures: hits and Django's): summed.
        found: dict[str, float] = {}
        for registry in (metrics.fast, metrics.app):
            for series, value in registry.counts().items():
                if _parse(series) is not None:
                    found[series] = found.get(series, 0.0) + value
        return found

    def pending(self, counters: Mapping[str, float] | None = None
                ) -> dict[tuple[str, str], dict[str, float]]:
        """(flag, variant) -> kind -> what was counted since the last good write."""
        deltas: dict[tuple[str, str], dict[str, float]] = {}
        for series, value in (self._counters() if counters is None else counters).items():
            labels = _parse(series)
            # Counters cleared (a test) start again from nothing.
            before = self._written.get(series, 0.0)
            delta = value - before if value >= before else value
            if labels is not None and delta:
                key, variant, kind = labels
                cell = deltas.setdefault((key, variant), {})
                cell[kind] = cell.get(kind, 0.0) + delta
        return deltas

    def flush(self) -> int:
        """Write what is pending; how many (flag, variant) documents it touched."""
        from samembed.repositories import flag_counts

        with self._lock:
            counters = self._counters()
            deltas = self.pending(counters)
            flag_counts.apply(flag_counts.increments(deltas, datetime.now(UTC)))
            self._written = counters
            return len(deltas)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as e:  # noqa: BLE001 - kept for the next round, serving goes on
                logger.warning("flag counts: flush failed: %s", e)

    def start(self) -> CountFlusher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="flag-counts", daemon=True)
            self._thread.start()
        return self

    def clear(self) -> None:
        """Forget what was written (the counters were cleared: a test)."""
        with self._lock:
            self._written.clear()

    def stop(self) -> None:
        """Stop, writing what was counted since the last write."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            self.flush()
        except Exception as e:  # noqa: BLE001 - a worker stopping during an outage
            logger.warning("flag counts: last flush failed: %s", e)


flusher = CountFlusher()


def start_flusher() -> CountFlusher:
    """Start this process's count flusher (idempotent), every FLAGS_FLUSH_INTERVAL."""
    flusher.interval = float(settings.FLAGS_FLUSH_INTERVAL)
    return flusher.start()
