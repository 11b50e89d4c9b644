"""Every public route through the server as shipped (gunicorn, uvicorn workers).

Asserts status and headers over real HTTP, that a cache hit answered by the fast
path looks exactly like the miss that filled the cache, and what happens when
the database goes away and comes back.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
from collections.abc import Iterator

import pytest

from samembed.embedded_db import EmbeddedDB
from tests.factories import make_story, using
from tests.faults import wait_for
from tests.servers import Gunicorn

EMBED_CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"


@pytest.fixture(scope="module")
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    gunicorn = Gunicorn(embedded_db.uri)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def get(server: Gunicorn, path: str, method: str = "GET",
        headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.headers, body


# Per-request headers: when, how long it took, which request.
PER_REQUEST = ("date", "server-timing", "x-request-id")


def without_date(headers: http.client.HTTPMessage) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in headers.items() if k.lower() not in PER_REQUEST)


@pytest.mark.usefixtures("mongo_db")
def test_a_hit_carries_the_same_headers_and_body_as_the_miss(server: Gunicorn) -> None:
    make_story("same", posts=3)
    miss = get(server, "/e/same", headers={"Accept-Encoding": "gzip"})
    hit = get(server, "/e/same", headers={"Accept-Encoding": "gzip"})
    assert miss[0] == hit[0] == 200
    assert without_date(miss[1]) == without_date(hit[1])
    assert miss[2] == hit[2]
    assert re.fullmatch(r"cache;desc=miss, db;dur=[\d.]+, render;dur=[\d.]+, app;dur=[\d.]+",
                        miss[1]["Server-Timing"])
    assert hit[1]["Server-Timing"] == "cache;desc=hit"
    headers = dict(without_date(hit[1]))
    assert headers["cache-control"] == EMBED_CACHE_CONTROL
    assert headers["content-encoding"] == "gzip" and headers["vary"] == "Accept-Encoding"
    assert "set-cookie" not in headers and "x-frame-options" not in headers
    assert "frame-ancestors *" in headers["content-security-policy"]


@pytest.mark.usefixtures("mongo_db")
def test_hits_pipelined_on_a_kept_alive_connection_each_come_whole_with_their_date(
    server: Gunicorn,
) -> None:
    make_story("piped", posts=3)
    ask = b"GET /e/piped HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: br\r\n\r\n"
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    stream = conn.makefile("rb")  # one reader: the answers arrive back to back

    def answers(count: int) -> list[tuple[int, http.client.HTTPMessage, bytes]]:
        conn.sendall(ask * count)
        found = []
        for _ in range(count):
            status = int(stream.readline().split()[1])
            headers = http.client.parse_headers(stream)
            found.append((status, headers, stream.read(int(headers["Content-Length"]))))
        return found

    try:
        (miss,) = answers(1)  # this connection's worker renders it
        # Until that worker's version watch has seen the new story, it may expire the
        # copy once more; then it is a hit until the story changes.
        assert wait_for(lambda: answers(1)[0][1]["Server-Timing"] == "cache;desc=hit", 10,
                        step=0.1), "never a hit"
        hits = answers(3)
    finally:
        stream.close()
        conn.close()
    assert miss[0] == 200 and miss[1]["Server-Timing"].startswith("cache;desc=miss")
    for status, headers, body in hits:
        assert status == 200 and headers["Server-Timing"] == "cache;desc=hit"
        assert headers["Date"] and headers.get("Connection") is None
        assert int(headers["Content-Length"]) == len(body) and body == miss[2]
        assert without_date(headers) == without_date(miss[1])


@pytest.mark.usefixtures("mongo_db")
def test_the_public_routes_send_their_headers(server: Gunicorn) -> None:
    make_story("routes", posts=2)
    status, headers, body = get(server, "/embed.js")
    assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"].startswith("public, max-age=300")
    assert b"samembed" in body and "Set-Cookie" not in headers

    status, headers, body = get(server, "/s/routes?utm_source=newsletter")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert b"Story routes" in body and "Set-Cookie" not in headers

    status, headers, body = get(server, "/api/v1/stories/routes")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert headers["Access-Control-Allow-Origin"] == "*"
    data = json.loads(body)
    assert data["story"]["slug"] == "routes" and len(data["posts"]) == 2

    status, headers, body = get(server, "/api/v1/stories/nope")
    assert status == 404 and json.loads(body)["error"] == "not_found"

    status, headers, body = get(server, "/")
    assert status == 200 and b'class="samembed"' in body and b"/embed.js" in body

    for path in ("/healthz", "/readyz", "/healthz/db"):
        status, headers, body = get(server, path)
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert headers["Cache-Control"] == "no-store"


@pytest.mark.usefixtures("mongo_db")
@pytest.mark.parametrize(
    ("path", "status"),
    [("//e/slashes", 200), ("/e//slashes//", 200), ("/e/%73lashes", 200),
     ("/e/%ff%fe", 404), ("/e/" + "x" * 10_000, 404), ("/e/slashes?template=nope", 400),
     ("/e/slashes?template=grid&template=list", 400)],
)
def test_odd_urls_resolve_or_get_a_clear_4xx(server: Gunicorn, path: str, status: int) -> None:
    make_story("slashes", posts=1)
    assert get(server, path)[0] == status


@pytest.mark.usefixtures("mongo_db")
def test_methods_other_than_get_and_head_are_refused(server: Gunicorn) -> None:
    make_story("verbs", posts=1)
    get(server, "/e/verbs")  # cached: the fast path must still refuse POST
    status, headers, _ = get(server, "/e/verbs", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = get(server, "/e/verbs", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_the_last_good_copy_is_served_while_the_database_is_down(
    own_db: EmbeddedDB, static_files: None
) -> None:
    with using(own_db):
        make_story("sturdy", posts=2)
        make_story("never-seen", posts=1)
    server = Gunicorn(own_db.uri, EMBED_CACHE_TTL="0.3", MONGODB_READ_TIMEOUT_MS="300")
    server.start()
    try:
        status, _, good = get(server, "/e/sturdy")
        assert status == 200
        own_db.stop()
        time.sleep(0.5)  # past the TTL
        status, headers, body = get(server, "/e/sturdy")
        assert status == 200 and body == good
        assert headers["X-Samembed-Cache"] == "stale"
        assert headers["Server-Timing"].startswith("cache;desc=stale, app;dur=")
        get(server, "/e/sturdy")  # from the fast path this time
        status, _, metrics = get(server, "/metrics")
        stale = re.search(rb'^samembed_cache_total\{result="stale"\} (\d+)$', metrics, re.M)
        assert status == 200 and stale and int(stale.group(1)) >= 2
        status, headers, body = get(server, "/e/never-seen")
        assert status == 503 and headers["Retry-After"] == "5"
        assert b"unavailable" in body
        # Still ready (it answers from its copies); the outage is in the body, and
        # the database's own probe fails.
        status, _, body = get(server, "/readyz")
        assert status == 200 and json.loads(body)["database"] in ("failing", "unavailable")
        status, headers, body = get(server, "/healthz/db")
        assert status == 503 and headers["Retry-After"] == "5"
        assert json.loads(body)["status"] == "unavailable"
        assert get(server, "/healthz")[0] == 200

        own_db.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status, headers, _ = get(server, "/e/never-seen")
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200
        deadline = time.monotonic() + 5  # revalidated in the background
        while time.monotonic() < deadline:
            status, headers, _ = get(server, "/e/sturdy")
            if "X-Samembed-Cache" not in headers:
                break
            time.sleep(0.05)
        assert status == 200 and "X-Samembed-Cache" not in headers
        status, _, body = get(server, "/readyz")
        assert status == 200 and json.loads(body)["database"] == "ok"
        assert get(server, "/healthz/db")[0] == 200
    finally:
        server.stop()


@pytest.mark.usefixtures("mongo_db")
def test_raw_invalid_utf8_in_the_path_is_a_client_error(server: Gunicorn) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /e/\xff\xfe\xfa HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Connection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500


def test_hashed_static_files_are_immutable_and_the_loader_is_not(server: Gunicorn) -> None:
    _, _, page = get(server, "/")
    css = re.search(rb'href="(/static/site/site\.[0-9a-f]{12}\.css)"', page)
    assert css, "the demo page links a hashed stylesheet"
    status, headers, _ = get(server, css.group(1).decode())
    assert status == 200 and "immutable" in headers["Cache-Control"]
    assert "max-age=315360000" in headers["Cache-Control"]
    assert "immutable" not in get(server, "/embed.js")[1]["Cache-Control"]
