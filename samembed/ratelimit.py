"""Per-address token buckets in bounded memory, for the fast path's beacon endpoints.

Both beacons the frame sends (analytics events, `samembed.analytics.collect`;
flags' client errors, `samembed.embed.guard`) are answered by the ASGI fast path
without Django, so their per-address limits live in memory per process. Whatever
arrives, at most `addresses` buckets are kept.
"""

from __future__ import annotations

from collections.abc import Callable


class RateLimit:
    """A token bucket per address; `limits()` gives (tokens per second, burst), read at
    each call so that settings can change."""

    def __init__(self, limits: Callable[[], tuple[float, float]], addresses: int) -> None:
        self._limits = limits
        self._addresses = addresses
        self._buckets: dict[str, list[float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def clear(self) -> None:
        """Forget every address."""
        self._buckets.clear()

    def allow(self, address: str, now: float) -> bool:
        """Whether `address` may send one more now (monotonic seconds)."""
        rate, burst = self._limits()
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= self._addresses:
                self._prune(now, rate, burst)
            bucket = self._buckets[address] = [burst, now]
        tokens_now = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens_now < 1.0:
            bucket[0] = tokens_now
            return False
        bucket[0] = tokens_now - 1.0
        return True

    def _prune(self, now: float, rate: float, burst: float) -> None:
        # Buckets full again are no different from new ones; if that frees too
        # little, the oldest half goes (dicts keep insertion order).
        refill = burst / rate if rate else float("inf")
        for address in [a for a, b in self._buckets.items() if now - b[1] >= refill]:
            del self._buckets[address]
        if len(self._buckets) >= self._addresses:
            for address in list(self._buckets)[: self._addresses // 2]:
                del self._buckets[address]
