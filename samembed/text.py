"""Post text: finding links, hashtags and mentions, and rendering them safely.

Collection (ingest, demo, manual posts) calls `find_entities()` once and stores
the entities with the plain text; rendering (`post_html`) only escapes the text
and wraps stored entities in links, refusing any href `safe_href` refuses.

    >>> [e.kind for e in find_entities("Hi @ada@example.social #tea https://x.test/a")]
    ['mention', 'hashtag', 'url']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from markupsafe import Markup, escape

from samembed.embed.i18n import ENGLISH

if TYPE_CHECKING:
    from samembed.repositories.posts import Entity, Post

# A URL ends before trailing punctuation that usually belongs to the sentence.
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]}»”’]")
_HASHTAG = re.compile(r"(?<![\w#/&])#(\w{1,100})", re.UNICODE)
# @user or @user@instance.tld (fediverse) or @handle.bsky.social
_MENTION = re.compile(
    r"(?<![\w@/])@([A-Za-z0-9_]{1,64}(?:[.-][A-Za-z0-9_]+)*)(?:@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+))?"
)

HASHTAG_BASE = {
    "mastodon": "https://{instance}/tags/{tag}",
    "bluesky": "https://bsky.app/hashtag/{tag}",
}


def find_entities(
    text: str, *, hashtag_url: str | None = None, mention_url: str | None = None
) -> list[Entity]:
    """Links, hashtags and mentions in `text`, by code point offsets.

    `hashtag_url` and `mention_url` are format strings with `{tag}` / `{user}` and
    `{host}` (the mention's own instance, when it names one); without them
    hashtags and mentions stay plain text.
    """
    from samembed.repositories.posts import Entity

    found: list[Entity] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for m in _URL.finditer(text):
        found.append(Entity("url", m.start(), m.end(), m.group(0)))
        taken.append(m.span())
    if hashtag_url:
        for m in _HASHTAG.finditer(text):
            if free(*m.span()):
                href = hashtag_url.format(tag=quote(m.group(1)))
                found.append(Entity("hashtag", m.start(), m.end(), href))
    if mention_url:
        for m in _MENTION.finditer(text):
            if free(*m.span()):
                user, host = m.group(1), m.group(2)
                if host:
                    href = f"https://{host}/@{quote(user)}"
                else:
                    href = mention_url.format(user=quote(user))
                found.append(Entity("mention", m.start(), m.end(), href))
    found.sort(key=lambda e: e.start)
    return found


def safe_href(href: str | None, *, mail: bool = False) -> str | None:
    """`href` if it may be a link: an absolute http(s) URL with a host, or with
    `mail` (links inside a post's text) a mailto: address; else None.

    The one policy for every ingested URL that becomes an href (ingest's
    `sanitise.safe_link`, the text's entities, the embed's cards).

        >>> safe_href("javascript:alert(1)") is None, safe_href("mailto:a@b.test", mail=True)
        (True, 'mailto:a@b.test')
    """
    if not href:
        return None
    href = href.strip()
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.hostname:
        return href
    if mail and scheme == "mailto" and "@" in parts.path:
        return href
    return None


def _display_url(url: str) -> str:
    # Like the networks do: drop the scheme and shorten long links.
    bare = url.split("://", 1)[-1]
    return bare if len(bare) <= 40 else bare[:39] + "…"


def post_html(post: Post) -> Markup:
    """The post's text as HTML: escaped, with its entities as links, newlines as <br>."""
    return _text_html(post.text, post.entities)


# Every render of an embed converts the same posts again (five templates, a
# 10 s cache): remember the conversion of recent texts. Bounded; the result
# depends on nothing but the text and its entities (frozen, hashable).
@lru_cache(maxsize=4096)
def _text_html(text: str, entities: tuple[Entity, ...]) -> Markup:
    parts: list[str] = []
    pos = 0
    for entity in entities:
        if entity.start < pos or entity.end > len(text) or not safe_href(entity.href, mail=True):
            continue
        parts.append(str(escape(text[pos:entity.start])))
        label = text[entity.start:entity.end]
        if entity.kind == "url":
            label = _display_url(label)
        parts.append(
            # dir="auto" isolates the link: "#Tag" inside right-to-left text keeps
            # its "#" in front instead of being flipped to "Tag#".
            f'<a href="{escape(entity.href)}" class="{entity.kind}" dir="auto" '
            f'target="_blank" rel="noopener nofollow ugc">{escape(label)}</a>'
        )
        pos = entity.end
    parts.append(str(escape(text[pos:])))
    return Markup("".join(parts).replace("\n", "<br>"))  # noqa: S704 - built from escaped parts


def _date(key: str, when: datetime, words: Mapping[str, str] | None) -> str:
    return (words or ENGLISH)[key].format(
        day=when.day, dd=f"{when.day:02d}", month=when.month, mm=f"{when.month:02d}",
        mon=f"{when:%b}", year=when.year, time=f"{when:%H:%M}")


def relative_time(when: datetime, now: datetime | None = None,
                  words: Mapping[str, str] | None = None) -> str:
    """A short relative time ("5m", "3h", "2d", "12 Mar") in the words of a strings
    table (samembed.embed.i18n, English by default); the page keeps it current."""
    now = now or datetime.now(UTC)
    w = words or ENGLISH
    seconds = (now - when).total_seconds()
    if seconds < 45:
        return w["time_now"]
    if seconds < 3600:
        return w["time_minutes"].format(n=max(1, round(seconds / 60)))
    if seconds < 86400:
        return w["time_hours"].format(n=round(seconds / 3600))
    if seconds < 7 * 86400:
        return w["time_days"].format(n=round(seconds / 86400))
    return _date("date_short" if when.year == now.year else "date_long", when, words)


def exact_time(when: datetime, words: Mapping[str, str] | None = None) -> str:
    """The date and time in UTC ("2 Dec 2026, 14:05 UTC"); pages show it in the
    reader's own time zone when their script runs."""
    return _date("date_time", when.astimezone(UTC), words)


def iso_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
