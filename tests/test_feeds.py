"""`/s/<slug>/feed.atom`, `feed.rss` and `feed.json`: the approved posts in story
order, parsed back by feedparser (6.x reads no JSON Feed: that one is checked
against the rules of JSON Feed 1.1 as a schema) field by field; conditional GET by
ETag and Last-Modified, garbage validators ignored; cached like the read path (and
its fast path); autodiscovery on the story page."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 - parses our own feeds
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import feedparser
import jsonschema
import pytest
from django.test import Client

from samembed.asgi import FastPath
from samembed.embed.cache import response_cache
from samembed.media.signing import verify
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Author, Media
from tests.factories import make_post, make_story
from tests.test_fastpath import call

pytestmark = pytest.mark.usefixtures("mongo_db")

ORIGIN = "http://testserver"
ATOM = "{http://www.w3.org/2005/Atom}"


def harbour() -> None:
    story = make_story("harbour", title="Harbour Lights", description="A night on the quay.")
    make_post(story, 1, text="Lanterns <b>on</b> the water", lang="en",
              author=Author("Noa Quay", "@noa@example.social", None,
                            "https://example.social/@noa"),
              media=(Media("image", "media:boat1", 1600, 1200, "A boat"),
                     Media("image", "media:boat2", 1600, 1200, "")))
    make_post(story, 2, pinned=True, text="Pinned first")
    make_post(story, 3, state="pending", text="Not yet approved")
    make_post(story, 4, state="rejected", text="Refused")
    make_post(story, 5, text="x " * 100)


def get(path: str, **headers: Any) -> Any:
    return Client().get(path, **headers)


def test_the_atom_feed_has_the_approved_posts_in_story_order() -> None:
    harbour()
    response = get("/s/harbour/feed.atom")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert response["Cache-Control"].startswith("public, max-age=10")
    assert response["ETag"] and response["Last-Modified"] and "Set-Cookie" not in response
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "Harbour Lights"
    assert feed.feed.link == f"{ORIGIN}/s/harbour"
    assert feed.feed.id == f"{ORIGIN}/s/harbour/feed.atom"
    assert feed.feed.language == "en"
    assert [e.title for e in feed.entries] == [
        "Pinned first", "Lanterns <b>on</b> the water",
        ("x " * 40).strip()[:78].rsplit(" ", 1)[0] + "…"]
    first = feed.entries[1]
    assert first.link == "https://example.social/@author1/1"
    assert first.id.startswith(f"{ORIGIN}/s/harbour#p-")
    assert first.author_detail.name == "Noa Quay"
    assert first.author_detail.href == "https://example.social/@noa"
    assert "Lanterns &lt;b&gt;on&lt;/b&gt; the water" in first.summary
    assert first.published_parsed[:5] == first.updated_parsed[:5]
    pictures = [link.href for link in first.links if link.rel == "enclosure"]
    assert len(pictures) == 2
    for href, key in zip(pictures, ("boat1", "boat2"), strict=True):
        found = re.fullmatch(rf"{ORIGIN}/img/([^/]+)/large/{key}\.jpg", href)
        assert found and verify(found.group(1), "large", key, "jpg")
    # Atom's own requirements: ids, titles and updated times on the feed and entries.
    root = ET.fromstring(response.content)  # noqa: S314
    for element in (root, *root.findall(f"{ATOM}entry")):
        for child in ("id", "title", "updated"):
            assert (element.findtext(f"{ATOM}{child}") or "").strip(), child


def test_the_rss_feed_says_the_same_with_one_enclosure_an_item() -> None:
    harbour()
    response = get("/s/harbour/feed.rss")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/rss+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "rss20"
    assert feed.feed.title == "Harbour Lights"
    assert feed.feed.description == "A night on the quay."
    assert feed.feed.link == f"{ORIGIN}/s/harbour"
    assert [e.title for e in feed.entries][:2] == ["Pinned first", "Lanterns <b>on</b> the water"]
    first = feed.entries[1]
    assert first.link == "https://example.social/@author1/1"
    assert first.author == "Noa Quay"
    assert first.guidislink is False and first.id.startswith(f"{ORIGIN}/s/harbour#p-")
    assert len(first.enclosures) == 1
    assert first.enclosures[0].type == "image/jpeg"
    assert "/large/boat1.jpg" in first.enclosures[0].href
    assert first.published_parsed is not None
    # RSS 2.0: channel title, link and description; every item a title or description.
    channel = ET.fromstring(response.content).find("channel")  # noqa: S314
    assert channel is not None
    assert all(channel.findtext(name) for name in ("title", "link", "description"))


# JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), its rules as a schema.
AUTHOR = {"type": "object", "minProperties": 1,
          "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                         "avatar": {"type": "string"}}}
JSON_FEED_1_1 = {
    "type": "object",
    "required": ["version", "title", "items"],
    "properties": {
        "version": {"const": "https://jsonfeed.org/version/1.1"},
        "title": {"type": "string"}, "home_page_url": {"type": "string", "format": "uri"},
        "feed_url": {"type": "string", "format": "uri"}, "description": {"type": "string"},
        "language": {"type": "string"}, "authors": {"type": "array", "items": AUTHOR},
        "items": {"type": "array", "items": {
            "type": "object",
            "required": ["id"],
            "anyOf": [{"required": ["content_html"]}, {"required": ["content_text"]}],
            "properties": {
                "id": {"type": "string"}, "url": {"type": "string"},
                "title": {"type": "string"}, "content_html": {"type": "string"},
                "content_text": {"type": "string"}, "image": {"type": "string"},
                "date_published": {"type": "string", "format": "date-time"},
                "authors": {"type": "array", "items": AUTHOR},
                "language": {"type": "string"},
                "attachments": {"type": "array", "items": {
                    "type": "object", "required": ["url", "mime_type"],
                    "properties": {"url": {"type": "string"},
                                   "mime_type": {"type": "string"},
                                   "title": {"type": "string"}}}},
            }}},
    },
}


def test_the_json_feed_follows_json_feed_1_1() -> None:
    harbour()
    response = get("/s/harbour/feed.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/feed+json; charset=utf-8"
    doc = json.loads(response.content)
    jsonschema.validate(doc, JSON_FEED_1_1, format_checker=jsonschema.FormatChecker())
    assert doc["home_page_url"] == f"{ORIGIN}/s/harbour"
    assert doc["feed_url"] == f"{ORIGIN}/s/harbour/feed.json"
    assert [i["content_text"] for i in doc["items"]][:2] == [
        "Pinned first", "Lanterns <b>on</b> the water"]
    first = doc["items"][1]
    assert first["url"] == "https://example.social/@author1/1"
    assert first["authors"] == [{"name": "Noa Quay", "url": "https://example.social/@noa"}]
    assert first["language"] == "en"
    assert "&lt;b&gt;" in first["content_html"]
    assert [a["mime_type"] for a in first["attachments"]] == ["image/jpeg", "image/jpeg"]
    assert first["attachments"][0]["title"] == "A boat"
    assert "title" not in first["attachments"][1]
    assert first["image"] == first["attachments"][0]["url"]
    assert datetime.fromisoformat(first["date_published"]).tzinfo is not None


@pytest.mark.parametrize("kind", ["atom", "rss", "json"])
def test_a_matching_etag_or_an_unchanged_date_gets_304(kind: str) -> None:
    harbour()
    path = f"/s/harbour/feed.{kind}"
    first = get(path)
    assert get(path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert get(path, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    earlier = format_datetime(parsedate_to_datetime(first["Last-Modified"])
                              - timedelta(seconds=1), usegmt=True)
    assert get(path, HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200
    # If-None-Match decides when both are given (RFC 9110 13.2.2).
    assert get(path, HTTP_IF_NONE_MATCH='"other"',
               HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 200


@pytest.mark.parametrize(("header", "value"), [
    ("HTTP_IF_NONE_MATCH", "garbage"), ("HTTP_IF_NONE_MATCH", '"'),
    ("HTTP_IF_NONE_MATCH", "W/"), ("HTTP_IF_NONE_MATCH", "\x00\xff" * 500),
    ("HTTP_IF_MODIFIED_SINCE", "garbage"), ("HTTP_IF_MODIFIED_SINCE", ""),
    ("HTTP_IF_MODIFIED_SINCE", "Mon, 99 Foo 2024 99:99:99 GMT"),
    ("HTTP_IF_MODIFIED_SINCE", "-1"), ("HTTP_IF_MODIFIED_SINCE", "1e999"),
    ("HTTP_IF_MODIFIED_SINCE", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ("HTTP_IF_MODIFIED_SINCE", "\xff" * 2000),
])
def test_garbage_validators_are_ignored_and_the_feed_is_sent(header: str, value: str) -> None:
    harbour()
    plain = get("/s/harbour/feed.atom")
    response = get("/s/harbour/feed.atom", **{header: value})
    assert response.status_code == 200 and response.content == plain.content


def test_feeds_come_from_the_cache_and_follow_the_story() -> None:
    harbour()
    first = get("/s/harbour/feed.json")
    assert first["Server-Timing"].startswith("cache;desc=miss")
    assert get("/s/harbour/feed.json?utm_source=x")["Server-Timing"].startswith(
        "cache;desc=hit")
    story = stories_repo.get_by_slug("harbour")
    assert story is not None
    make_post(story, 9, text="Just in")
    stories_repo.bump_version(story.id)
    response_cache().invalidate(lambda e: e.story_id == str(story.id))
    after = get("/s/harbour/feed.json", HTTP_IF_NONE_MATCH=first["ETag"],
                HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert after.status_code == 200
    assert "Just in" in [i["content_text"] for i in json.loads(after.content)["items"]]
    assert after["ETag"] != first["ETag"]
    assert parsedate_to_datetime(after["Last-Modified"]) >= parsedate_to_datetime(
        first["Last-Modified"])


def test_an_old_slug_redirects_and_drafts_or_unknown_stories_have_no_feed() -> None:
    harbour()
    make_story("draft", posts=1, status="draft")
    story = stories_repo.get_by_slug("harbour")
    assert story is not None and stories_repo.update(story, {"slug": "quay"})
    response = get("/s/harbour/feed.rss")
    assert response.status_code == 301 and response["Location"] == "/s/quay/feed.rss"
    assert get("/s/quay/feed.rss").status_code == 200
    for path in ("/s/draft/feed.atom", "/s/nobody/feed.json", "/s/" + "a" * 300 + "/feed.rss"):
        response = get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"].startswith("text/plain")
    assert get("/s/quay/feed.yaml").status_code == 404
    assert Client().post("/s/quay/feed.atom").status_code == 405


def test_an_empty_story_has_an_empty_but_valid_feed() -> None:
    make_story("empty", title="Empty")
    for kind in ("atom", "rss"):
        feed = feedparser.parse(get(f"/s/empty/feed.{kind}").content)
        assert not feed.bozo and feed.entries == [] and feed.feed.title == "Empty"
    doc = json.loads(get("/s/empty/feed.json").content)
    jsonschema.validate(doc, JSON_FEED_1_1)
    assert doc["items"] == []


def test_the_story_page_lets_readers_discover_its_feeds() -> None:
    harbour()
    body = get("/s/harbour").content.decode()
    head = body[:body.index("</head>")]
    links = dict(re.findall(r'<link rel="alternate" type="([^"]+)" href="([^"]+)"', head))
    assert links["application/atom+xml"] == f"{ORIGIN}/s/harbour/feed.atom"
    assert links["application/rss+xml"] == f"{ORIGIN}/s/harbour/feed.rss"
    assert links["application/feed+json"] == f"{ORIGIN}/s/harbour/feed.json"
    for href in (links["application/atom+xml"], links["application/rss+xml"]):
        assert get(href.removeprefix(ORIGIN)).status_code == 200


def test_times_are_the_posts_own() -> None:
    story = make_story("times")
    when = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    make_post(story, 1, posted_at=when)
    entry = feedparser.parse(get("/s/times/feed.atom").content).entries[0]
    assert entry.published == "2026-05-04T03:02:01+00:00"
    item = json.loads(get("/s/times/feed.json").content)["items"][0]
    assert item["date_published"] == "2026-05-04T03:02:01Z"


def test_the_fast_path_answers_conditional_requests_for_feeds_too() -> None:
    harbour()
    first = get("/s/harbour/feed.atom")
    for name, value in ((b"if-modified-since", first["Last-Modified"]),
                        (b"if-none-match", first["ETag"])):
        status, headers, body = fast("/s/harbour/feed.atom", [(name, value.encode())])
        assert (status, body) == (304, b"")
        assert headers[b"last-modified"] == first["Last-Modified"].encode()
    status, _, body = fast("/s/harbour/feed.atom", [(b"if-modified-since", b"garbage")])
    assert status == 200 and body == first.content


def fast(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[bytes, bytes], bytes]:
    """A request answered by the fast path alone (Django would fail the test)."""
    async def django(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError("the fast path passed the request on")

    return call(FastPath(django), path, headers=headers)
