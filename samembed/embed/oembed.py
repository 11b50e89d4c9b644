"""The oEmbed 1.0 provider: `GET /oembed?url=…&format=json|xml&maxwidth=&maxheight=`
(read path).

A CMS given one of a story's URLs (`/s/<slug>`, `/e/<slug>`, an old slug, with
`?template=`) asks here how to embed it, after finding this endpoint through the
`<link rel="alternate" type="application/json+oembed">` of the page. The answer is
`type: rich` with an `html` that WordPress keeps from a provider it does not list
(its `wp_filter_oembed_result` keeps one `<blockquote>` with a plain link and one
`<iframe>`, and drops everything else, scripts included): the frame then resizes
itself through WordPress's own `#?secret=` handshake (static/embed/frame.js).
`loader=1`, for sites that list us as a trusted provider, answers the publisher's
snippet instead (placeholder and loader): full height, no 1000 px clamp.

The request is checked before any lookup (`parse`), into a canonical cache key
that the ASGI fast path computes the same way from the raw query string, so a
repeated request is answered from memory; a miss goes through the read path's
`_cached` (one render per key per process, stale on error), and old slugs are
answered, not redirected (consumers store the answer under the URL they pasted).

    >>> parse(b"url=https%3A%2F%2Fhost%2Fs%2Fdemo&maxwidth=500&dnt=1", "host").key
    '/oembed?format=json&loader=0&w=500&h=0&origin=https://host&template=&slug=demo'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from samembed.embed.cache import Entry
from samembed.embed.snippet import snippet
from samembed.embed.views import (
    Page,
    _cached,
    _common_headers,
    _error,
    _unavailable,
    entry_response,
    normalise_slug,
)
from samembed.exceptions import DatabaseUnavailable
from samembed.media.images import PRESETS
from samembed.media.signing import STORED_PREFIX, media_src
from samembed.repositories.posts import Post
from samembed.repositories.stories import TEMPLATES, Story

PROVIDER_NAME = "samembed"
FORMATS = {"json": b"application/json; charset=utf-8", "xml": b"text/xml; charset=utf-8"}
# No URL of ours is longer; anything longer is refused before it is parsed.
URL_MAX = 2000
QUERY_MAX = 4096
# maxwidth and maxheight: a positive number of CSS pixels, no wider than a display.
SIZE_DIGITS = 5
SIZE_MAX = 10000
# The frame's size when the consumer sets no bound: each template's natural shape.
# WordPress asks for its content width and at most 1000 px of height.
SIZES = {"list": (550, 800), "grid": (800, 800), "carousel": (640, 560),
         "ticker": (800, 220), "screen": (1280, 720)}
LARGEST = (max(w for w, _ in SIZES.values()), max(h for _, h in SIZES.values()))
THUMBNAIL_PRESET = "thumb"
# How long a consumer may keep the answer: a live story's title and picture change
# during the event; an archived one no longer changes.
CACHE_AGE = {"live": 300, "published": 3600, "archived": 86400}
# Enough posts to name a few authors and find a picture.
POSTS_LOOKED_AT = 12
AUTHORS_NAMED = 3
# Parameters consumers add (WordPress: dnt) are ignored, as on the read path.
KNOWN = ("url", "format", "maxwidth", "maxheight", "loader")


class BadRequest(ValueError):
    """The request is refused before any lookup; `status` says how (400, 404, 501)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Request:
    """A checked request: whose story, shown how, within which bounds (0: none)."""

    origin: str
    slug: str
    template: str
    format: str
    max_width: int
    max_height: int
    loader: bool

    @property
    def prefix(self) -> str:
        # The slug ends the key: every part before it has a fixed shape, so no slug
        # can make two requests share a key.
        return (f"/oembed?format={self.format}&loader={int(self.loader)}&w={self.max_width}"
                f"&h={self.max_height}&origin={self.origin}&template={self.template}&slug=")

    @property
    def key(self) -> str:
        return self.prefix + self.slug


def _size(name: str, raw: str | None) -> int:
    if raw is None:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= SIZE_DIGITS) \
            or not 1 <= int(raw) <= SIZE_MAX:
        raise BadRequest(400, f"Query parameter {name!r} must be a whole number of pixels "
                              f"from 1 to {SIZE_MAX}, not {raw[:40]!r}.")
    return int(raw)


