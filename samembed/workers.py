"""The gunicorn worker class: uvicorn's event loop serving `samembed.asgi`.

Chosen by measurement (README, "Performance"): a cache hit answered by the
ASGI fast path under uvicorn is several times faster than any WSGI worker
could serve even a trivial callable on this hardware. Access logs are off
(a log line per embed view costs more than serving it).

A worker that stops (SIGTERM from a deploy, or recycled after `max_requests`)
still answers the requests already on their way to it: see `Protocol`.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

# How long a stopping worker keeps an idle connection open for a request that
# may already be on the wire: longer than a round trip on a loaded host, short
# against gunicorn's graceful_timeout.
SHUTDOWN_GRACE = 1.0


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
        if self._stopping and self.cycle is not None:
            self.cycle.keep_alive = False


class Worker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": Protocol,
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        "proxy_headers": True,
    }
