"""Real servers on loopback for the tests and the bench: gunicorn and nginx as
shipped (deploy/), and a publisher page.

Each is started by the fixture that needs it and stopped when that fixture ends.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from samembed.embedded_db import free_port, port_open

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parent.parent


class Gunicorn:
    """gunicorn with deploy/gunicorn.conf.py, the production worker model (or another
    `config`: deploy/gunicorn-events.conf.py, the events workers)."""

    def __init__(self, mongodb_uri: str, workers: int = 1,
                 config: str = "deploy/gunicorn.conf.py", **env: str) -> None:
        self.port = free_port()
        self.config = config
        self.env = {
            **os.environ,
            "MONGODB_URI": mongodb_uri,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "EVENTS_BIND": f"127.0.0.1:{self.port}",
            "EVENTS_CONCURRENCY": str(workers),
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
            [str(Path(sys.executable).parent / "gunicorn"), "-c", self.config],
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


DEPLOY_NGINX = ROOT / "deploy" / "nginx"


class Nginx:
    """Debian's nginx running deploy/nginx/ as shipped, with only its ports and
    paths changed: its own prefix, pid, logs and cache under a temporary
    directory, bound to 127.0.0.1, in the foreground, stopped by `stop()`.

    Each replacement must apply, so a change to the shipped files that the
    harness no longer matches fails loudly instead of testing something else.
    """

    def __init__(self, upstream_port: int, static_root: Path | None = None,
                 upstream_keepalive: str | None = None, worker_processes: str | None = None,
                 extra_server: str = "", balancers: tuple[str, ...] | None = None,
                 events_port: int | None = None) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.dir = Path(tempfile.mkdtemp(prefix="samembed-nginx-"))
        static_root = Path(static_root or ROOT / "var" / "test-static").resolve()
        for sub in ("www", "cache", "logs"):  # logs/: nginx's error log before it reads ours
            (self.dir / sub).mkdir()
        (self.dir / "www" / "static").symlink_to(static_root)
        d = self.dir
        main = _replace((DEPLOY_NGINX / "nginx.conf").read_text(), [
            ("user www-data;", "user root;" if os.geteuid() == 0 else ""),
            ("pid /run/nginx.pid;", f"pid {d}/nginx.pid;"),
            ("error_log /var/log/nginx/error.log warn;", f"error_log {d}/error.log warn;"),
            ("/var/log/nginx/samembed.access.log", f"{d}/access.log"),
            ("include /etc/nginx/sites-enabled/samembed.conf;", f"include {d}/samembed.conf;"),
            ("http {\n", "http {\n" + "".join(
                f"    {kind}_temp_path {d}/{kind}-temp;\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))),
        ])
        if worker_processes:
            main = _replace(main, [("worker_processes auto;",
                                    f"worker_processes {worker_processes};")])
        site = _replace((DEPLOY_NGINX / "samembed.conf").read_text(), [
            ("/var/cache/nginx/", f"{d}/cache/"),
            ("server 127.0.0.1:8000", f"server 127.0.0.1:{upstream_port}"),
            # No events workers of their own: the beacons go to the web workers.
            ("server 127.0.0.1:8001", f"server 127.0.0.1:{events_port or upstream_port}"),
            ("listen 80 default_server", f"listen 127.0.0.1:{self.port} default_server"),
            ("root /srv/samembed/var;", f"root {d}/www;"),
        ])
        if upstream_keepalive:
            site = _replace(site, [("    keepalive_timeout 60s;\n",
                                    f"    keepalive_timeout {upstream_keepalive};\n")])
        if balancers is not None:
            # The load balancers nginx believes, in place of the shipped ranges: the
            # test client at 127.0.0.1 then plays the balancer.
            site = _replace(site, [(
                "    set_real_ip_from 10.0.0.0/8;\n    set_real_ip_from 172.16.0.0/12;\n"
                "    set_real_ip_from 192.168.0.0/16;\n",
                "".join(f"    set_real_ip_from {b};\n" for b in balancers)), (
                "    10.0.0.0/8 1;\n    172.16.0.0/12 1;\n    192.168.0.0/16 1;\n",
                "".join(f"    {b} 1;\n" for b in balancers))])
        if extra_server:  # @DIR@ in it: this instance's directory
            extra = extra_server.replace("@DIR@", str(d))
            site = _replace(site, [("    server_name _;\n", "    server_name _;\n" + extra)])
        (d / "nginx.conf").write_text(main)
        (d / "samembed.conf").write_text(site)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, *args: str) -> list[str]:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        return [nginx, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), *args]

    def check(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the rendered configuration."""
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 15) -> None:
        self.process = subprocess.Popen(self.command("-g", "daemon off;"),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start: {self.errors()[-2000:]}")
            time.sleep(0.05)

    def errors(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _replace(text: str, pairs: list[tuple[str, str]]) -> str:
    for old, new in pairs:
        if old not in text:
            raise AssertionError(f"deploy/nginx no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's headless Chromium as the tests and benches drive it: as root it needs
    --no-sandbox, and it must not try the closed network on its own."""
    return playwright.chromium.launch(
        executable_path=shutil.which("chromium") or "/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--no-first-run", "--disable-sync"])


def sign_in(page: Page, server: Gunicorn, password: str) -> None:
    """Sign in to the studio as the development editor."""
    from playwright.sync_api import expect  # the browser tests' dependency only

    page.goto(server.url + "/studio/")
    page.fill("input[name=username]", "editor")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Stories")


def publish(publisher: PublisherSite, path: str, body: str) -> str:
    """Serve `body` as a page of the publisher's site; its URL."""
    publisher.pages[path] = f"<!doctype html><html><body>{body}</body></html>".encode()
    return publisher.origin + path


class LostReplyProxy:
    """A TCP proxy in front of the database on 127.0.0.1 that forwards MongoDB's wire
    messages both ways, except that it drops the connection in place of the answer to
    the first write command naming `collection`: the database applied that write,
    and the client never hears so (a network failure at the worst moment)."""

    def __init__(self, upstream_port: int, collection: str) -> None:
        self.upstream_port = upstream_port
        self.marker = collection.encode()
        self.dropped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        # Direct: the database names its own port as the replica set's member, which
        # a discovering client would connect to instead of this proxy.
        return f"mongodb://127.0.0.1:{self.port}/samembed?directConnection=true"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as server:
            while (request := _wire_message(client)) is not None:
                server.sendall(request)
                reply = _wire_message(server)
                if reply is None:
                    return
                if (not self.dropped.is_set() and self.marker in request
                        and (b"update" in request or b"insert" in request)):
                    self.dropped.set()
                    return
                client.sendall(reply)

    def stop(self) -> None:
        self.listener.close()


def _wire_message(sock: socket.socket) -> bytes | None:
    """One whole MongoDB wire message (its first four bytes say its length)."""
    data = b""
    while len(data) < 4 or len(data) < int.from_bytes(data[:4], "little"):
        chunk = sock.recv(65536 if len(data) >= 4 else 4 - len(data))
        if not chunk:
            return None
        data += chunk
    return data
