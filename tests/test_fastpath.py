"""The ASGI fast path: cache hits answered without Django; everything else passed on."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest
from django.test import override_settings

from samembed import asgi
from samembed.asgi import FastPath, cache_key
from samembed.embed.cache import Entry, ResponseCache
from samembed.workers import PREPARED, encode_head, prepared


class Downstream:
    """Stands in for Django: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})


def call(app: FastPath, path: str, query: bytes = b"", method: str = "GET",
         headers: list[tuple[bytes, bytes]] | None = None,
         scheme: str = "http", host: bytes | None = b"127.0.0.1",
         ) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    requests = [{"type": "http.request", "body": b""}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop(0)
        # The client stays connected until the answer is sent (Django listens).
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    # A Host as every HTTP/1.1 client sends one, unless the test is about it.
    sent_headers = ([(b"host", host)] if host is not None else []) + (headers or [])
    scope = {"type": "http", "method": method, "path": path, "query_string": query,
             "headers": sent_headers, "scheme": scheme}
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


SECURE = {"SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 600,
          "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": True,
          "ALLOWED_HOSTS": ["embed.example.com", ".example.org"]}


@pytest.mark.parametrize(
    ("host", "answered"),
    [(b"embed.example.com", True), (b"embed.example.com:8443", True),
     (b"EMBED.example.com", True), (b"a.example.org", True), (b"example.org", True),
     (b"evil.example", False), (b"embed.example.com.", True), (b"[::1]", False),
     (b"embed.example.com:x", False), (b"", False), (None, False)],
)
def test_hits_are_given_only_to_hosts_django_allows(cache: ResponseCache, host: bytes | None,
                                                   answered: bool) -> None:
    with override_settings(**SECURE):
        django = Downstream()
        status, headers, _ = call(FastPath(django, cache), "/e/demo", scheme="https", host=host)
    if answered:
        assert status == 200 and django.paths == []
        assert headers[b"strict-transport-security"] == b"max-age=600; preload"
    else:
        assert status == 299 and django.paths == ["/e/demo"]


def test_plain_http_goes_to_django_when_it_redirects_and_is_served_when_it_does_not(
    cache: ResponseCache,
) -> None:
    with override_settings(**SECURE):
        django = Downstream()
        app = FastPath(django, cache)
    host = b"embed.example.com"
    for path in ("/e/demo", "/embed.js"):
        assert call(app, path, host=host)[0] == 299
    assert django.paths == ["/e/demo", "/embed.js"]
    with override_settings(**{**SECURE, "SECURE_SSL_REDIRECT": False}):
        app = FastPath(Downstream(), cache)
    status, headers, _ = call(app, "/e/demo", host=host)
    assert status == 200 and b"strict-transport-security" not in headers


def test_the_proxy_ssl_header_and_forwarded_host_are_read_as_django_reads_them(
    cache: ResponseCache,
) -> None:
    settings = {**SECURE, "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
                "USE_X_FORWARDED_HOST": True}
    with override_settings(**settings):
        django = Downstream()
        app = FastPath(django, cache)
    evil, good = b"evil.example", b"embed.example.com"
    cases = [
        ([(b"x-forwarded-proto", b"https")], good, 200),
        ([(b"x-forwarded-proto", b"https, http")], good, 200),
        ([(b"x_forwarded_proto", b"https")], good, 200),
        ([(b"x-forwarded-proto", b"http")], good, 299),
        ([(b"x-forwarded-proto", b"https"), (b"x-forwarded-host", good)], evil, 200),
        ([(b"x-forwarded-proto", b"https"), (b"x-forwarded-host", evil)], good, 299),
        ([(b"x-forwarded-proto", b"https"), (b"x-forwarded-host", good),
          (b"x-forwarded-host", good)], good, 299),
    ]
    for headers, host, expected in cases:
        # The scope's own scheme is ignored once the setting names a header.
        assert call(app, "/e/demo", headers=headers, host=host, scheme="http")[0] == expected, (
            headers, host)


def test_debug_with_no_allowed_hosts_answers_localhost_only(cache: ResponseCache) -> None:
    with override_settings(DEBUG=True, ALLOWED_HOSTS=[]):
        app = FastPath(Downstream(), cache)
    assert call(app, "/e/demo", host=b"app.localhost:8000")[0] == 200
    assert call(app, "/e/demo", host=b"evil.example")[0] == 299


def test_made_up_hosts_cannot_grow_the_verdicts(cache: ResponseCache) -> None:
    app = FastPath(Downstream(), cache)
    for n in range(app.guard.VERDICTS_MAX + 50):
        assert call(app, "/e/demo", host=b"h%d.evil.example" % n)[0] == 299
    assert len(app.guard.verdicts) == app.guard.VERDICTS_MAX
    assert call(app, "/e/demo")[0] == 200


def test_repeated_hits_get_the_same_answer_and_varied_codings_cannot_grow_an_entry(
        cache: ResponseCache) -> None:
    app = FastPath(Downstream(), cache)
    first = call(app, "/e/demo", headers=[(b"accept-encoding", b"br")])
    again = call(app, "/e/demo", headers=[(b"accept-encoding", b"br")])
    for n in range(100):
        coding = b"gzip;q=0.%d" % (n % 9 + 1) + b" " * n
        status, headers, _ = call(app, "/e/demo", headers=[(b"accept-encoding", coding)])
        assert status == 200 and headers[b"content-encoding"] == b"gzip"

    assert first == again
    assert first[1][b"content-encoding"] == b"br"
    assert first[1][b"server-timing"] == b"cache;desc=hit"
    entry = cache.peek("/e/demo")
    assert entry is not None and len(entry.prepared) <= asgi.PREPARED_MAX


def test_a_prepared_answer_says_stale_once_its_entry_is_the_last_good_copy(
        cache: ResponseCache) -> None:
    app = FastPath(Downstream(), cache)
    assert call(app, "/e/demo")[1][b"server-timing"] == b"cache;desc=hit"
    entry = cache.peek("/e/demo")
    assert entry is not None
    entry.stale = True

    status, headers, _ = call(app, "/e/demo")

    assert status == 200
    assert headers[b"server-timing"] == b"cache;desc=stale"
    assert headers[b"x-samembed-cache"] == b"stale"


def test_a_worker_offering_prepared_answers_gets_each_hit_as_one_message(
        cache: ResponseCache) -> None:
    app = FastPath(Downstream(), cache)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/e/demo", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"accept-encoding", b"gzip")],
             "scheme": "http", "extensions": {PREPARED: {}}}
    asyncio.run(app(scope, None, send))
    (whole,) = sent
    _, headers, body = call(app, "/e/demo", headers=[(b"accept-encoding", b"gzip")])
    assert whole["type"] == PREPARED and whole["status"] == 200 and whole["body"] == body
    assert whole["head"] == b"".join(b"%s: %s\r\n" % h for h in headers.items())
    assert b"server-timing: cache;desc=hit\r\n" in whole["head"]


