"""From untrusted markup and dates to what `Collected` holds: plain text, entities, aware times.

Sources call this on the way in (source -> **sanitise** -> pipeline): Mastodon's
status HTML and feed descriptions go through `html_to_text()`, which first cleans
with nh3 (an allow-list; scripts, styles, SVG, MathML and frames dropped with
their content; only http, https and mailto links kept), then walks the clean
markup into plain text with link, hashtag and mention entities by code point
offsets. Nothing here is ever rendered as HTML again: the embed escapes the text
and builds its own links from the entities.

    >>> text, entities = html_to_text('<p>Tea <a href="https://x.test/t">time</a></p>')
    >>> text, [(e.kind, e.start, e.end, e.href) for e in entities]
    ('Tea time', [('url', 4, 8, 'https://x.test/t')])
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import urljoin

import nh3

from samembed.repositories.posts import TEXT_MAX, Entity
from samembed.text import find_entities, safe_href

# Markup past this is not read at all: a post is at most TEXT_MAX characters, and
# nh3's time grows with its input.
HTML_MAX = 512 * 1024

_TAGS = {"a", "p", "br", "div", "span", "blockquote", "pre", "code", "ul", "ol", "li",
         "h1", "h2", "h3", "h4", "h5", "h6", "b", "strong", "i", "em", "u", "s", "del",
         "small", "sub", "sup", "hr", "figure", "figcaption", "table", "tr", "td", "th"}
# Dropped with everything inside them: their content is code or drawing, not text.
_DROP_WITH_CONTENT = {"script", "style", "svg", "math", "iframe", "object", "embed",
                      "noscript", "template", "textarea", "select", "title", "head"}
_LINK_SCHEMES = {"http", "https", "mailto"}
_BLOCKS = {"p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5",
           "h6", "hr", "figure", "figcaption", "table", "tr"}
_SPACE = re.compile(r"\s+")
# C0/C1 controls other than newline and tab have no place in a post.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_html(html: str) -> str:
    """`html` reduced to the allow-list (links keep only `href` and `class`)."""
    return nh3.clean(
        html[:HTML_MAX],
        tags=_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes={"a": {"href", "class"}},
        url_schemes=_LINK_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


def html_to_text(html: str, base_url: str | None = None) -> tuple[str, list[Entity]]:
    """Plain text and entities from an HTML fragment.

    Paragraphs and block elements become blank lines, `<br>` a newline; runs of
    white space collapse as a browser would. Links become `url` entities,
    Mastodon's `class="mention hashtag"` and `class="u-url mention"` anchors
    `hashtag` and `mention` entities. Relative links are resolved against
    `base_url` (dropped without one); `javascript:`, `data:` and other schemes
    are dropped, their text kept. Bare URLs in the text become `url` entities too.
    """
    walker = _TextWalker(base_url)
    walker.feed(clean_html(html))
    walker.close()
    text, entities = walker.result()
    return text, _with_bare_urls(text, entities)


def plain_text(text: str) -> str:
    """Text that is already plain (Bluesky records, feed titles): controls removed, trimmed."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def clamp_text(text: str, entities: list[Entity] | tuple[Entity, ...],
               limit: int = TEXT_MAX) -> tuple[str, list[Entity]]:
    """`text` cut to `limit` code points (ending in "…") and the entities that still fit."""
    if len(text) <= limit:
        return text, list(entities)
    cut = text[:limit - 1].rstrip()
    return cut + "…", [e for e in entities if e.end <= len(cut)]


def read_date(raw: str) -> datetime | None:
    """ISO 8601 / RFC 3339 or RFC 822 (RSS, HTTP) text as an aware UTC datetime
    (naive times taken as UTC), or None when it is neither."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: object, *, what: str = "date",
               now: datetime | None = None) -> datetime:
    """An aware datetime from ISO 8601 / RFC 3339 or RFC 822 (RSS) text.

    Naive times are taken as UTC. Raises ValueError naming `what` when the value
    is not a date, or lies more than a day in the future (a post dated next year
    would sit on top of a story for a year).

        >>> parse_date("Tue, 10 Jun 2025 04:00:00 GMT").isoformat()
        '2025-06-10T04:00:00+00:00'
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"the {what} is missing")
    raw = value.strip()
    parsed = read_date(raw)
    if parsed is None:
        raise ValueError(f"the {what} {raw[:60]!r} is not a valid date")
    if parsed > (now or datetime.now(UTC)) + timedelta(days=1):
        raise ValueError(f"the {what} {raw[:60]!r} is in the future")
    return parsed


