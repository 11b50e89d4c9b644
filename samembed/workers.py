"""The gunicorn worker class: uvicorn's event loop serving `samembed.asgi`.

Chosen by measurement (README, "Performance"): a cache hit answered by the
ASGI fast path under uvicorn is several times faster than any WSGI worker
could serve even a trivial callable on this hardware. Access logs are off
(a log line per embed view costs more than serving it).

A worker that stops (SIGTERM from a deploy, or recycled after `max_requests`)
still answers the requests already on their way to it: see `Protocol`.

It also offers the fast path (samembed.asgi) an ASGI extension, `PREPARED`: a
whole answer in one message whose header lines were checked and encoded once,
when the cached entry's answer was prepared, and are sent with the body in one
write. uvicorn's own `send` checks every header of every answer against two
regular expressions and writes head and body apart, which on a cache hit cost
more than the fast path's own work.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn_worker import UvicornWorker

# How long a stopping worker keeps an idle connection open for a request that
# may already be on the wire: longer than a round trip on a loaded host, short
# against gunicorn's graceful_timeout.
SHUTDOWN_GRACE = 1.0


# The extension's name, in scope["extensions"] and as the message's "type": a
# message {"type": PREPARED, "status": int, "head": bytes, "body": bytes} is a whole
# answer; "head" is header lines made by `encode_head`.
PREPARED = "samembed.prepared"


def encode_head(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The header lines of a prepared answer, checked as uvicorn checks each answer's
    (None: a header it would refuse, which must then go through its own `send`)."""
    lines = []
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            return None
        name = name.lower()
        if name in (b"connection", b"transfer-encoding"):
            return None  # what uvicorn's send would act on, not just write out
        lines.append(b"%s: %s\r\n" % (name, value))
    return b"".join(lines)


def prepared(status: int, headers: list[tuple[bytes, bytes]], body: bytes,
             ) -> dict[str, Any] | None:
    """The `PREPARED` message of an answer (None: it needs uvicorn's own send)."""
    if status not in (204, 304) and not any(n.lower() == b"content-length" for n, _ in headers):
        return None  # uvicorn would frame it (chunked); a prepared answer is never framed
    head = encode_head(headers)
    return None if head is None else {"type": PREPARED, "status": status, "head": head,
                                      "body": body}


def offers_prepared(scope: dict[str, Any]) -> bool:
    """Whether the worker serving `scope` takes `PREPARED` messages."""
    return PREPARED in (scope.get("extensions") or ())


# The server's default headers (the date, renewed each second as a new list) and
# their encoding, kept while the list stands.
_defaults: list[Any] = [None, b""]


class Cycle(RequestResponseCycle):
    """uvicorn's request-response cycle, also sending `PREPARED` answers."""

    async def send(self, message: Any) -> None:
        if message["type"] != PREPARED:
            return await super().send(message)
        if self.response_started:
            raise RuntimeError("a prepared answer after the response had started")
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        self.response_started = self.response_complete = True
        self.waiting_for_100_continue = False
        defaults, encoded = _defaults
        if defaults is not self.default_headers:
            defaults = self.default_headers
            encoded = encode_head(defaults) or b""
            _defaults[:] = [defaults, encoded]
        head = [STATUS_LINE[message["status"]], encoded, message["head"]]
        if not self.keep_alive:
            head.append(b"connection: close\r\n")
        head.append(b"\r\n")
        body = b"" if self.scope["method"] == "HEAD" else message["body"]
        self.transport.writelines((b"".join(head), body))
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


class Protocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, closing idle connections gracefully on shutdown.

    uvicorn closes every idle connection the moment its worker stops: one it has
    just accepted, whose request it has not read yet, and a keep-alive one whose
    client has just sent its next request. Either client gets a reset instead of
    an answer. Here such a connection stays open for `SHUTDOWN_GRACE`; a request
    that arrives meanwhile is answered with `Connection: close`.
    """

    _stopping = False

    def shutdown(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()  # answering: it closes after this response
            return
        self._stopping = True
        self.loop.call_later(SHUTDOWN_GRACE, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None:
            if self._stopping:
                cycle.keep_alive = False
            # Its task has not run yet: it will find the extension and its `send`.
            cycle.__class__ = Cycle
            cycle.scope.setdefault("extensions", {})[PREPARED] = {}  # type: ignore[typeddict-item]


class Worker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": Protocol,
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        "proxy_headers": True,
    }
