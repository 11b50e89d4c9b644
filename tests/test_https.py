"""Served over TLS (HTTPS=true, as deploy/ runs it), over the wire: Hosts outside
ALLOWED_HOSTS, the redirect to https and HSTS, answered the same whether a cached
copy exists (the fast path) or not (Django).

The test client plays nginx: it is among FORWARDED_ALLOW_IPS and says which scheme
the reader used in X-Forwarded-Proto.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import pytest

from samembed.embedded_db import EmbeddedDB
from tests.factories import make_story
from tests.servers import Gunicorn

HOST = "embed.example.com"
HSTS = "max-age=31536000; includeSubDomains"
HTTPS = {"Host": HOST, "X-Forwarded-Proto": "https"}
# Per-request headers: when, how long, which request, and whether it was a hit.
PER_REQUEST = ("date", "server-timing", "x-request-id")

pytestmark = pytest.mark.usefixtures("mongo_db")


@pytest.fixture(scope="module")
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    gunicorn = Gunicorn(embedded_db.uri, HTTPS="true", ALLOWED_HOSTS=f"{HOST},127.0.0.1",
                        PUBLIC_ORIGIN=f"https://{HOST}")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def get(server: Gunicorn, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    # skip_host: the Host is the test's to choose (or to leave out).
    conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def stable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in PER_REQUEST}


def test_a_cached_embed_is_refused_to_a_host_outside_allowed_hosts(server: Gunicorn) -> None:
    make_story("guarded", posts=2)
    make_story("uncached", posts=2)
    status, headers, body = get(server, "/e/guarded", HTTPS)
    assert status == 200 and headers["strict-transport-security"] == HSTS
    # Cached now; unless the version watch, seeing the two new stories after that
    # render, expired it (a busy machine): then the next render is the copy.
    for _ in range(3):
        status, headers, _ = get(server, "/e/guarded", HTTPS)
        if headers["server-timing"] == "cache;desc=hit":
            break
        time.sleep(0.5)
    assert status == 200 and headers["server-timing"] == "cache;desc=hit"

    evil = {**HTTPS, "Host": "evil.example"}
    cached = get(server, "/e/guarded", evil)
    uncached = get(server, "/e/uncached", evil)
    # Django's own refusal, the same with a cached copy as without one.
    for status, headers, body in (cached, uncached):
        assert status == 400 and b"Bad Request (400)" in body and b"Story" not in body
        assert headers["strict-transport-security"] == HSTS
    assert cached[2] == uncached[2] and stable(cached[1]) == stable(uncached[1])
    # The refusal filled nothing: the story never rendered is still a miss.
    status, headers, _ = get(server, "/e/uncached", HTTPS)
    assert status == 200 and headers["server-timing"].startswith("cache;desc=miss")


@pytest.mark.parametrize("host", ["evil.example", "embed.example.com.evil.example",
                                  "evil.example:443", "embed.example.com@evil.example", ""])
def test_every_fast_answer_refuses_hosts_django_refuses(server: Gunicorn, host: str) -> None:
    make_story("hosts", posts=1)
    assert get(server, "/e/hosts", HTTPS)[0] == 200  # cached now
    for path in ("/e/hosts", "/embed.js", "/s/hosts"):
        status, _, body = get(server, path, {**HTTPS, "Host": host})
        assert status == 400 and b"Bad Request (400)" in body, (path, host)


def test_a_repeated_or_missing_host_is_left_to_django(server: Gunicorn) -> None:
    make_story("twice", posts=1)
    assert get(server, "/e/twice", HTTPS)[0] == 200
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /e/twice HTTP/1.1\r\nHost: embed.example.com\r\n"
                     b"Host: evil.example\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Bad Request (400)" in answer
    # HTTP/1.0 without a Host: Django names the server itself (127.0.0.1:port), allowed.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /e/twice HTTP/1.0\r\nX-Forwarded-Proto: https\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ") and HSTS.encode() in answer


def test_plain_http_is_redirected_to_https_with_or_without_a_cached_copy(
    server: Gunicorn,
) -> None:
    make_story("plain", posts=1)
    make_story("plain-uncached", posts=1)
    assert get(server, "/e/plain?template=grid", HTTPS)[0] == 200  # cached now
    for path in ("/e/plain?template=grid", "/e/plain-uncached?template=grid", "/embed.js"):
        status, headers, _ = get(server, path, {"Host": HOST})
        assert status == 301, path
        assert headers["location"] == f"https://{HOST}{path}"
        # HSTS is for secure responses only (a browser ignores it over http).
        assert "strict-transport-security" not in headers
    # Probes and the scraper speak plain HTTP to the instance itself.
    assert get(server, "/healthz", {"Host": "127.0.0.1"})[0] == 200


def test_a_hit_over_https_carries_hsts_like_the_miss(server: Gunicorn) -> None:
    make_story("secure", posts=2)
    headers = {**HTTPS, "Accept-Encoding": "br"}
    miss = get(server, "/e/secure", headers)
    hit = get(server, "/e/secure", headers)
    assert miss[0] == hit[0] == 200 and miss[2] == hit[2]
    assert hit[1]["server-timing"] == "cache;desc=hit"
    assert stable(miss[1]) == stable(hit[1])
    assert hit[1]["strict-transport-security"] == HSTS
    status, loader, _ = get(server, "/embed.js", HTTPS)
    assert status == 200 and loader["strict-transport-security"] == HSTS
    # A 304 from the fast path is a secure response too.
    status, revalidated, _ = get(server, "/e/secure", {**headers,
                                                       "If-None-Match": hit[1]["etag"]})
    assert status == 304 and revalidated["strict-transport-security"] == HSTS