def safe_link(href: str | None, base_url: str | None = None) -> str | None:
    """An absolute http(s) URL from `href` (resolved against `base_url`), else None."""
    if not href:
        return None
    href = href.strip()
    if base_url:
        href = urljoin(base_url, href)
    return safe_href(href)


class _TextWalker(HTMLParser):
    """Walks nh3's clean output, tidying white space while it appends.

    Tidying as we go (instead of after) keeps entity offsets right without a
    second pass that would have to move them.
    """

    def __init__(self, base_url: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self._base = base_url
        self._parts: list[str] = []
        self._length = 0
        self._pending_newlines = 0
        self._pre = 0
        self._links: list[tuple[str, str] | None] = []  # open <a>: (kind, href) or None
        self._link_start: int | None = None
        self._entities: list[Entity] = []

    # Output helpers --------------------------------------------------------

    def _last_char(self) -> str:
        return self._parts[-1][-1] if self._parts else ""

    def _drop_trailing_spaces(self) -> None:
        while self._parts and self._parts[-1].endswith(" "):
            trimmed = self._parts[-1].rstrip(" ")
            self._length -= len(self._parts[-1]) - len(trimmed)
            if trimmed:
                self._parts[-1] = trimmed
            else:
                self._parts.pop()

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)

    def _break(self, newlines: int) -> None:
        self._pending_newlines = max(self._pending_newlines, newlines)

    # HTMLParser hooks ------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._drop_trailing_spaces()
            if self._length:
                self._append("\n")
            return
        if tag in _BLOCKS:
            self._break(2 if tag in ("p", "blockquote", "pre", "ul", "ol", "hr",
                                     "h1", "h2", "h3", "h4", "h5", "h6", "table") else 1)
            if tag == "pre":
                self._pre += 1
            return
        if tag == "a":
            values = dict(attrs)
            self._links.append(self._link(values.get("href"), values.get("class") or ""))
            self._link_start = None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "a":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self._break(2 if tag in ("p", "blockquote", "pre", "ul", "ol",
                                     "h1", "h2", "h3", "h4", "h5", "h6", "table") else 1)
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            return
        if tag == "a" and self._links:
            link = self._links.pop()
            start = self._link_start
            self._link_start = None
            if link is None or start is None:
                return
            end = self._length
            text = "".join(self._parts)
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                self._entities.append(Entity(link[0], start, end, link[1]))

    def handle_data(self, data: str) -> None:
        data = _CONTROLS.sub("", data)
        if not self._pre:
            data = _SPACE.sub(" ", data)
        if not data:
            return
        if self._pending_newlines and self._length:
            self._drop_trailing_spaces()
            self._append("\n" * self._pending_newlines)
            data = data.lstrip(" ")
        elif not self._length or self._last_char() in (" ", "\n"):
            data = data.lstrip(" ")
        self._pending_newlines = 0
        if not data:
            return
        if self._links and self._links[-1] is not None and self._link_start is None:
            self._link_start = self._length
        self._append(data)

    def _link(self, href: str | None, classes: str) -> tuple[str, str] | None:
        if not href:
            return None
        href = href.strip()
        if href.lower().startswith("mailto:"):
            return ("url", href)
        url = safe_link(href, self._base)
        if url is None:
            return None
        names = set(classes.split())
        if "hashtag" in names:
            return ("hashtag", url)
        if "mention" in names:
            return ("mention", url)
        return ("url", url)

    def result(self) -> tuple[str, list[Entity]]:
        self._drop_trailing_spaces()
        text = "".join(self._parts)
        # Entities never reach into the trailing newlines removed here.
        return text.rstrip(), sorted(self._entities, key=lambda e: e.start)


def _with_bare_urls(text: str, entities: list[Entity]) -> list[Entity]:
    """Add `url` entities for URLs written as plain text, where no link already is."""
    found = list(entities)
    for bare in find_entities(text):
        if all(bare.end <= e.start or bare.start >= e.end for e in found):
            found.append(bare)
    return sorted(found, key=lambda e: e.start)