def _without_default_port(scheme: str, netloc: str) -> str:
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    return netloc[:-len(default)] if default and netloc.endswith(default) else netloc


def _ours(scheme: str, netloc: str, host: str) -> bool:
    public = ""
    if settings.PUBLIC_ORIGIN:
        parts = urlsplit(settings.PUBLIC_ORIGIN)
        public = _without_default_port(parts.scheme, parts.netloc.lower())
    # The request's Host carries no scheme: either default port names it.
    return netloc in (public, _without_default_port("http", _without_default_port(
        "https", host.lower())))


def parse(query: bytes, host: str) -> Request:
    """The request a raw query string makes of the provider at `host` (the request's
    Host), or BadRequest: 400 for a missing or malformed `url` or size, 501 for an
    unknown format, 404 for a URL that is not one of our stories' URLs."""
    if len(query) > QUERY_MAX:
        raise BadRequest(400, f"The query string is longer than {QUERY_MAX} bytes.")
    try:
        pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                          errors="strict", max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(400, "The query string is not valid percent-encoded UTF-8 "
                              "with at most 20 parameters.") from e
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in KNOWN:
            if name in params:
                raise BadRequest(400, f"Query parameter {name!r} is repeated; give it once.")
            params[name] = value
    url = params.get("url", "").strip()
    if not url:
        raise BadRequest(400, "Query parameter 'url' is required: the story's URL, "
                              "like https://HOST/s/<slug>.")
    if len(url) > URL_MAX:
        raise BadRequest(400, f"Query parameter 'url' is longer than {URL_MAX} characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError as e:
        raise BadRequest(400, f"Query parameter 'url' is not a URL: {url[:80]!r}.") from e
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise BadRequest(400, "Query parameter 'url' must be an absolute http(s) URL, "
                              f"not {url[:80]!r}.")
    max_width = _size("maxwidth", params.get("maxwidth"))
    max_height = _size("maxheight", params.get("maxheight"))
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise BadRequest(501, f"Format {fmt[:40]!r} is not provided; "
                              f"formats: {', '.join(FORMATS)}.")
    loader = params.get("loader", "0")
    if loader not in ("0", "1"):
        raise BadRequest(400, f"Query parameter 'loader' must be 0 or 1, not {loader[:40]!r}.")
    scheme = parts.scheme.lower()
    netloc = _without_default_port(scheme, parts.netloc.lower())
    if not _ours(scheme, netloc, host):
        raise BadRequest(404, "That URL is not one of this site's stories.")
    segments = [s for s in parts.path.split("/") if s]
    slug = None
    if len(segments) == 2 and segments[0] in ("s", "e"):
        try:
            slug = normalise_slug(unquote(segments[1], errors="strict"))
        except UnicodeDecodeError:
            slug = None
    if slug is None:
        raise BadRequest(404, "That URL is not a story's page or embed "
                              "(https://HOST/s/<slug> or /e/<slug>).")
    template = ""
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "template":
            template = value.lower()
    if template and template not in TEMPLATES:
        raise BadRequest(404, f"That URL names no template we have ({template[:40]!r}).")
    origin = settings.PUBLIC_ORIGIN or f"{scheme}://{netloc}"
    # Bounds beyond every template's own size answer the same: one entry for them.
    return Request(origin, slug, template, fmt, min(max_width, LARGEST[0]),
                   min(max_height, LARGEST[1]), loader == "1")


def fast_key(query: bytes, host: bytes) -> str | None:
    """The cache key the ASGI fast path looks up for `/oembed?<query>`, or None
    (a request Django must answer)."""
    try:
        return parse(query, host.decode("latin-1")).key
    except BadRequest:
        return None


def _authors(posts: list[Post]) -> str:
    names: list[str] = []
    for post in posts:
        name = post.author.name
        if name and name not in names:
            names.append(name)
    if len(names) > AUTHORS_NAMED:
        return ", ".join(names[:AUTHORS_NAMED]) + " and others"
    return ", ".join(names)


def _thumbnail(posts: list[Post], max_width: int, max_height: int
               ) -> tuple[str, int, int] | None:
    """The first stored picture at the thumbnail preset, if it fits the bounds."""
    width = PRESETS[THUMBNAIL_PRESET]
    for post in posts:
        for m in post.media:
            if m.type != "image" or not m.url.startswith(STORED_PREFIX) \
                    or not m.width or not m.height:
                continue
            w = min(width, m.width)  # /img/ never enlarges
            h = max(1, round(m.height * w / m.width))
            if (max_width and w > max_width) or (max_height and h > max_height):
                return None
            return media_src(m.url, THUMBNAIL_PRESET), w, h
    return None


def frame_size(template: str, max_width: int, max_height: int) -> tuple[int, int]:
    """The frame's width and height within the consumer's bounds (0: none)."""
    width, height = SIZES[template]
    if max_width and max_width < width:
        if template == "screen":  # a screen keeps its 16:9
            height = height * max_width // width
        width = max_width
    if max_height:
        height = min(height, max_height)
    return width, height


def embed_html(origin: str, story: Story, template: str, width: int, height: int) -> str:
    """The html of a rich answer: a plain link, then the sandboxed frame (no script)."""
    page = f"{origin}/s/{quote(story.slug)}"
    src = f"{origin}/e/{quote(story.slug)}" + (f"?template={template}" if template else "")
    title = escape(story.title)
    # No class="samembed": a page that also runs our loader must not frame it twice.
    # No scrolling="no": WordPress caps the height, and the rest must stay reachable.
    return (f'<blockquote><a href="{escape(page)}">{title}</a></blockquote>'
            f'<iframe src="{escape(src)}" width="{width}" height="{height}" '
            f'title="{title}" sandbox="allow-scripts allow-popups '
            'allow-popups-to-escape-sandbox" frameborder="0" loading="lazy" '
            'style="border:0;max-width:100%"></iframe>')


def answer(request: Request, story: Story, posts: list[Post]) -> dict[str, object]:
    """The oEmbed document for `story` (fields in the spec's order)."""
    shown = request.template or story.default_template
    width, height = frame_size(shown, request.max_width, request.max_height)
    html = (snippet(request.origin, story.slug, story.title, request.template,
                    story.default_template) if request.loader
            else embed_html(request.origin, story, request.template, width, height))
    doc: dict[str, object] = {
        "type": "rich",
        "version": "1.0",
        "title": story.title,
    }
    authors = _authors(posts)
    if authors:
        doc["author_name"] = authors
    doc["provider_name"] = PROVIDER_NAME
    doc["provider_url"] = request.origin + "/"
    doc["cache_age"] = CACHE_AGE["live" if story.live else story.status]
    thumbnail = _thumbnail(posts, request.max_width, request.max_height)
    if thumbnail:
        url, w, h = thumbnail
        doc["thumbnail_url"] = url if url.startswith(("https://", "http://")) \
            else request.origin + url
        doc["thumbnail_width"] = w
        doc["thumbnail_height"] = h
    doc["html"] = html
    doc["width"] = width
    doc["height"] = height
    return doc


def to_xml(doc: dict[str, object]) -> bytes:
    """The document in oEmbed's XML format (`<oembed>` with one element per field)."""
    fields = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in doc.items())
    return ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
            f"<oembed>{fields}</oembed>").encode()


