"""The ASGI fast path: cache hits answered without Django; everything else passed on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from samembed.asgi import FastPath, cache_key
from samembed.embed.cache import Entry, ResponseCache


class Downstream:
    """Stands in for Django: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def call(app: FastPath, path: str, query: bytes = b"", method: str = "GET",
         headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": method, "path": path, "query_string": query,
             "headers": headers or []}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent)


@pytest.fixture
def cache() -> ResponseCache:
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60)
    cache.get("/e/demo", lambda: Entry.build(200, [(b"content-type", b"text/html")],
                                              b"<p>demo</p>" * 100))
    cache.get("/e/demo?template=grid", lambda: Entry.build(200, [], b"grid"))
    return cache


def test_a_hit_is_answered_without_django(cache: ResponseCache) -> None:
    django = Downstream()
    app = FastPath(django, cache)
    status, headers, body = call(app, "/e/demo", headers=[(b"accept-encoding", b"gzip")])
    assert status == 200 and headers[b"content-encoding"] == b"gzip" and body
    assert call(app, "/e/demo", b"template=grid")[2] == b"grid"
    status, _, body = call(app, "/e/demo", method="HEAD")
    assert status == 200 and body == b""
    assert django.paths == []


def test_a_matching_etag_gets_304_from_the_fast_path(cache: ResponseCache) -> None:
    app = FastPath(Downstream(), cache)
    tag = call(app, "/e/demo")[1][b"etag"]
    status, _, body = call(app, "/e/demo", headers=[(b"if-none-match", tag)])
    assert status == 304 and body == b""


@pytest.mark.parametrize(
    ("path", "query", "method"),
    [("/e/other", b"", "GET"), ("/e/demo", b"", "POST"), ("/e/demo/", b"", "GET"),
     ("/e//demo", b"", "GET"), ("/e/demo", b"template=grid&x=1", "GET"),
     ("/e/demo", b"utm=1", "GET"), ("/studio/", b"", "GET")],
)
def test_everything_else_goes_to_django(
    cache: ResponseCache, path: str, query: bytes, method: str
) -> None:
    django = Downstream()
    status, _, body = call(FastPath(django, cache), path, query, method)
    assert status == 299 and body == b"django" and django.paths == [path]


def test_an_expired_entry_goes_to_django(cache: ResponseCache) -> None:
    cache.invalidate(lambda entry: True)
    django = Downstream()
    call(FastPath(django, cache), "/e/demo")
    assert django.paths == ["/e/demo"]


def test_the_loader_is_served_from_memory() -> None:
    django = Downstream()
    status, headers, body = call(FastPath(django, ResponseCache(10, 10**6, 60)), "/embed.js")
    assert status == 200 and b"samembed" in body and django.paths == []
    assert headers[b"content-type"] == b"text/javascript; charset=utf-8"
    assert headers[b"cache-control"].startswith(b"public, max-age=300")


@pytest.mark.parametrize(
    ("path", "query", "key"),
    [("/e/demo", b"", "/e/demo"), ("/e/demo", b"template=list", "/e/demo?template=list"),
     ("/s/demo", b"", "/s/demo"), ("/api/v1/stories/demo", b"", "/api/v1/stories/demo"),
     ("/s/demo", b"template=list", None), ("/e/demo", b"template=li%73t", None),
     ("/e/demo", b"template=grid&theme=dark&limit=5", "/e/demo?template=grid&theme=dark&limit=5"),
     ("/e/demo", b"theme=light", "/e/demo?theme=light"),
     ("/e/demo", b"theme=dark&template=grid", None), ("/e/demo", b"theme=blue", None),
     ("/e/demo", b"template=grid&theme=dark&theme=dark", None),
     ("/s/demo", b"theme=dark", None),
     ("/", b"", None), ("/e/demo/", b"", None)],
)
def test_cache_keys_are_only_made_for_canonical_requests(
    path: str, query: bytes, key: str | None
) -> None:
    assert cache_key(path, query) == key
