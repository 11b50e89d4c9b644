"""Public read-path views: `/e/<slug>`, `/screen/<slug>`, `/s/<slug>`,
`/api/v1/stories/<slug>` (the live version endpoint is in `live.py`).

Each view validates the request, derives the canonical cache key and asks the
response cache for it; a cache miss renders from the repositories. Views that
show posts show one page of them (`limit`, `after`: see `samembed.embed.paging`);
each page is a cache entry of its own, under a key that keeps only the
parameters the view knows, in canonical form (unknown ones are ignored, so
tracking parameters never make extra entries). Whatever the
outcome (200, a 301 for a renamed story, a 404), the response is a cache
`Entry`, so the next identical request is answered by the ASGI fast path from
memory. These views only see the requests the fast path could not answer.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from html import escape as html_escape
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template import engines
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from markupsafe import Markup

from samembed import flags, metrics
from samembed.embed import guard, paging
from samembed.embed.cache import Entry, Header, query_suffix, response_cache
from samembed.embed.i18n import DEFAULT, language, language_for
from samembed.embed.paging import BadPage, Cursor
from samembed.embed.render import cards, csp_hash, render_embed, theme_css
from samembed.embed.story_page import head as story_head
from samembed.exceptions import DatabaseUnavailable
from samembed.media.signing import media_src
from samembed.observability import Timing, record_read
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Post
from samembed.repositories.stories import TEMPLATES, THEME_MODES, Story
from samembed.text import post_html

logger = logging.getLogger(__name__)

# Path segments longer than any slug we ever issue are refused before any lookup.
SLUG_PATH_MAX = 200
ORIGIN_UNIT = re.compile(r"[0-9a-z]{1,7}")

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
        request.META.get("HTTP_IF_MODIFIED_SINCE", "").encode("latin-1") or None,
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


def _known_params(request: HttpRequest, known: tuple[str, ...]) -> dict[str, str]:
    """The known parameters of the query, each given once; others are ignored (pages
    that embed us add tracking parameters). BadPage for a repeated known one."""
    found: dict[str, str] = {}
    for name in known:
        values = request.GET.getlist(name)
        if len(values) > 1:
            shown = ", ".join(repr(v[:40]) for v in values[:4])
            raise BadPage(f"Query parameter {name!r} is given {len(values)} times ({shown}); "
                          "give it once.")
        if values:
            found[name] = values[0]
    return found


@dataclass(frozen=True)
class PageRequest:
    """The page a request asks for: `limit` None means the template's default."""

    limit: int | None = None
    cursor: Cursor | None = None
    after: str | None = None


@dataclass(frozen=True)
class Page:
    """The posts of one page and the cursor of the next one (None: the last page)."""

    posts: list[Post]
    next: str | None = None


def _page_request(params: dict[str, str], default: int | None) -> PageRequest:
    """`limit` and `after` from the query, checked before any lookup. `default` is the
    named template's page size: asking for it explicitly makes no entry of its own."""
    limit = None
    if "limit" in params:
        limit = paging.parse_limit(params["limit"], 0)
        if limit == default:
            limit = None
    after = params.get("after")
    cursor = paging.decode(after) if after is not None else None
    return PageRequest(limit, cursor, after)


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
        except BadPage as e:
            return _error(400, str(e))
        except DatabaseUnavailable as e:
            logger.warning("database unavailable: %s", e)
            return _unavailable()

    return view


def _redirect_entry(location: str) -> Entry:
    headers = _common_headers(b"text/plain; charset=utf-8")
    headers.append((b"location", quote(location, safe="/?=&").encode()))
    return Entry.build(301, headers, b"", etag=False)