def _headers(fmt: str) -> list[tuple[bytes, bytes]]:
    headers = _common_headers(FORMATS[fmt], b"default-src 'none'; frame-ancestors 'none'")
    # Editors that preview embeds in the browser ask from their own origin.
    headers.append((b"access-control-allow-origin", b"*"))
    return headers


def _not_found(request: Request) -> Entry:
    return Entry.build(404, _headers(request.format),
                       b"No published story has that URL.\n", etag=False)


@csrf_exempt
def oembed(http: HttpRequest) -> HttpResponse:
    """`GET /oembed`: the provider's answer, from the response cache."""
    if http.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    try:
        request = parse(http.META.get("QUERY_STRING", "").encode("latin-1"), http.get_host())
    except BadRequest as e:
        return _error(e.status, str(e))

    def build(story: Story, page: Page) -> Entry:
        doc = answer(request, story, page.posts)
        body = (json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
                if request.format == "json" else to_xml(doc))
        return Entry.build(200, _headers(request.format), body, story_id=str(story.id),
                           version=story.version)

    try:
        entry = _cached(http, request.slug, request.prefix, lambda _: _not_found(request),
                        build, page_size=lambda _: POSTS_LOOKED_AT, follow_renames=True)
    except DatabaseUnavailable:
        return _unavailable()
    return entry_response(entry, http)
