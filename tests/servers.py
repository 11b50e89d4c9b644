"""Real servers on loopback for the tests: gunicorn as shipped, and a publisher page.

Each is started by the fixture that needs it and stopped when that fixture ends.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from samembed.embedded_db import free_port, port_open

ROOT = Path(__file__).resolve().parent.parent


class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py, the production worker model."""

    def __init__(self, mongodb_uri: str, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "MONGODB_URI": mongodb_uri,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "SECRET_KEY": "test-only-secret-key-that-is-long-enough-for-django-checks",
            "STATIC_ROOT": "var/test-static",
            "JINJA_BYTECODE_DIR": "var/test-jinja-cache",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.output()[-2000:]}")
            if port_open(self.port):
                try:
                    urllib.request.urlopen(self.url + "/healthz", timeout=5)
                    return
                # A worker's first request imports every view: on a loaded machine
                # that can outlast one attempt's timeout, not the deadline.
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start in time")

    def output(self) -> str:
        """What gunicorn and the app wrote to stderr so far."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class PublisherSite:
    """A third-party page on another origin (localhost vs 127.0.0.1) that embeds us."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
