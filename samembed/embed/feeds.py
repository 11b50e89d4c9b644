"""A story's approved posts as feeds: `/s/<slug>/feed.atom` (RFC 4287),
`feed.rss` (RSS 2.0) and `feed.json` (JSON Feed 1.1) (read path).

Each is the story's first FEED_ITEMS posts in story order (pinned first, then
rank), with authors, permalinks (the post's own URL at its source), the post's
sanitised HTML and its stored pictures as enclosures at the `large` preset. A
feed is a response-cache entry like an embed (`_cached`: one render per key per
process, stale on error, the ASGI fast path for hits, the version watch for
changes), with a strong ETag and a Last-Modified of the story's last change, so
readers that poll get a 304 from memory. Atom and RSS are written by Django's
syndication generator; JSON Feed by hand. Old slugs redirect (301) like the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import feedgenerator

from samembed.embed.cache import Entry
from samembed.embed.i18n import language_for
from samembed.embed.views import (
    Page,
    PageRequest,
    _cached,
    _common_headers,
    _origin,
    _read_view,
    entry_response,
)
from samembed.media.signing import STORED_PREFIX, media_src
from samembed.repositories.posts import Media, Post
from samembed.repositories.stories import Story
from samembed.text import iso_time, post_html

FEED_ITEMS = 50
ENCLOSURE_PRESET = "large"
TITLE_MAX = 80
KINDS: dict[str, bytes] = {
    "atom": b"application/atom+xml; charset=utf-8",
    "rss": b"application/rss+xml; charset=utf-8",
    "json": b"application/feed+json; charset=utf-8",
}


def _title(post: Post) -> str:
    """An item's title: the start of its text, else who posted it."""
    text = " ".join(post.text.split())
    if not text:
        return post.author.name
    if len(text) <= TITLE_MAX:
        return text
    return text[:TITLE_MAX - 1].rsplit(" ", 1)[0].rstrip(" ,;:.—-") + "…"


def _pictures(origin: str, post: Post) -> list[tuple[Media, str]]:
    """Stored pictures (a video's still too) at the standard enclosure size."""
    found = []
    for m in post.media:
        if m.url.startswith(STORED_PREFIX):
            found.append((m, origin + media_src(m.url, ENCLOSURE_PRESET)))
    return found


def _web(url: str | None) -> str | None:
    return url if url and url.startswith(("https://", "http://")) else None


class _Item:
    """What every format says of one post."""

    def __init__(self, origin: str, page: str, post: Post) -> None:
        self.post = post
        self.id = f"{page}#p-{post.id}"
        self.url = _web(post.permalink) or self.id
        self.title = _title(post)
        self.html = str(post_html(post))
        self.pictures = _pictures(origin, post)
        self.author_url = _web(post.author.profile_url)


def _syndication(kind: str, story: Story, items: list[_Item], page: str, feed_url: str,
                 lang: str) -> bytes:
    generator = feedgenerator.Atom1Feed if kind == "atom" else feedgenerator.Rss201rev2Feed
    feed = generator(title=story.title, link=page, feed_url=feed_url, language=lang,
                     description=story.description or story.title, feed_guid=feed_url)
    for item in items:
        post = item.post
        enclosures = [feedgenerator.Enclosure(url, "0", "image/jpeg")
                      for _, url in item.pictures]
        feed.add_item(
            title=item.title, link=item.url, description=item.html, unique_id=item.id,
            unique_id_is_permalink=False, pubdate=post.posted_at, updateddate=post.posted_at,
            author_name=post.author.name, author_link=item.author_url,
            # RSS allows one enclosure an item.
            enclosures=enclosures if kind == "atom" else enclosures[:1],
        )
    return feed.writeString("utf-8").encode()


def _json_feed(story: Story, items: list[_Item], page: str, feed_url: str, lang: str) -> bytes:
    doc: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": story.title,
        "home_page_url": page,
        "feed_url": feed_url,
        "language": lang,
    }
    if story.description:
        doc["description"] = story.description
    entries = []
    for item in items:
        post = item.post
        author: dict[str, str] = {"name": post.author.name}
        if item.author_url:
            author["url"] = item.author_url
        entry: dict[str, Any] = {
            "id": item.id,
            "url": item.url,
            "title": item.title,
            "content_html": item.html,
            "content_text": post.text,
            "date_published": iso_time(post.posted_at),
            "authors": [author],
        }
        if post.lang:
            entry["language"] = post.lang
        if item.pictures:
            entry["image"] = item.pictures[0][1]
            entry["attachments"] = [{"url": url, "mime_type": "image/jpeg",
                                     **({"title": m.alt} if m.alt else {})}
                                    for m, url in item.pictures]
        entries.append(entry)
    doc["items"] = entries
    return json.dumps(doc, ensure_ascii=False, indent=1).encode()


def _not_found() -> Entry:
    headers = _common_headers(b"text/plain; charset=utf-8", b"default-src 'none'")
    return Entry.build(404, headers, b"No published story has that feed.\n", etag=False)


def _feed_view(kind: str) -> Callable[[HttpRequest, str], HttpResponse]:
    suffix = f"/feed.{kind}"

    def handler(request: HttpRequest, slug: str) -> HttpResponse:
        # Query parameters (tracking, cache-busters) are ignored: one entry a feed.
        origin = settings.PUBLIC_ORIGIN or _origin(request)

        def build(story: Story, result: Page) -> Entry:
            page = f"{origin}/s/{quote(story.slug)}"
            feed_url = page + suffix
            lang = language_for(story.language, (p.lang for p in result.posts)).tag
            items = [_Item(origin, page, p) for p in result.posts]
            body = (_json_feed(story, items, page, feed_url, lang) if kind == "json"
                    else _syndication(kind, story, items, page, feed_url, lang))
            headers = _common_headers(KINDS[kind], b"default-src 'none'; sandbox")
            headers.append((b"access-control-allow-origin", b"*"))
            modified = story.updated_at.astimezone(UTC).replace(microsecond=0)
            headers.append((b"last-modified", format_datetime(modified, usegmt=True).encode()))
            entry = Entry.build(200, headers, body, story_id=str(story.id),
                                version=story.version)
            entry.last_modified = modified.timestamp()
            return entry

        entry = _cached(request, slug, "/s/", lambda _: _not_found(), build, suffix,
                        page=PageRequest(limit=FEED_ITEMS))
        return entry_response(entry, request)

    return _read_view(handler, _not_found)


atom = _feed_view("atom")
rss = _feed_view("rss")
json_feed = _feed_view("json")