def test_headers_uvicorn_would_refuse_or_act_on_are_never_prepared() -> None:
    assert encode_head([(b"Content-Type", b"text/html")]) == b"content-type: text/html\r\n"
    assert encode_head([(b"x-a", b"one\r\nset-cookie: two")]) is None
    assert encode_head([(b"x a", b"b")]) is None
    assert encode_head([(b"connection", b"close")]) is None
    assert encode_head([(b"transfer-encoding", b"chunked")]) is None
    # A body without its length would need uvicorn's chunked framing.
    assert prepared(200, [(b"content-type", b"text/html")], b"<p>") is None
    assert prepared(200, [(b"content-length", b"3")], b"<p>") is not None
    assert prepared(204, [], b"") is not None


def test_a_repeated_request_is_not_answered_from_memory_once_an_edit_expired_its_entry(
        cache: ResponseCache) -> None:
    django = Downstream()
    app = FastPath(django, cache)
    first = call(app, "/e/demo", headers=[(b"accept-encoding", b"br")])
    assert call(app, "/e/demo", headers=[(b"accept-encoding", b"br")]) == first

    cache.invalidate(lambda entry: True)  # the version watch saw an edit

    assert call(app, "/e/demo", headers=[(b"accept-encoding", b"br")])[0] == 299
    assert django.paths == ["/e/demo"]


