"""Public read-path views: `/e/<slug>`, `/screen/<slug>`, `/s/<slug>`,
`/api/v1/stories/<slug>` (the live version endpoint is in `live.py`).

Each view validates the request, derives the canonical cache key and asks the
response cache for it; a cache miss renders from the repositories. Whatever the
outcome (200, a 301 for a renamed story, a 404), the response is a cache
`Entry`, so the next identical request is answered by the ASGI fast path from
memory. These views only see the requests the fast path could not answer.
"""

from __future__ import annotations

import json
import logging
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template import engines
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from markupsafe import Markup

from samembed.embed.cache import Entry, Header, response_cache
from samembed.embed.i18n import language_for
from samembed.embed.render import EMBED_POST_LIMIT, cards, csp_hash, render_embed, theme_css
from samembed.embed.story_page import head as story_head
from samembed.exceptions import DatabaseUnavailable
from samembed.media.signing import media_src
from samembed.observability import Timing, record_read
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Post
from samembed.repositories.stories import TEMPLATES, Story
from samembed.text import post_html

logger = logging.getLogger(__name__)

# Path segments longer than any slug we ever issue are refused before any lookup.
SLUG_PATH_MAX = 200
NOT_FOUND_CSS = (
    "body{margin:0;font:15px/1.4 system-ui,sans-serif;color:#555;background:transparent}"
    "h1{margin:0;padding:12px 16px;font:inherit}"
)


def public_cache_control() -> bytes:
    ttl = int(settings.EMBED_CACHE_TTL)
    return (
        f"public, max-age={ttl}, stale-while-revalidate=30, "
        f"stale-if-error={int(settings.EMBED_STALE_IF_ERROR)}"
    ).encode()