# The 404 document of an embed tells the loader its height, so the frame shrinks
# to its one line instead of leaving the reserved box blank.
NOT_FOUND_SCRIPT = (
    "(function(){var m=/[#&]samembed=([^&]*)/.exec(location.hash);if(!m)return;"
    "function s(){parent.postMessage({type:'samembed:resize',id:decodeURIComponent(m[1]),"
    "height:Math.ceil(document.documentElement.getBoundingClientRect().height)},'*')}"
    "s();addEventListener('resize',s)})();"
)
# The frame is transparent on a page whose colours we cannot know: this grey reads
# at 4.5:1 on white and on black alike, and the link is told apart by its underline.
NOT_FOUND_CSS = (
    "body{margin:0;font:15px/1.4 system-ui,sans-serif;color:#767676;background:transparent}"
    "main{padding:10px 2px}h1{display:inline;margin:0;font:inherit}"
    "a{color:inherit;text-decoration:underline}"
)


def _not_found_entry(slug: str | None = None, story: Story | None = None) -> Entry:
    """The small 404 document of an embed: one line, with a link to the story's page
    when the slug could name one (a story still in draft will be there); in the
    language of that draft when there is one."""
    lang = language(story.language) if story and story.language else language(DEFAULT)
    t = lang.t
    link = (f' <a href="/s/{quote(slug)}" target="_blank" rel="noopener">'
            f"{html_escape(t['open_story_page'])}</a>") if slug else ""
    body = (
        f'<!doctype html><html lang="{lang.tag}" dir="{lang.dir}"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html_escape(t['not_available'])}</title><style>{NOT_FOUND_CSS}</style>"
        f"<main><h1>{html_escape(t['not_available'])}</h1>{link}</main>"
        f"<script>{NOT_FOUND_SCRIPT}</script></html>"
    ).encode()
    csp = (f"default-src 'none'; style-src {csp_hash(NOT_FOUND_CSS)}; "
           f"script-src {csp_hash(NOT_FOUND_SCRIPT)}; frame-ancestors *").encode()
    return Entry.build(404, _common_headers(b"text/html; charset=utf-8", csp), body)


