"""The shared shape of every fake upstream: a small threaded HTTP server on loopback.

Each fake network (mastodon.py, bluesky.py, feeds.py) subclasses `FakeServer`
and answers in its network's real format. The controls every fake has:

- `requests`: every request seen (method, path, query, headers, body), to count
  and inspect them;
- `fail_next(n, status=500)`: the next n requests answer that status;
- `reply_next(reply, n=1)`: the next n requests get that exact reply;
- `rate_limit(...)` on the networks that send rate-limit headers.

Servers bind 127.0.0.1 on a free port and are stopped by the fixture that
started them (see plugin.py); handlers that stream slowly stop when the server does.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FakeServer:
    """Override `handle(seen) -> Reply` (or `stream()` for bodies written piecewise)."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._failures: list[Reply] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle on, each keep-alive
            # answer waited ~40 ms for a delayed ACK, which real servers do not.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._dispatch(self, b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                fake._dispatch(self, self.rfile.read(length))

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the tests read `requests` instead

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # Controls --------------------------------------------------------------

    def fail_next(self, times: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([Reply(status, b'{"error": "Internal Server Error"}',
                                         {"Content-Type": "application/json"})] * times)

    def recover(self) -> None:
        """Forget failures still queued by fail_next / reply_next: the upstream is back."""
        with self._lock:
            self._failures.clear()

    def reply_next(self, reply: Reply, times: int = 1) -> None:
        """Answer the next requests with `reply` (malformed bodies, odd statuses)."""
        with self._lock:
            self._failures.extend([reply] * times)

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]

    # Serving ---------------------------------------------------------------

    def handle(self, seen: Seen) -> Reply:
        raise NotImplementedError

    def stream(self, seen: Seen, handler: BaseHTTPRequestHandler) -> bool:
        """Write a response by hand (slow or huge bodies); True when it did."""
        return False

    def _dispatch(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = urlsplit(handler.path)
        seen = Seen(handler.command, parts.path, parse_qs(parts.query),
                    {k.lower(): v for k, v in handler.headers.items()}, body)
        with self._lock:
            self.requests.append(seen)
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            reply = failure
        else:
            try:
                if self.stream(seen, handler):
                    return
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up, which is what the limits are for
            reply = self.handle(seen)
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            if handler.command != "HEAD" and reply.status not in (204, 304):
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(),
                 {"Content-Type": "application/json; charset=utf-8", **(headers or {})})
