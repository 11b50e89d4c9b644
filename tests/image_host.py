"""A fake image host on 127.0.0.1: the outside world media copies are fetched from.

It logs every TCP connection and request path, so tests can show that a
refused fetch never reached it. Paths:

    /photo.jpg          a 1600×1000 JPEG with GPS EXIF
    /bomb.png           a few hundred bytes claiming 20000×20000 pixels
    /svg-as-png         SVG labelled image/png
    /html-as-png        HTML labelled image/png
    /chunked-50mb       50 MB of chunked body, no Content-Length
    /trickle            one byte a second
    /redirect?to=URL    302 to URL
    /hops/N             N redirects in a row, then /photo.jpg
    /status/N           an error page with status N (503: a host having a bad minute)
"""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image


def jpeg_with_gps(width: int = 1600, height: int = 1000) -> bytes:
    """A JPEG photo whose EXIF holds a GPS position and a camera make (to be stripped)."""
    image = Image.new("RGB", (width, height), (200, 80, 40))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}  # GPS IFD
    exif[0x010F] = "Spy Camera Co"  # Make
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       b'<script>alert(1)</script></svg>')
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


class ImageHost(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.connections = 0
        self.paths: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def verify_request(self, request: object, client_address: object) -> bool:
        self.connections += 1
        return True

    def __enter__(self) -> ImageHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ImageHost

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "image/png",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        self.server.paths.append(url.path)
        try:
            self._route(url.path, parse_qs(url.query))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should for the abusive paths

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        if path in self.server.files:
            self._send(200, self.server.files[path], "image/jpeg")
        elif path == "/svg-as-png":
            self._send(200, SVG)
        elif path == "/html-as-png":
            self._send(200, HTML)
        elif path == "/redirect":
            self._send(302, b"", headers={"Location": query["to"][0]})
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            self._send(302, b"", headers={
                "Location": f"/hops/{left - 1}" if left > 1 else "/photo.jpg"})
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"<h1>unavailable</h1>", "text/html")
        elif path == "/chunked-50mb":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b"\x00" * 65536
            for _ in range(50 * 16):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "60")
            self.end_headers()
            for _ in range(60):
                self.wfile.write(b"\x89")
                self.wfile.flush()
                time.sleep(1)
        else:
            self._send(404, b"not found", "text/plain")
