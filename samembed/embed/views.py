"""Public read-path views: `/e/<slug>`, `/s/<slug>`, `/api/v1/stories/<slug>`.

Each view validates the request, derives the canonical cache key and asks the
response cache for it; a cache miss renders from the repositories. Whatever the
outcome (200, a 301 for a renamed story, a 404), the response is a cache
`Entry`, so the next identical request is answered by the ASGI fast path from
memory. These views only see the requests the fast path could not answer.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template import engines
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from samembed.embed.cache import Entry, Header, response_cache
from samembed.embed.render import EMBED_POST_LIMIT, csp_hash, render_embed
from samembed.exceptions import DatabaseUnavailable
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
    "p{margin:0;padding:12px 16px}"
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


def _to_response(entry: Entry, request: HttpRequest) -> HttpResponse:
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
            return _to_response(_not_found_entry(), request)
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
        f"<style>{css}</style><p>This story is not available.</p></html>"
    ).encode()
    csp = f"default-src 'none'; style-src {csp_hash(css)}; frame-ancestors *".encode()
    return Entry.build(404, _common_headers(b"text/html; charset=utf-8", csp), body)


def _lookup(slug: str) -> Story | None:
    story = stories_repo.get_by_slug(slug)
    return story if story is not None and story.is_public else None


def _cached(request: HttpRequest, key: str, render: Callable[[], Entry]) -> HttpResponse:
    return _to_response(response_cache().get(key, render), request)


# ---- /e/<slug> ---------------------------------------------------------------


def _embed(request: HttpRequest, slug: str) -> HttpResponse:
    problem = _check_query(request, ("template",))
    template = request.GET.get("template")
    if problem is None and template is not None and template not in TEMPLATES:
        problem = f"Unknown template {template!r}; valid templates: {', '.join(TEMPLATES)}."
    if problem:
        return _error(400, problem)
    key = f"/e/{slug}" + (f"?template={template}" if template else "")

    def render() -> Entry:
        story = _lookup(slug)
        if story is None:
            return _not_found_entry()
        if story.slug != slug:
            suffix = f"?template={template}" if template else ""
            return _redirect_entry(f"/e/{story.slug}{suffix}")
        posts = posts_repo.list_published(story.id, EMBED_POST_LIMIT)
        rendered = render_embed(story, posts, template or story.default_template)
        headers = _common_headers(b"text/html; charset=utf-8", rendered.csp.encode())
        return Entry.build(200, headers, rendered.body,
                           story_id=str(story.id), version=story.version)

    return _cached(request, key, render)


embed = _read_view(_embed)


# ---- /s/<slug> ---------------------------------------------------------------


def _story_page(request: HttpRequest, slug: str) -> HttpResponse:
    # Shared links carry tracking parameters; the page ignores them all.
    key = f"/s/{slug}"

    def render() -> Entry:
        story = _lookup(slug)
        if story is None:
            return _not_found_entry()
        if story.slug != slug:
            return _redirect_entry(f"/s/{story.slug}")
        posts = posts_repo.list_published(story.id, EMBED_POST_LIMIT)
        html = engines["jinja2"].get_template("story/page.html").render(
            {"story": story, "posts": posts, "now": datetime.now(UTC)}
        )
        csp = b"default-src 'none'; style-src 'self'; img-src 'self' https: data:; " \
              b"script-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers = _common_headers(b"text/html; charset=utf-8", csp)
        return Entry.build(200, headers, html.encode(), story_id=str(story.id),
                           version=story.version)

    return _cached(request, key, render)


story_page = _read_view(_story_page)


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
            "theme": {"accent": story.theme.accent, "background": story.theme.background,
                      "font": story.theme.font, "mode": story.theme.mode},
            "url": f"/s/{story.slug}",
            "embed_url": f"/e/{story.slug}",
            "updated_at": _iso(story.updated_at),
        },
        "posts": [
            {
                "id": str(p.id),
                "source": p.source,
                "external_id": p.external_id,
                "author": {"name": p.author.name, "handle": p.author.handle,
                           "avatar_url": p.author.avatar_url,
                           "profile_url": p.author.profile_url},
                "text": p.text,
                "html": str(post_html(p)),
                "entities": [{"kind": e.kind, "start": e.start, "end": e.end, "href": e.href}
                             for e in p.entities],
                "media": [{"type": m.type, "url": m.url, "width": m.width,
                           "height": m.height, "alt": m.alt} for m in p.media],
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


def _story_api(request: HttpRequest, slug: str) -> HttpResponse:
    key = f"/api/v1/stories/{slug}"

    def render() -> Entry:
        story = _lookup(slug)
        if story is None:
            return _json_entry(404, {"error": "not_found", "message": "No such story."})
        if story.slug != slug:
            return _redirect_entry(f"/api/v1/stories/{story.slug}")
        posts = posts_repo.list_published(story.id, EMBED_POST_LIMIT)
        return _json_entry(200, story_json(story, posts), story_id=str(story.id),
                           version=story.version)

    return _cached(request, key, render)


story_api = _read_view(_story_api)
