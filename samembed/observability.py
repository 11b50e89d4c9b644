"""Request ids, JSON logs, timing and metrics for requests that reach Django.

Cache hits never get here: the ASGI fast path (`samembed.asgi`) counts them in
`samembed.metrics` itself and marks them `Server-Timing: cache;desc=hit`.
Everything else passes `RequestMiddleware`, first in MIDDLEWARE, which

- takes the request id from `X-Request-ID` (nginx sets it) when it is a sane
  token, else makes one, returns it in `X-Request-ID` and puts it on every log
  record written while the request runs;
- counts the request by route and status, and its duration;
- on read-path responses, turns what the view measured (cache outcome, database
  and template time) into a `Server-Timing` header, where `app` is the time in
  Django less the database's.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

from samembed import metrics

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
access_log = logging.getLogger("samembed.access")

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class Timing:
    """What a read-path view measured; set on `request.samembed_timing`."""

    __slots__ = ("cache", "db", "render")

    def __init__(self) -> None:
        self.cache = "hit"
        self.db = 0.0
        self.render = 0.0


class RequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SANE_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            match = request.resolver_match
            route = match.url_name if match is not None and match.url_name else "unmatched"
            with _lock:
                metrics.app.inc(metrics.series("samembed_requests_total", route=route,
                                               status=str(response.status_code)))
                metrics.app.observe(
                    metrics.series("samembed_request_duration_seconds", route=route), elapsed)
            response["X-Request-ID"] = rid
            timing: Timing | None = getattr(request, "samembed_timing", None)
            if timing is not None:
                response["Server-Timing"] = server_timing(timing, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %s", request.method, request.path, response.status_code,
                                extra={"status": response.status_code, "route": route,
                                       "duration_ms": round(elapsed * 1000, 2)})
            return response
        finally:
            request_id.reset(token)


# Sync middleware and views do not share one thread: Django's ASGIHandler enters a
# ThreadSensitiveContext per request, and asgiref gives each context an executor
# thread of its own, so a slow import runs beside cache misses and probes (see
# tests/test_worker_concurrency.py). Requests of one worker therefore update these
# counters from several threads at once; the lock keeps their increments.
_lock = threading.Lock()


def server_timing(timing: Timing, elapsed: float) -> str:
    parts = [f"cache;desc={timing.cache}"]
    if timing.cache == "miss":
        parts.append(f"db;dur={timing.db * 1000:.2f}")
        parts.append(f"render;dur={timing.render * 1000:.2f}")
    parts.append(f"app;dur={max(0.0, elapsed - timing.db) * 1000:.2f}")
    return ", ".join(parts)


def record_read(timing: Timing) -> None:
    """Count one read-path cache outcome (and a miss's database and render time)."""
    with _lock:
        metrics.app.inc(metrics.series("samembed_cache_total", result=timing.cache))
        if timing.cache == "miss":
            metrics.app.observe("samembed_db_seconds", timing.db)
            metrics.app.observe("samembed_render_seconds", timing.render)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            data["request_id"] = rid
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)