def _cached(
    request: HttpRequest,
    slug: str,
    prefix: str,
    not_found: Callable[[Story | None], Entry],
    build: Callable[[Story, Page], Entry],
    suffix: str = "",
    with_posts: bool = True,
    page: PageRequest = PageRequest(),
    page_size: Callable[[Story], int] = lambda story: paging.PAGE_DEFAULT,
    follow_renames: bool = False,
) -> Entry:
    """The cached answer for `<prefix><slug><suffix>`: 404, 301 to the story's
    current slug, or `build` (given one page of the published posts, `page` of
    `page_size(story)` posts unless it names its limit, or none if `with_posts` is
    false; `follow_renames`: built for an old slug too, not redirected); rendered
    at most once at a time per process. Every story URL of the
    read path comes through here, so its timings reach Server-Timing and /metrics.
    A cursor issued for another story raises BadPage and caches nothing."""

    timing = Timing()

    def render() -> Entry:
        timing.cache = "miss"
        started = time.perf_counter()
        story = stories_repo.get_by_slug(slug)
        if story is not None and story.is_public and (story.slug == slug or follow_renames):
            result = Page([])
            if with_posts:
                paging.check_story(page.cursor, story.id)
                limit = page.limit or page_size(story)
                position = page.cursor.position if page.cursor else None
                posts, more = posts_repo.list_page(
                    story.id, (position.pinned, position.rank, position.id)
                    if position else None, limit)
                result = Page(posts, _next_cursor(story, posts) if more else None)
            fetched = time.perf_counter()
            timing.db = fetched - started
            entry = build(story, result)
            timing.render = time.perf_counter() - fetched
        else:
            timing.db = time.perf_counter() - started
            entry = (not_found(story) if story is None or not story.is_public
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


def _next_cursor(story: Story, posts: list[Post]) -> str | None:
    last = posts[-1] if posts else None
    if last is None or last.id is None:
        return None
    return paging.encode(story.id, paging.Position(last.pinned, float(last.sort_rank), last.id))


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


def _story_id(slug: str, snap: flags.Snapshot) -> str | None:
    """The id of the story at `slug`, when a flag of `snap` is sticky on it or allows
    it by id (samembed.flags.learn_story: a miss the fast path left to us)."""
    return flags.learn_story(slug) if snap.by_story_id else None


def _with_origin(url: str, origin_unit: str | None) -> str:
    """A link of the frame's own, still naming the embedding origin (`o`, last)."""
    if origin_unit is None:
        return url
    return f"{url}{'&' if '?' in url else '?'}o={origin_unit}"


def _document(request: HttpRequest, slug: str, prefix: str, template: str | None,
              page: PageRequest, asked: int | None, theme: str | None = None,
              origin_unit: str | None = None,
              snap: flags.Snapshot | None = None) -> HttpResponse:
    origin = _origin(request)
    suffix = query_suffix(template if prefix == "/e/" else None, page.limit, page.after, theme)
    # The variants this story and origin get: part of the key, never the origin itself.
    # One snapshot for the whole request (`snap`, the one the view judged it by): the
    # watch may install another while the story is read, and an entry keyed on one
    # snapshot's variants must not name another's flags.
    snap = snap or flags.current()
    variants = flags.embed_variants(slug, origin_unit, _story_id(slug, snap), snap) \
        if prefix == "/e/" else {}
    suffix += flags.key_suffix(variants)
    if prefix == "/e/":
        # The fast path counts the hits it answers; every request it left to us
        # (a miss, a URL it does not know, a slug whose id it lacks) counts here.
        guard.exposed(variants, metrics.app)

    def build(story: Story, result: Page) -> Entry:
        flags.remember_story(story.slug, str(story.id))
        shown = template or story.default_template
        if theme is not None:
            # The publisher's page is light or dark: the story's colours, that mode.
            story = story.in_mode(theme)
        more_url = None
        if result.next and shown in paging.PAGED_TEMPLATES:
            more_url = _with_origin(prefix + quote(story.slug) + query_suffix(
                template, page.limit, result.next, theme), origin_unit)
        began = time.perf_counter()
        try:
            rendered = render_embed(
                story, result.posts, shown, origin=origin, more_url=more_url,
                variants=variants, snap=snap,
                story_more_url=f"/s/{quote(story.slug)}?after={result.next}"
                if more_url else None)
        except Exception:
            # A new template that breaks must show in its flag's guardrail counts.
            guard.failed(variants)
            raise
        # Render time per variant, where the render runs: a new template's cost shows.
        guard.rendered(variants, time.perf_counter() - began)
        headers = _common_headers(b"text/html; charset=utf-8", rendered.csp.encode())
        # Live embeds are sandboxed frames (an opaque origin) that fetch their own
        # next version and next pages: they need CORS to read them. The content is
        # public anyway.
        headers.append((b"access-control-allow-origin", b"*"))
        return Entry.build(200, headers, rendered.body,
                           story_id=str(story.id), version=story.version)

    def not_found(story: Story | None) -> Entry:
        if prefix == "/screen/":
            return _waiting_entry(slug, story)
        return _not_found_entry(slug, story)

    entry = _cached(request, slug, prefix, not_found, build, suffix, page=page,
                    page_size=lambda story: paging.default_limit(
                        template or story.default_template))
    response = entry_response(entry, request)
    if asked is not None and entry.story_id is not None and (entry.version or 0) < asked:
        # This process has not seen that version yet: a CDN must not keep this
        # copy under the URL that names the new version (the page asks again).
        response["Cache-Control"] = "no-store"
    return response


EMBED_PARAMS = ("template", "theme", "limit", "after", "o", "v", "f")


def _embed(request: HttpRequest, slug: str) -> HttpResponse:
    # Unknown parameters are ignored, as on /s/: only bad values of ours are a 400.
    params = _known_params(request, EMBED_PARAMS)
    template = params.get("template")
    if template is not None:
        template = template.lower()
        if template not in TEMPLATES:
            return _error(400, f"Unknown template {params['template'][:40]!r}; "
                               f"valid templates: {', '.join(TEMPLATES)}.")
    theme = params.get("theme")
    if theme is not None:
        theme = theme.lower()
        if theme not in THEME_MODES:
            return _error(400, f"Unknown theme {params['theme'][:40]!r}; "
                               f"valid themes: {', '.join(THEME_MODES)}.")
    page = _page_request(params, paging.default_limit(template) if template else None)
    asked, bad_version = _asked_version(request)
    if bad_version:
        return _error(400, bad_version)
    origin_unit = params.get("o")
    if origin_unit is not None and not ORIGIN_UNIT.fullmatch(origin_unit):
        return _error(400, f"Query parameter 'o' is the embedding page's origin as the "
                           f"loader writes it (1 to 7 of 0-9 a-z), not {origin_unit[:40]!r}.")
    asked_flags = params.get("f")
    snap = flags.current()
    if asked_flags is not None and asked_flags != snap.epoch:
        # A live embed asking again after the flags moved (live.js): this process has
        # not seen that state yet, so its copy may be the old variant; it asks /live/
        # again and comes back.
        return _error(409, f"This server has not seen the flags' state {asked_flags[:20]!r} "
                           "yet; ask again shortly.")
    return _document(request, slug, "/e/", template, page, asked, theme, origin_unit, snap)


embed = _read_view(_embed, _not_found_entry)


def _screen(request: HttpRequest, slug: str) -> HttpResponse:
    """The big screen at its own URL: the screen template as a whole page."""
    asked, problem = _asked_version(request)
    problem = _check_query(request, ("v",)) or problem
    if problem:
        return _error(400, problem)
    return _document(request, slug, "/screen/", "screen", PageRequest(), asked)


# The big screen of a story that is not (yet) published: a calm card that looks
# for the story every LIVE_POLL_INTERVAL and starts the screen by itself when it
# is there (a TV set up before the event has no one to press reload).
WAITING_CSS = (
    "html,body{height:100%;margin:0}body{display:grid;place-items:center;background:#0b0f16;"
    "color:#e8edf4;font:clamp(18px,2.2vw,44px)/1.4 system-ui,sans-serif;cursor:none}"
    "main{max-width:36em;padding:1.2em 1.6em;border:1px solid #262f3d;border-radius:.6em;"
    "background:#151b25;text-align:center}h1{margin:0 0 .3em;font-size:1.4em;font-weight:650}"
    "p{margin:0;color:#98a3b3}"
)
WAITING_SCRIPT = (
    "(function(){var r=document.documentElement,u='/live/'+r.getAttribute('data-waiting'),"
    "t=+r.getAttribute('data-poll')||1000,n=0;function look(){fetch(u,{credentials:'omit',"
    "cache:'no-store'}).then(function(x){if(x.ok){location.reload();return}n=0;"
    "setTimeout(look,t)}).catch(function(){n++;setTimeout(look,Math.min(30000,t*Math.pow(2,n)))})}"
    "setTimeout(look,t)})();"
)


def _waiting_entry(slug: str, story: Story | None = None) -> Entry:
    """The screen of a story that does not exist or is not published yet, in the
    language of the draft when there is one (its title stays private: the slug
    names it)."""
    poll_ms = int(settings.LIVE_POLL_INTERVAL * 1000)
    lang = language(story.language) if story and story.language else language(DEFAULT)
    t = lang.t
    name = html_escape(slug)
    waiting = html_escape(t["waiting_for"])
    heading = waiting.replace("{name}", f'<span dir="auto">{name}</span>')
    body = (
        f'<!doctype html><html lang="{lang.tag}" dir="{lang.dir}" '
        f'data-waiting="{html_escape(quote(slug))}" '
        f'data-poll="{poll_ms}"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{waiting.replace('{name}', name)}</title><style>{WAITING_CSS}</style>"
        f"<main><h1>{heading}</h1>"
        f"<p>{html_escape(t['waiting_body'])}</p></main>"
        f"<script>{WAITING_SCRIPT}</script></html>"
    ).encode()
    csp = (f"default-src 'none'; style-src {csp_hash(WAITING_CSS)}; "
           f"script-src {csp_hash(WAITING_SCRIPT)}; connect-src 'self'; "
           "frame-ancestors *").encode()
    return Entry.build(404, _common_headers(b"text/html; charset=utf-8", csp), body)


screen = _read_view(_screen, _not_found_entry)


# ---- /s/<slug> ---------------------------------------------------------------

STORY_PAGE_CSP = (
    "default-src 'none'; style-src 'self' {theme}; img-src 'self' https: data:; "
    "script-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _build_story_page(story: Story, result: Page, first_url: str | None,
                      origin: str = "") -> Entry:
    # The head (canonical URL, preview tags, JSON-LD) and the story's language and
    # theme, shared with the embed: samembed.embed.story_page.
    posts = result.posts
    language = language_for(story.language, (p.lang for p in posts))
    theme = theme_css(story)
    base = f"/s/{quote(story.slug)}"
    html = engines["jinja2"].get_template("story/page.html").render(
        {"story": story, "posts": posts,
         "cards": list(zip(posts, cards(posts, "list"), strict=True)),
         "now": datetime.now(UTC), "t": language.t,
         "lang": language, "head": story_head(story, posts, settings.PUBLIC_ORIGIN or origin,
                                              language),
         "next_url": f"{base}?after={result.next}" if result.next else None,
         "first_url": first_url,
         "theme_style": Markup(theme)}  # noqa: S704 - built from validated theme fields
    )
    csp = STORY_PAGE_CSP.format(theme=csp_hash(theme)).encode()
    headers = _common_headers(b"text/html; charset=utf-8", csp)
    if story.status == "archived":
        # Still readable where it was shared, but no longer offered to searchers.
        headers.append((b"x-robots-tag", b"noindex"))
    return Entry.build(200, headers, html.encode(), story_id=str(story.id),
                       version=story.version)


def _story_page(request: HttpRequest, slug: str) -> HttpResponse:
    # Shared links carry tracking parameters; the page ignores all but its cursor.
    page = _page_request(_known_params(request, ("after",)), paging.PAGE_DEFAULT)
    origin = _origin(request)

    def build(story: Story, result: Page) -> Entry:
        first = f"/s/{quote(story.slug)}" if page.after else None
        return _build_story_page(story, result, first, origin)

    return entry_response(
        _cached(request, slug, "/s/", lambda story: _not_found_entry(None, story), build,
                query_suffix(after=page.after),
                page=page), request)


story_page = _read_view(_story_page, _not_found_entry)


# ---- /api/v1/stories/<slug> -----------------------------------------------------


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def story_json(story: Story, posts: list[Post], next_url: str | None = None
               ) -> dict[str, Any]:
    """The API's document: the story, one page of its posts and the next page's URL."""
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
        "next": next_url,
    }