def test_a_repeated_request_gets_the_new_render_once_it_replaces_the_old_one() -> None:
    clock = [0.0]
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60, clock=lambda: clock[0])
    cache.get("/e/demo", lambda: Entry.build(200, [], b"before"))
    app = FastPath(Downstream(), cache)
    assert call(app, "/e/demo")[2] == call(app, "/e/demo")[2] == b"before"

    clock[0] = 11.0  # expired: the next request renders (here, the cache's own get)
    cache.get("/e/demo", lambda: Entry.build(200, [], b"after"))

    assert call(app, "/e/demo")[2] == call(app, "/e/demo")[2] == b"after"


def test_what_the_fast_path_remembers_never_keeps_an_entry_the_cache_dropped() -> None:
    cache = ResponseCache(ttl=10, max_bytes=3_000, stale_if_error=60)
    cache.get("/e/old", lambda: Entry.build(200, [], b"o" * 1_000))
    app = FastPath(Downstream(), cache)
    assert call(app, "/e/old")[2] == call(app, "/e/old")[2] == b"o" * 1_000
    dropped = weakref.ref(cache.peek("/e/old"))  # type: ignore[arg-type]

    cache.get("/e/new", lambda: Entry.build(200, [], b"n" * 1_000))  # over max_bytes

    gc.collect()
    assert dropped() is None
    django = Downstream()
    assert call(FastPath(django, cache), "/e/old")[0] == 299 and django.paths == ["/e/old"]


def test_requests_differing_in_coding_host_or_scheme_are_each_answered_as_alone(
        cache: ResponseCache) -> None:
    with override_settings(**{**SECURE, "SECURE_SSL_REDIRECT": False}):
        app = FastPath(Downstream(), cache)
        alone = {}
        for coding in (b"br", b"gzip", b"identity"):
            for host in (b"embed.example.com", b"evil.example"):
                for scheme in ("http", "https"):
                    asked = (coding, host, scheme)
                    alone[asked] = call(FastPath(Downstream(), cache), "/e/demo",
                                        headers=[(b"accept-encoding", coding)],
                                        scheme=scheme, host=host)
        for _ in range(2):  # in turn, so each follows a request that differs
            for asked, answer in alone.items():
                coding, host, scheme = asked
                assert call(app, "/e/demo", headers=[(b"accept-encoding", coding)],
                            scheme=scheme, host=host) == answer, asked
    assert alone[(b"br", b"evil.example", "https")][0] == 299
    assert b"strict-transport-security" in alone[(b"gzip", b"embed.example.com", "https")][1]
    assert b"strict-transport-security" not in alone[(b"gzip", b"embed.example.com", "http")][1]
    assert alone[(b"identity", b"embed.example.com", "http")][2] == b"<p>demo</p>" * 100


def test_a_client_varying_its_coding_cannot_grow_what_the_fast_path_remembers() -> None:
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60, answers_max=8)
    cache.get("/e/demo", lambda: Entry.build(200, [], b"<p>demo</p>" * 100))
    app = FastPath(Downstream(), cache)
    for n in range(50):
        coding = b"gzip;q=0.%d" % (n % 9 + 1) + b" " * n
        assert call(app, "/e/demo", headers=[(b"accept-encoding", coding)])[0] == 200
        assert 1 <= cache.remembered() <= 8


def test_a_server_that_says_its_extensions_are_none_gets_the_hit_as_two_messages(
        cache: ResponseCache) -> None:
    app = FastPath(Downstream(), cache)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for _ in range(2):  # the second is the remembered answer
        sent.clear()
        scope = {"type": "http", "method": "GET", "path": "/e/demo", "query_string": b"",
                 "headers": [(b"host", b"127.0.0.1")], "scheme": "http", "extensions": None}
        asyncio.run(app(scope, None, send))
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
        assert sent[0]["status"] == 200
