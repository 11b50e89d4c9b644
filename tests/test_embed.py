"""`/e/<slug>`: the embed document, its headers, its URLs and its bad input."""

from __future__ import annotations

import gzip
import threading
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from pymongo import monitoring

from samembed import mongo
from samembed.embed.cache import response_cache
from samembed.repositories import stories as stories_repo
from samembed.repositories.stories import TEMPLATES
from tests.factories import make_post, make_story

pytestmark = pytest.mark.usefixtures("mongo_db")


class FindCounter(monitoring.CommandListener):
    """Counts `find` commands per collection while enabled, and keeps every command
    (name, filter) sent meanwhile."""

    def __init__(self) -> None:
        self.enabled = False
        self.finds: list[str] = []
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.enabled:
            with self.lock:
                self.commands.append((event.command_name, event.command.get("filter", {})))
                if event.command_name == "find":
                    self.finds.append(event.command["find"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


FINDS = FindCounter()
monitoring.register(FINDS)


@pytest.fixture
def client() -> Client:
    return Client()


def test_it_serves_a_published_story(client: Client) -> None:
    story = make_story("harbour", posts=3, title="Harbour <Lights>")
    response = client.get("/e/harbour")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == (
        "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"
    )
    assert response["ETag"].startswith('"') and response["Vary"] == "Accept-Encoding"
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "nonce" not in csp and "'unsafe-inline'" not in csp
    assert "Set-Cookie" not in response and "X-Frame-Options" not in response
    body = response.content.decode()
    assert "Harbour &lt;Lights&gt;" in body and "<Lights>" not in body
    assert body.count('class="post') >= 3
    assert f"/s/{story.slug}" in body


def test_it_lists_pinned_posts_first(client: Client) -> None:
    story = make_story("order")
    make_post(story, 1, text="newest")
    make_post(story, 9, text="oldest but pinned", pinned=True)
    make_post(story, 5, text="middle")
    make_post(story, 7, text="rejected", state="rejected")
    body = client.get("/e/order").content.decode()
    positions = [body.index(t) for t in ("oldest but pinned", "newest", "middle")]
    assert positions == sorted(positions)
    assert "rejected" not in body


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders(client: Client, template: str) -> None:
    make_story("all", posts=4)
    response = client.get(f"/e/all?template={template}")
    assert response.status_code == 200
    assert response.content.count(b'class="post') >= 4


def test_it_links_urls_hashtags_and_mentions_safely(client: Client) -> None:
    story = make_story("links")
    make_post(story, 1, text='Go <script>alert(1)</script> "now" #tea https://example.org/x?a=1&b=2')
    body = client.get("/e/links").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert 'href="https://example.org/x?a=1&amp;b=2"' in body
    assert 'href="https://example.social/tags/tea"' in body


def test_it_sends_compressed_bodies_to_clients_that_accept_them(client: Client) -> None:
    make_story("zip", posts=10)
    plain = client.get("/e/zip").content
    response = client.get("/e/zip", HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == plain
    assert client.get("/e/zip", HTTP_ACCEPT_ENCODING="br, gzip")["Content-Encoding"] == "br"


def test_it_answers_304_to_a_matching_etag(client: Client) -> None:
    make_story("etag", posts=2)
    tag = client.get("/e/etag")["ETag"]
    response = client.get("/e/etag", HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 304 and response.content == b""
    assert response["ETag"] == tag


@pytest.mark.parametrize("garbage", ['"nope"', "garbage", "W/", ",,,", "x" * 5000])
def test_it_ignores_if_none_match_garbage(client: Client, garbage: str) -> None:
    make_story("garbage", posts=1)
    response = client.get("/e/garbage", HTTP_IF_NONE_MATCH=garbage)
    assert response.status_code == 200 and b'class="post' in response.content


def test_head_has_the_headers_of_get_and_no_body(client: Client) -> None:
    make_story("head", posts=1)
    get = client.get("/e/head")
    head = client.head("/e/head")
    assert head.status_code == 200 and head.content == b""
    assert head["ETag"] == get["ETag"] and head["Content-Length"] == get["Content-Length"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_other_methods_are_not_allowed(client: Client, method: str) -> None:
    make_story("methods")
    response = getattr(client, method)("/e/methods")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_an_unknown_story_gets_a_small_404_suited_to_an_iframe(client: Client) -> None:
    response = client.get("/e/nothing-here")
    assert response.status_code == 404
    # One line and the script that tells the loader its height (so the frame collapses).
    assert b"not available" in response.content and len(response.content) < 1200
    assert b"samembed:resize" in response.content
    assert b'href="/s/nothing-here"' in response.content
    assert "frame-ancestors *" in response["Content-Security-Policy"]
    assert "X-Frame-Options" not in response and "Set-Cookie" not in response


def test_a_draft_story_is_not_served(client: Client) -> None:
    make_story("secret", posts=1, status="draft")
    assert client.get("/e/secret").status_code == 404


def test_it_redirects_renamed_story(client: Client) -> None:
    story = make_story("old-name", posts=1)
    assert stories_repo.update(story, {"slug": "new-name"})
    response = client.get("/e/old-name?template=grid")
    assert response.status_code == 301
    assert response["Location"] == "/e/new-name?template=grid"
    assert client.get("/e/new-name").status_code == 200
    renamed = stories_repo.get_by_slug("new-name")
    assert renamed is not None and renamed.previous_slugs == ("old-name",)


@pytest.mark.parametrize(
    "path", ["/e/harbour/", "/e//harbour", "/e/harbour//", "/e/%68arbour",
             "/e/HARBOUR"],
)
def test_it_resolves_repeated_and_trailing_slashes_and_percent_encoding(
    client: Client, path: str
) -> None:
    make_story("harbour", posts=1)
    response = client.get(path)
    assert response.status_code == 200, path
    assert b'class="post' in response.content


def test_it_serves_non_ascii_slugs(client: Client) -> None:
    make_story("fête-du-port", posts=1)
    assert client.get("/e/" + quote("fête-du-port")).status_code == 200
    # The decomposed form (e + combining accent) names the same story.
    assert client.get("/e/" + quote("fe\u0302te-du-port")).status_code == 200


@pytest.mark.parametrize("path", ["/e/" + "a" * 201, "/e/" + "a" * 10_000, "/e/%00bad",
                                  "/e/%ff%fe", "/e/a%20b", "/e/harbour/extra"])
def test_impossible_slugs_get_404_not_500(client: Client, path: str) -> None:
    assert client.get(path).status_code == 404


def test_an_unknown_template_is_refused_with_the_valid_ones(client: Client) -> None:
    make_story("tpl", posts=1)
    response = client.get("/e/tpl?template=fancy")
    assert response.status_code == 400
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    assert "fancy" in text and all(t in text for t in TEMPLATES)


@pytest.mark.parametrize(
    ("query", "message"),
    [("template=grid&template=list", "'template' is given 2 times"),
     ("template=", "Unknown template ''"),
     ("utm_source=x&template=fancy", "Unknown template 'fancy'")],
)
def test_bad_query_strings_are_refused(client: Client, query: str, message: str) -> None:
    make_story("query", posts=1)
    response = client.get(f"/e/query?{query}")
    assert response.status_code == 400 and message in response.content.decode()


def test_concurrent_misses_cause_one_database_query_per_key(client: Client) -> None:
    make_story("busy", posts=5)
    mongo.close()  # a new client, so the listener sees its commands
    FINDS.finds.clear()
    FINDS.enabled = True
    try:
        statuses: list[int] = []
        barrier = threading.Barrier(24)

        def fetch(path: str) -> None:
            barrier.wait()
            statuses.append(Client().get(path).status_code)

        paths = ["/e/busy", "/e/busy?template=grid", "/e/busy?template=list"] * 8
        threads = [threading.Thread(target=fetch, args=(p,)) for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        FINDS.enabled = False
    assert statuses == [200] * 24
    # One story lookup and one posts query per key, however many requests.
    assert FINDS.finds.count("stories") == 3
    assert FINDS.finds.count("posts") == 3


@pytest.mark.parametrize("posts", [3, 30])
def test_a_cold_render_asks_the_database_twice_with_indexed_queries(
        client: Client, posts: int) -> None:
    make_story("trips", posts=posts)
    mongo.close()  # a new client, so the listener sees its commands
    FINDS.commands.clear()
    FINDS.enabled = True
    try:
        response = client.get("/e/trips")
    finally:
        FINDS.enabled = False

    assert response.status_code == 200
    # The story by its slug's unique index (no `$or`, which SecantusDB answers with a
    # collection scan), then one page of posts whose cursor the server closes itself.
    assert [name for name, _ in FINDS.commands] == ["find", "find"]
    assert "$or" not in FINDS.commands[0][1] and FINDS.commands[0][1] == {"slug": "trips"}


def test_a_story_change_is_served_after_the_ttl(client: Client) -> None:
    story = make_story("ttl", posts=1)
    first = client.get("/e/ttl")
    make_post(story, 99, text="brand new post")
    assert client.get("/e/ttl")["ETag"] == first["ETag"]  # still cached
    for entry in list(response_cache()._entries.values()):
        entry.expires = 0
    assert b"brand new post" in client.get("/e/ttl").content