def _json_entry(status: int, payload: dict[str, Any], **extra: Any) -> Entry:
    headers = _common_headers(b"application/json", b"default-src 'none'; frame-ancestors 'none'")
    headers.append((b"access-control-allow-origin", b"*"))
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Entry.build(status, headers, body, **extra)


def _json_not_found() -> Entry:
    return _json_entry(404, {"error": "not_found", "message": "No such story."})


def _story_api(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        page = _page_request(_known_params(request, ("limit", "after")), paging.PAGE_DEFAULT)
    except BadPage as e:
        return _json_error(400, str(e))

    def build(story: Story, result: Page) -> Entry:
        next_url = None
        if result.next:
            next_url = (f"/api/v1/stories/{quote(story.slug)}"
                        + query_suffix(limit=page.limit, after=result.next))
        return _json_entry(200, story_json(story, result.posts, next_url),
                           story_id=str(story.id), version=story.version)

    try:
        entry = _cached(request, slug, "/api/v1/stories/", lambda _: _json_not_found(), build,
                        query_suffix(limit=page.limit, after=page.after), page=page)
    except BadPage as e:
        return _json_error(400, str(e))
    return entry_response(entry, request)


def _json_error(status: int, message: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps({"error": "bad_request", "message": message}, ensure_ascii=False),
        status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["Access-Control-Allow-Origin"] = "*"
    return response


story_api = _read_view(_story_api, _json_not_found)
