"""What every source module shares: base URLs from editors, JSON over outbound, rate limits.

Rate limits surface the same way in every source: when the network says "no
more requests until T" (remaining 0 with a reset time, or a 429), `fetch()`
returns normally with what it got so far and `Batch.wait` set to the seconds
left, and stores T in the cursor as `not_before`. A fetch called before T
returns an empty batch with the remaining wait and makes no request at all, so
the rate limit holds even if the runner polls too early. Neither is a failure.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from samembed import outbound
from samembed.ingest.model import Batch, SourceError
from samembed.ingest.sanitise import read_date

_HOST = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
# The longest wait honoured; a reset time further out is clamped (a wrong clock
# upstream must not silence a source for a day).
MAX_WAIT = 3600.0


def clean_base_url(value: str, what: str) -> str:
    """`https://host` from "host" or "https://host/…"; http only when typed explicitly.

        >>> clean_base_url("Mastodon.Social", "instance")
        'https://mastodon.social'
    """
    raw = (value or "").strip()
    if not raw:
        raise ValueError(f"Enter the {what}'s address, such as mastodon.social.")
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"The {what} must be an http or https address, not {parts.scheme}.")
    if parts.username or parts.password:
        raise ValueError(f"The {what}'s address must not contain a user name or password.")
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"The {what}'s address {value!r} has a bad port.") from e
    if port not in (None, 80, 443):
        raise ValueError(f"The {what} must be on the standard port, not {port}.")
    if not _HOST.match(host):
        raise ValueError(f"{value.strip()!r} is not a host name; enter one like mastodon.social.")
    return f"{parts.scheme}://{host}"


def host_of(base_url: str) -> str:
    return urlsplit(base_url).hostname or base_url


def decode_json(response: outbound.Response, where: str) -> Any:
    try:
        return json.loads(response.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(f"{where} answered with something that is not JSON ({e}).") from e


def seconds_until(value: str | None, now: float | None = None) -> float | None:
    """Seconds until a reset given as epoch seconds, ISO 8601 or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    now = time.time() if now is None else now
    when: float | None = None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        number = float(value)
        # Small numbers are a delay (Retry-After), large ones an epoch time.
        when = number if number > 1_000_000_000 else now + number
    else:
        parsed = read_date(value)
        if parsed is None:
            return None
        when = parsed.timestamp()
    return min(max(when - now, 1.0), MAX_WAIT)


class RateLimited(Exception):
    """Raised by a network's calls when it says to stop; `fetch_within_limits` turns it
    into `Batch.wait`, so a rate limit is never counted as a failure."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.0f} s")
        self.wait = wait


class Limited(Protocol):
    # What the calls of one fetch learnt from rate-limit headers: the wait to report.
    wait: float | None


def fetch_within_limits(cursor: dict[str, Any], calls: Limited,
                        read: Callable[[Batch], None]) -> Batch:
    """The shape of every polled network's fetch: honour a wait the network asked for
    earlier, `read` into a fresh batch, and report any new wait instead of failing."""
    held = waiting(cursor)
    if held is not None:
        return held
    batch = Batch(cursor={k: v for k, v in cursor.items() if k != "not_before"})
    try:
        read(batch)
    except RateLimited as limit:
        return hold(batch, limit.wait)
    if calls.wait is not None:
        hold(batch, calls.wait)
    return batch


def waiting(cursor: dict[str, Any]) -> Batch | None:
    """An empty batch when the cursor says the network asked us to wait and time is not up."""
    not_before = cursor.get("not_before")
    if isinstance(not_before, (int, float)):
        left = not_before - time.time()
        if left > 0:
            return Batch(cursor=dict(cursor), wait=left)
    return None


def hold(batch: Batch, wait: float) -> Batch:
    """Record a wait in the batch and in its cursor."""
    batch.wait = wait
    batch.cursor["not_before"] = time.time() + wait
    return batch


def rate_limit_wait(headers: httpx.Headers, remaining: str, reset: str) -> float | None:
    """The wait a response's rate-limit headers ask for: when nothing is left, until reset."""
    left = headers.get(remaining, "").strip()
    if left.isdigit() and int(left) <= 0:
        return seconds_until(headers.get(reset)) or 60.0
    return None


def retry_wait(headers: httpx.Headers, reset: str) -> float:
    """The wait a 429 asks for: Retry-After, else the reset header, else a minute."""
    return (seconds_until(headers.get("retry-after"))
            or seconds_until(headers.get(reset)) or 60.0)


def id_key(value: str) -> tuple[int, str]:
    """Orders numeric ids as numbers (Mastodon's are decimal strings of varying length)."""
    return (len(value), value) if value.isdigit() else (0, value)


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when the upstream sent an object there, else an empty one."""
    return value if isinstance(value, dict) else {}
