"""`/oembed`, the oEmbed 1.0 provider: JSON and XML for every URL shape of a story,
sizes within the consumer's bounds, an html that WordPress keeps from a provider it
does not list, the 400/404/501 cases, and answers from the response cache (and the
ASGI fast path) once rendered."""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 - parses our own answers
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client, override_settings

from samembed.asgi import FastPath
from samembed.embed.cache import response_cache
from samembed.media.signing import verify
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Author, Media
from tests.factories import make_post, make_story

pytestmark = pytest.mark.usefixtures("mongo_db")

ORIGIN = "http://testserver"


def ask(url: str | None, **params: str) -> Any:
    query = {"url": url, **params} if url is not None else dict(params)
    return Client().get("/oembed", query)


def harbour() -> None:
    story = make_story("harbour", title="Harbour <Lights>", default_template="grid")
    make_post(story, 1, author=Author("Noa Quay", "@noa@example.social"),
              media=(Media("image", "media:boat1", 1600, 1200, "A boat"),))
    for n in range(2, 6):
        make_post(story, n)


class Tags(HTMLParser):
    """The elements and attributes of an html answer, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def test_a_story_page_url_gets_a_rich_answer_in_json() -> None:
    harbour()
    response = ask(f"{ORIGIN}/s/harbour", format="json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cache-Control"].startswith("public, max-age=10")
    assert "Set-Cookie" not in response and response["ETag"]
    doc = json.loads(response.content)
    assert doc["type"] == "rich" and doc["version"] == "1.0"
    assert doc["title"] == "Harbour <Lights>"
    assert doc["author_name"] == "Noa Quay, Author 2, Author 3 and others"
    assert doc["provider_name"] == "samembed" and doc["provider_url"] == f"{ORIGIN}/"
    assert doc["cache_age"] == 3600
    # The story's own template (grid) at its natural size.
    assert (doc["width"], doc["height"]) == (800, 800)
    found = re.fullmatch(rf"{ORIGIN}/img/([^/]+)/thumb/boat1\.jpg", doc["thumbnail_url"])
    assert found and verify(found.group(1), "thumb", "boat1", "jpg")
    assert (doc["thumbnail_width"], doc["thumbnail_height"]) == (320, 240)


def test_the_html_is_a_plain_link_and_one_sized_titled_sandboxed_frame() -> None:
    harbour()
    html = json.loads(ask(f"{ORIGIN}/s/harbour").content)["html"]
    found = tags(html)
    assert [t for t, _ in found.tags] == ["blockquote", "a", "iframe"]
    assert "<script" not in html.lower()
    assert found.tags[0][1] == {}
    assert found.tags[1][1] == {"href": f"{ORIGIN}/s/harbour"}
    assert "Harbour <Lights>" in "".join(found.text)
    frame = found.tags[2][1]
    assert frame["src"] == f"{ORIGIN}/e/harbour"
    assert (frame["width"], frame["height"]) == ("800", "800")
    assert frame["title"] == "Harbour <Lights>"
    assert frame["sandbox"] == "allow-scripts allow-popups allow-popups-to-escape-sandbox"
    # What WordPress's wp_filter_oembed_result keeps of an untrusted provider's html.
    assert re.search(r"(<blockquote>.*?</blockquote>)?.*(<iframe.*?></iframe>)", html, re.S)


def test_the_same_answer_comes_as_xml() -> None:
    harbour()
    response = ask(f"{ORIGIN}/s/harbour", format="xml")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(response.content)  # noqa: S314 - our own answer
    assert root.tag == "oembed"
    fields = {child.tag: child.text for child in root}
    as_json = json.loads(ask(f"{ORIGIN}/s/harbour").content)
    assert fields == {k: str(v) for k, v in as_json.items()}


def test_a_default_port_or_upper_case_host_is_still_ours() -> None:
    harbour()
    for url in ("http://testserver:80/s/harbour", "HTTP://TestServer/s/harbour"):
        response = ask(url)
        assert response.status_code == 200, url
        assert tags(json.loads(response.content)["html"]).tags[2][1]["src"] == \
            f"{ORIGIN}/e/harbour"


@pytest.mark.parametrize(("url", "src"), [
    ("/e/harbour", "/e/harbour"),
    ("/e/harbour?template=list", "/e/harbour?template=list"),
    ("/s/harbour?template=CAROUSEL&utm_source=x", "/e/harbour?template=carousel"),
    ("/s/harbour/", "/e/harbour"),
    ("//s//harbour#p-1", "/e/harbour"),
    ("/s/HARBOUR", "/e/harbour"),
])
def test_every_url_shape_of_a_story_is_answered(url: str, src: str) -> None:
    harbour()
    doc = json.loads(ask(ORIGIN + url).content)
    assert tags(doc["html"]).tags[2][1]["src"] == ORIGIN + src


def test_a_template_in_the_url_sets_the_frame_size() -> None:
    harbour()
    doc = json.loads(ask(f"{ORIGIN}/e/harbour?template=ticker").content)
    assert (doc["width"], doc["height"]) == (800, 220)


def test_old_slugs_of_a_story_renamed_twice_are_answered_with_its_current_one() -> None:
    harbour()
    for new in ("quay", "lights"):
        story = stories_repo.get_by_slug("harbour" if new == "quay" else "quay")
        assert story is not None and stories_repo.update(story, {"slug": new})
    for old in ("harbour", "quay", "lights"):
        response = ask(f"{ORIGIN}/s/{old}")
        assert response.status_code == 200, old
        doc = json.loads(response.content)
        assert tags(doc["html"]).tags[2][1]["src"] == f"{ORIGIN}/e/lights"
        assert f'href="{ORIGIN}/s/lights"' in doc["html"]


@pytest.mark.parametrize(("params", "size", "thumbnail"), [
    ({"maxwidth": "500", "maxheight": "750"}, (500, 750), True),
    ({"maxwidth": "300"}, (300, 800), False),
    ({"maxheight": "200"}, (800, 200), False),
    ({"maxwidth": "2000", "maxheight": "5000"}, (800, 800), True),
])
def test_width_and_height_keep_within_maxwidth_and_maxheight(
        params: dict[str, str], size: tuple[int, int], thumbnail: bool) -> None:
    harbour()
    doc = json.loads(ask(f"{ORIGIN}/s/harbour", **params).content)
    assert (doc["width"], doc["height"]) == size
    frame = tags(doc["html"]).tags[2][1]
    assert (int(frame["width"] or 0), int(frame["height"] or 0)) == size
    # The thumbnail too must keep within them, or not be given.
    assert ("thumbnail_url" in doc) is thumbnail
    assert ("thumbnail_width" in doc) is thumbnail and ("thumbnail_height" in doc) is thumbnail


def test_a_screen_keeps_its_shape_when_narrowed() -> None:
    harbour()
    doc = json.loads(ask(f"{ORIGIN}/e/harbour?template=screen", maxwidth="640").content)
    assert (doc["width"], doc["height"]) == (640, 360)


def test_a_live_story_is_kept_briefly_and_an_archived_one_long() -> None:
    make_story("live", posts=1, live=True)
    make_story("old", posts=1, status="archived")
    assert json.loads(ask(f"{ORIGIN}/s/live").content)["cache_age"] == 300
    assert json.loads(ask(f"{ORIGIN}/s/old").content)["cache_age"] == 86400


def test_a_story_without_posts_or_pictures_has_no_author_or_thumbnail() -> None:
    make_story("bare", title="Bare")
    doc = json.loads(ask(f"{ORIGIN}/s/bare").content)
    assert doc["title"] == "Bare"
    assert "author_name" not in doc and "thumbnail_url" not in doc


def test_loader_1_answers_the_snippet_for_sites_that_trust_us() -> None:
    harbour()
    html = json.loads(ask(f"{ORIGIN}/s/harbour", loader="1").content)["html"]
    found = tags(html)
    assert [t for t, _ in found.tags] == ["blockquote", "a", "script"]
    assert found.tags[0][1]["class"] == "samembed"
    assert found.tags[0][1]["data-story"] == "harbour"
    assert found.tags[2][1]["src"] == f"{ORIGIN}/embed.js"


@override_settings(PUBLIC_ORIGIN="https://embed.example")
def test_the_public_origin_is_ours_too_and_names_every_url() -> None:
    harbour()
    doc = json.loads(ask("https://embed.example/s/harbour").content)
    assert doc["provider_url"] == "https://embed.example/"
    assert tags(doc["html"]).tags[2][1]["src"] == "https://embed.example/e/harbour"
    assert doc["thumbnail_url"].startswith("https://embed.example/img/")
    # The host the request came to is still ours; the answer names the public origin.
    doc = json.loads(ask(f"{ORIGIN}/s/harbour").content)
    assert tags(doc["html"]).tags[2][1]["src"] == "https://embed.example/e/harbour"


@pytest.mark.parametrize(("params", "status", "says"), [
    ({}, 400, "'url' is required"),
    ({"url": ""}, 400, "'url' is required"),
    ({"url": "/s/harbour"}, 400, "absolute http(s) URL"),
    ({"url": "s/harbour"}, 400, "absolute http(s) URL"),
    ({"url": "javascript:alert(1)//testserver/s/harbour"}, 400, "absolute http(s) URL"),
    ({"url": "ftp://testserver/s/harbour"}, 400, "absolute http(s) URL"),
    ({"url": "http://testserver:99999/s/harbour"}, 400, "not a URL"),
    ({"url": f"{ORIGIN}/s/" + "a" * 10_000}, 400, "longer than"),
    ({"url": f"{ORIGIN}/s/harbour", "maxwidth": "0"}, 400, "'maxwidth' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "maxwidth": "-5"}, 400, "'maxwidth' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "maxwidth": "1e9"}, 400, "'maxwidth' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "maxwidth": "1000000000"}, 400, "'maxwidth' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "maxheight": "abc"}, 400, "'maxheight' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "maxheight": ""}, 400, "'maxheight' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "maxwidth": "٥٠٠"}, 400, "'maxwidth' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "loader": "yes"}, 400, "'loader' must be"),
    ({"url": f"{ORIGIN}/s/harbour", "format": "yaml"}, 501, "'yaml' is not provided"),
    ({"url": f"{ORIGIN}/s/harbour", "format": "JSON "}, 501, "is not provided"),
    ({"url": "https://elsewhere.example/s/harbour"}, 404, "not one of this site's"),
    ({"url": "http://testserver.evil/s/harbour"}, 404, "not one of this site's"),
    ({"url": "http://user@testserver/s/harbour"}, 404, "not one of this site's"),
    ({"url": f"{ORIGIN}/studio/"}, 404, "not a story's page"),
    ({"url": f"{ORIGIN}/s/harbour/feed.atom"}, 404, "not a story's page"),
    ({"url": f"{ORIGIN}/s/%ff"}, 404, "not a story's page"),
    ({"url": f"{ORIGIN}/s/harbour?template=yaml"}, 404, "no template"),
    ({"url": f"{ORIGIN}/s/nobody"}, 404, "No published story"),
    ({"url": f"{ORIGIN}/s/draft"}, 404, "No published story"),
])
def test_bad_requests_get_a_clear_status_and_message(
        params: dict[str, str], status: int, says: str) -> None:
    harbour()
    make_story("draft", posts=1, status="draft")
    response = Client().get("/oembed", params)
    assert response.status_code == status
    assert says in response.content.decode()


def test_a_repeated_parameter_or_a_broken_query_is_a_400() -> None:
    harbour()
    url = quote(f"{ORIGIN}/s/harbour", safe="")
    for query in (f"url={url}&url={url}", f"url={url}&maxwidth=5&maxwidth=6",
                  f"url={url}&x=%ff", "&".join(f"x{i}=1" for i in range(30)) + f"&url={url}"):
        response = Client().get(f"/oembed?{query}")
        assert response.status_code == 400, query
        assert response["Cache-Control"] == "no-store"


def test_parameters_consumers_add_are_ignored() -> None:
    harbour()
    # What WordPress sends.
    response = Client().get("/oembed", {"maxwidth": "600", "maxheight": "900",
                                        "url": f"{ORIGIN}/s/harbour", "dnt": "1",
                                        "format": "json"})
    assert response.status_code == 200 and json.loads(response.content)["width"] == 600


def test_other_methods_are_refused() -> None:
    assert Client().post("/oembed", {"url": f"{ORIGIN}/s/harbour"}).status_code == 405


def test_answers_come_from_the_cache_and_follow_the_story() -> None:
    harbour()
    first = ask(f"{ORIGIN}/s/harbour", maxwidth="500")
    assert first["Server-Timing"].startswith("cache;desc=miss")
    again = ask(f"{ORIGIN}/s/harbour", maxwidth="500")
    assert again["Server-Timing"].startswith("cache;desc=hit")
    assert again.content == first.content
    assert Client().get("/oembed", {"url": f"{ORIGIN}/s/harbour", "maxwidth": "500"},
                        HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    # The fast path answers the same request from memory, without Django.
    query = f"url={quote(ORIGIN + '/s/harbour', safe='')}&maxwidth=500&dnt=1".encode()
    status, headers, body = _fast("/oembed", query, b"testserver")
    assert status == 200 and body == first.content
    # ...but not for another host, which Django refuses.
    assert _fast("/oembed", query, b"elsewhere.example")[0] == 299
    # A change of the story expires its entries (as the version watch does).
    story = stories_repo.get_by_slug("harbour")
    assert story is not None and stories_repo.update(story, {"title": "Quay"})
    response_cache().invalidate(lambda e: e.story_id == str(story.id))
    assert json.loads(ask(f"{ORIGIN}/s/harbour", maxwidth="500").content)["title"] == "Quay"


def _fast(path: str, query: bytes, host: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def django(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query,
             "headers": [(b"host", host)]}
    asyncio.run(FastPath(django)(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent)


def test_a_story_published_after_a_404_is_answered_once_its_entry_expires() -> None:
    story = make_story("soon", posts=1, status="draft")
    assert ask(f"{ORIGIN}/s/soon").status_code == 404
    assert stories_repo.update(story, {"status": "published"})
    response_cache().invalidate(lambda e: e.slug == "soon")
    assert ask(f"{ORIGIN}/s/soon").status_code == 200


# ---- discovery ---------------------------------------------------------------------


def discovered(body: str) -> dict[str, str]:
    """The provider URLs a consumer finds, the way WordPress's WP_oEmbed::discover
    looks: <link> tags of the head only, by type."""
    head = body[:body.lower().index("</head>")]
    found = {}
    for attrs in re.findall(r"<link([^<>]+)/?>", head, re.I):
        kind = re.search(r'type="([^"]+)"', attrs)
        href = re.search(r'href="([^"]+)"', attrs)
        if kind and href and kind.group(1).endswith("+oembed"):
            found[kind.group(1)] = href.group(1).replace("&amp;", "&")
    return found


@pytest.mark.parametrize(("page", "frame"), [
    ("/s/harbour", "/e/harbour"),
    ("/s/harbour?utm_source=news", "/e/harbour"),
    ("/e/harbour?template=list", "/e/harbour?template=list"),
    ("/e/harbour", "/e/harbour?template=grid"),
])
def test_pages_and_embeds_lead_consumers_to_the_provider(page: str, frame: str) -> None:
    harbour()
    client = Client()
    response = client.get(page)
    assert response.status_code == 200
    links = discovered(response.content.decode())
    assert set(links) == {"application/json+oembed", "text/xml+oembed"}
    for kind, href in links.items():
        assert href.startswith(f"{ORIGIN}/oembed?url=")
        answer = client.get(href.removeprefix(ORIGIN))
        assert answer.status_code == 200, href
        if kind == "application/json+oembed":
            doc = json.loads(answer.content)
            assert tags(doc["html"]).tags[2][1]["src"] == ORIGIN + frame
        else:
            assert answer["Content-Type"].startswith("text/xml")


@override_settings(PUBLIC_ORIGIN="https://embed.example")
def test_discovery_names_the_public_origin() -> None:
    harbour()
    links = discovered(Client().get("/s/harbour").content.decode())
    assert links["application/json+oembed"] == (
        "https://embed.example/oembed?url=https%3A%2F%2Fembed.example%2Fs%2Fharbour&format=json")
