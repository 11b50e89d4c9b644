"""Guardrail counts of the flags that change embeds: per flag and variant, how
many embed requests got it (exposures), how many renders failed (server errors)
and how many frames reported a script error (client errors).

    fast path: /e/ request -> asgi.flagged_key -> hit_suffix()        metrics.fast
    Django:    a render that raises              -> failed(variants)  metrics.app
    frame:     error / unhandledrejection -> navigator.sendBeacon("/flags/error",
               "grid-v2=on&img-xlarge=off") -> FastPath -> beacon()   metrics.fast

Counted in memory as `samembed_flag_events_total{flag,variant,kind}` and summed
over workers by `samembed.metrics` (/metrics, and the studio's flags page).
Memory stays bounded whatever arrives: a beacon counts only flags of the
current snapshot and their own variants (a forged name is dropped, never a new
series), its body is read up to BEACON_MAX_BYTES, and each address may report
BEACON_PER_ADDRESS a second, with the table of addresses itself bounded.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from samembed import flags, metrics
from samembed.ratelimit import RateLimit

BEACON_PATH = "/flags/error"
BEACON_MAX_BYTES = 512
BEACON_PER_ADDRESS = 5
ADDRESSES_MAX = 4096
KINDS = ("exposure", "server_error", "client_error")
NAME = "samembed_flag_events_total"

_series: dict[tuple[str, str, str], str] = {}
# Reports per address: BEACON_PER_ADDRESS a second, in bounded memory.
_recent = RateLimit(lambda: (BEACON_PER_ADDRESS, BEACON_PER_ADDRESS), ADDRESSES_MAX)


def _name(kind: str, key: str, variant: str) -> str:
    found = _series.get((kind, key, variant))
    if found is None:
        if len(_series) > 4 * ADDRESSES_MAX:
            _series.clear()
        found = _series[(kind, key, variant)] = metrics.series(
            NAME, flag=key, variant=variant, kind=kind)
    return found


def _count(registry: metrics.Registry, kind: str, variants: Mapping[str, str]) -> None:
    for rule in flags.installed().embed:
        registry.inc(_name(kind, rule.key, variants.get(rule.key, flags.OFF)))


def exposed(variants: Mapping[str, str]) -> None:
    """One embed request served for these variants (the fast path's thread)."""
    _count(metrics.fast, "exposure", variants)


def hit_suffix(slug: str, origin: str | None) -> str:
    """The flags' part of the cache key of `/e/<slug>` for this origin unit, with the
    exposure counted: on the fast path, so worked out once per (slug, origin) and
    snapshot, then one dictionary lookup and a counter per embed flag."""
    suffix, exposures = hit_part(slug, origin)
    inc = metrics.fast.inc
    for name in exposures:
        inc(name)
    return suffix


def hit_part(slug: str, origin: str | None) -> tuple[str, tuple[str, ...]]:
    """`hit_suffix`'s suffix and the exposure series a request counts, not counted
    yet (for callers that keep the pair)."""
    snap = flags.installed()
    found = snap.memo.get((slug, origin))
    if found is None:
        variants = flags.embed_variants(slug, origin)
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
          margin: float = MARGIN) -> bool:
    """Whether errors/shown exceeds base_errors/base_shown by more than `margin`,
    with one-sided 99 % confidence (two-proportion z-test)."""
    if shown < MIN_EXPOSURES or base_shown < MIN_EXPOSURES:
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


def judge(window: Counts, margin: float = MARGIN) -> list[Verdict]:
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
                         base.get("exposure", 0.0), margin):
                    rate = c[kind] / c["exposure"]
                    baseline = base.get(kind, 0.0) / base["exposure"]
                    label = kind.replace("_", " ")
                    found.append(Verdict(key, variant, kind, rate, baseline, (
                        f"{variant}: {label} rate {rate:.2%} against {baseline:.2%} for off "
                        f"over {int(c['exposure'])} and {int(base['exposure'])} exposures")))
                    break
    return found


_SERIES = re.compile(r'^%s\{([^}]*)\} ([0-9.e+]+)$' % NAME, re.M)


def parse_exposition(text: str) -> dict[str, object]:
    """A /metrics page's flag counters, as a snapshot `totals` reads."""
    return {"counters": {f"{NAME}{{{m.group(1)}}}": float(m.group(2))
                         for m in _SERIES.finditer(text)}}