def _common_headers(content_type: bytes, csp: bytes | None = None) -> list[Header]:
    headers = [
        (b"content-type", content_type),
        (b"cache-control", public_cache_control()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        # What Django's SecurityMiddleware would add, so that a hit answered by the
        # fast path carries exactly the headers of the miss that filled the cache.
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if csp:
        headers.append((b"content-security-policy", csp))
    return headers


def entry_response(entry: Entry, request: HttpRequest) -> HttpResponse:
    status, headers, body = entry.respond(
        request.META.get("HTTP_ACCEPT_ENCODING", "").encode("latin-1"),
        request.META.get("HTTP_IF_NONE_MATCH", "").encode("latin-1") or None,
        request.method == "HEAD",
    )
    response = HttpResponse(body, status=status)
    del response["Content-Type"]
    for name, value in headers:
        response[name.decode()] = value.decode("latin-1")
    return response


def _error(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _unavailable() -> HttpResponse:
    response = _error(503, "The story database is unavailable; try again shortly.")
    response["Retry-After"] = "5"
    return response


def normalise_slug(raw: str) -> str | None:
    """The slug a path segment names, or None when it cannot name one."""
    if not raw or len(raw) > SLUG_PATH_MAX or "\ufffd" in raw:
        return None
    slug = unicodedata.normalize("NFC", raw).lower()
    if any(unicodedata.category(c)[0] in "CZ" for c in slug):
        return None
    return slug


def _check_query(request: HttpRequest, allowed: tuple[str, ...]) -> str | None:
    """An error message for unknown or repeated parameters, or None."""
    for name, values in request.GET.lists():
        if name not in allowed:
            valid = ", ".join(allowed) if allowed else "none"
            return f"Unknown query parameter {name!r}; valid parameters: {valid}."
        if len(values) > 1:
            return f"Query parameter {name!r} is repeated; give it once."
    return None


def _read_view(
    handler: Callable[[HttpRequest, str], HttpResponse],
    not_found: Callable[[], Entry],
) -> Callable[[HttpRequest, str], HttpResponse]:
    """GET and HEAD only; a slug that cannot exist answers 404 without a lookup."""

    # Exempt from CSRF so that a POST is answered 405 (nothing here changes state).
    @csrf_exempt
    @xframe_options_exempt
    def view(request: HttpRequest, slug: str) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        normal = normalise_slug(slug)
        if normal is None:
            return entry_response(not_found(), request)
        try:
            return handler(request, normal)
        except DatabaseUnavailable as e:
            logger.warning("database unavailable: %s", e)
            return _unavailable()

    return view


def _redirect_entry(location: str) -> Entry:
    headers = _common_headers(b"text/plain; charset=utf-8")
    headers.append((b"location", quote(location, safe="/?=&").encode()))
    return Entry.build(301, headers, b"", etag=False)


def _not_found_entry() -> Entry:
    css = NOT_FOUND_CSS
    body = (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Story not found</title>'
        f"<style>{css}</style><main><h1>This story is not available.</h1></main></html>"
    ).encode()
    csp = f"default-src 'none'; style-src {csp_hash(css)}; frame-ancestors *".encode()
    return Entry.build(404, _common_headers(b"text/html; charset=utf-8", csp), body)


def _cached(
    request: HttpRequest,
    slug: str,
    prefix: str,
    not_found: Callable[[], Entry],
    build: Callable[[Story, list[Post]], Entry],
    suffix: str = "",
    with_posts: bool = True,
) -> Entry:
    """The cached answer for `<prefix><slug><suffix>`: 404, 301 to the story's
    current slug, or `build` (given the published posts unless `with_posts` is
    false); rendered at most once at a time per process. Every story URL of the
    read path comes through here, so its timings reach Server-Timing and /metrics."""

    timing = Timing()

    def render() -> Entry:
        timing.cache = "miss"
        started = time.perf_counter()
        story = stories_repo.get_by_slug(slug)
        if story is not None and story.is_public and story.slug == slug:
            posts = posts_repo.list_published(story.id, EMBED_POST_LIMIT) if with_posts else []
            fetched = time.perf_counter()
            timing.db = fetched - started
            entry = build(story, posts)
            timing.render = time.perf_counter() - fetched
        else:
            timing.db = time.perf_counter() - started
            entry = (not_found() if story is None or not story.is_public
                     else _redirect_entry(f"{prefix}{story.slug}{suffix}"))
        entry.slug = slug
        return entry

    entry = response_cache().get(f"{prefix}{slug}{suffix}", render)
    if entry.stale:
        timing.cache = "stale"
    record_read(timing)
    # RequestMiddleware turns it into Server-Timing.
    request.samembed_timing = timing  # type: ignore[attr-defined]
    return entry


# ---- /e/<slug> and /screen/<slug> ----------------------------------------------

# `v`: the version a live document asks for. A cache-buster for CDNs only: the
# origin caches by template alone, so no value of it can cause a render.
VERSION_DIGITS_MAX = 12


def _origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _asked_version(request: HttpRequest) -> tuple[int | None, str | None]:
    raw = request.GET.get("v")
    if raw is None:
        return None, None
    if not raw.isascii() or not raw.isdigit() or len(raw) > VERSION_DIGITS_MAX:
        return None, f"Query parameter 'v' must be a story version (1 to " \
                     f"{VERSION_DIGITS_MAX} digits), not {raw[:40]!r}."
    return int(raw), None


def _document(request: HttpRequest, slug: str, prefix: str, template: str | None,
              suffix: str, asked: int | None) -> HttpResponse:
    origin = _origin(request)

    def build(story: Story, posts: list[Post]) -> Entry:
        rendered = render_embed(story, posts, template or story.default_template,
                                origin=origin)
        headers = _common_headers(b"text/html; charset=utf-8", rendered.csp.encode())
        # Live embeds are sandboxed frames (an opaque origin) that fetch their own
        # next version: they need CORS to read it. The content is public anyway.
        headers.append((b"access-control-allow-origin", b"*"))
        return Entry.build(200, headers, rendered.body,
                           story_id=str(story.id), version=story.version)

    entry = _cached(request, slug, prefix, _not_found_entry, build, suffix)
    response = entry_response(entry, request)
    if asked is not None and entry.story_id is not None and (entry.version or 0) < asked:
        # This process has not seen that version yet: a CDN must not keep this
        # copy under the URL that names the new version (the page asks again).
        response["Cache-Control"] = "no-store"
    return response


def _embed(request: HttpRequest, slug: str) -> HttpResponse:
    problem = _check_query(request, ("template", "v"))
    template = request.GET.get("template")
    if problem is None and template is not None and template not in TEMPLATES:
        problem = f"Unknown template {template!r}; valid templates: {', '.join(TEMPLATES)}."
    asked, bad_version = _asked_version(request)
    problem = problem or bad_version
    if problem:
        return _error(400, problem)
    suffix = f"?template={template}" if template else ""
    return _document(request, slug, "/e/", template, suffix, asked)


embed = _read_view(_embed, _not_found_entry)


def _screen(request: HttpRequest, slug: str) -> HttpResponse:
    """The big screen at its own URL: the screen template as a whole page."""
    asked, problem = _asked_version(request)
    problem = _check_query(request, ("v",)) or problem
    if problem:
        return _error(400, problem)
    return _document(request, slug, "/screen/", "screen", "", asked)


screen = _read_view(_screen, _not_found_entry)


# ---- /s/<slug> ---------------------------------------------------------------

STORY_PAGE_CSP = (
    "default-src 'none'; style-src 'self' {theme}; img-src 'self' https: data:; "
    "script-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _build_story_page(story: Story, posts: list[Post], origin: str = "") -> Entry:
    # The head (canonical URL, preview tags, JSON-LD) and the story's language and
    # theme, shared with the embed: samembed.embed.story_page.
    language = language_for(story.language, (p.lang for p in posts))
    theme = theme_css(story)
    html = engines["jinja2"].get_template("story/page.html").render(
        {"story": story, "posts": posts,
         "cards": list(zip(posts, cards(posts, "list"), strict=True)),
         "now": datetime.now(UTC), "t": language.t,
         "lang": language, "head": story_head(story, posts, settings.PUBLIC_ORIGIN or origin,
                                              language),
         "theme_style": Markup(theme)}  # noqa: S704 - built from validated theme fields
    )
    csp = STORY_PAGE_CSP.format(theme=csp_hash(theme)).encode()
    headers = _common_headers(b"text/html; charset=utf-8", csp)
    return Entry.build(200, headers, html.encode(), story_id=str(story.id),
                       version=story.version)


def _story_page(request: HttpRequest, slug: str) -> HttpResponse:
    # Shared links carry tracking parameters; the page ignores them all.
    origin = _origin(request)
    return entry_response(_cached(request, slug, "/s/", _not_found_entry,
                                  lambda story, posts: _build_story_page(story, posts, origin)),
                          request)


story_page = _read_view(_story_page, _not_found_entry)


# ---- /api/v1/stories/<slug> -----------------------------------------------------


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def story_json(story: Story, posts: list[Post]) -> dict[str, Any]:
    return {
        "story": {
            "slug": story.slug,
            "title": story.title,
            "description": story.description,
            "status": story.status,
            "live": story.live,
            "version": story.version,
            "default_template": story.default_template,
            "theme": asdict(story.theme),
            "url": f"/s/{story.slug}",
            "embed_url": f"/e/{story.slug}",
            "updated_at": _iso(story.updated_at),
        },
        "posts": [
            {
                "id": str(p.id),
                "source": p.source,
                "external_id": p.external_id,
                "author": asdict(p.author),
                "text": p.text,
                "html": str(post_html(p)),
                "entities": [asdict(e) for e in p.entities],
                "media": [{**asdict(m), "url": media_src(m.url, "large")} for m in p.media],
                "permalink": p.permalink,
                "lang": p.lang,
                "posted_at": _iso(p.posted_at),
                "pinned": p.pinned,
                "highlighted": p.highlighted,
            }
            for p in posts
        ],
    }


def _json_entry(status: int, payload: dict[str, Any], **extra: Any) -> Entry:
    headers = _common_headers(b"application/json", b"default-src 'none'; frame-ancestors 'none'")
    headers.append((b"access-control-allow-origin", b"*"))
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Entry.build(status, headers, body, **extra)


def _json_not_found() -> Entry:
    return _json_entry(404, {"error": "not_found", "message": "No such story."})


def _build_story_json(story: Story, posts: list[Post]) -> Entry:
    return _json_entry(200, story_json(story, posts), story_id=str(story.id),
                       version=story.version)


def _story_api(request: HttpRequest, slug: str) -> HttpResponse:
    return entry_response(
        _cached(request, slug, "/api/v1/stories/", _json_not_found, _build_story_json), request)


story_api = _read_view(_story_api, _json_not_found)
