"""Rendering a story into an embed document (read path, on a cache miss only).

The embed's CSS and its small script are inlined (one request per embed, no
render-blocking fetch), and the Content-Security-Policy allows exactly those
blocks by their SHA-256 hashes: no nonces, because responses are shared by
every viewer through the caches.

Live stories and every big screen also carry `live.js` (and `live.css`): the
document names its story, version and build on `<html>`, and the script polls
`/live/<slug>` to fetch the document again only when the version moved
(`samembed.embed.live`). Screens add `screen.js` (spotlight, remote controls).
Every other template carries `pager.js` (and `pager.css`): the "Show more"
button that appends the next page's cards inside the frame, and the "more
below" cue of a frame the publisher bounded with `data-max-height`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path

import rjsmin
import segno
from django.conf import settings
from django.template import engines
from markupsafe import Markup

from samembed.embed.i18n import strings
from samembed.repositories.posts import Post
from samembed.repositories.stories import TEMPLATES, Story

STATIC_EMBED = Path(settings.BASE_DIR) / "static" / "embed"
FONT_STACKS = {
    "system": 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif',
    "serif": 'Georgia, "Iowan Old Style", "Noto Serif", serif',
    "rounded": 'ui-rounded, "SF Pro Rounded", "Nunito", system-ui, sans-serif',
    "mono": 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
}
# How many posts the studio's preview shows (embeds show pages: embed.paging).
EMBED_POST_LIMIT = 50


@dataclass(frozen=True)
class Rendered:
    body: bytes
    csp: str


@cache
def _asset(name: str) -> str:
    # Read (and the script minified) once per process: never a file read per render
    # outside DEBUG. Inlined in every embed, so every byte is sent millions of times.
    text = (STATIC_EMBED / name).read_text(encoding="utf-8")
    return rjsmin.jsmin(text) if name.endswith(".js") else text


def is_live(story: Story, template: str) -> bool:
    """Whether the document follows its story's version. Screens always do, so a
    screen set up before the event starts picks up the story going live."""
    return story.live or template == "screen"


@dataclass(frozen=True)
class Assets:
    style: str
    script: str
    style_hash: str
    script_hash: str
    # Names the shipped CSS and script: an open screen reloads when a deploy changed
    # them, rather than running old code against new markup.
    build: str


@cache
def _bundle(template: str, live: bool) -> Assets:
    # Once per (template, live) and process: hashing 30 KB of CSS and script three
    # times was part of every cold render.
    styles = ["base.css", f"{template}.css"] + (["live.css"] if live else [])
    scripts = ["frame.js"] + (["live.js"] if live else [])
    if template == "screen":
        scripts.append("screen.js")
    else:
        styles.append("pager.css")
        scripts.append("pager.js")
    style = "\n".join(_asset(n) for n in styles)
    script = "\n".join(_asset(n) for n in scripts)
    return Assets(style, script, csp_hash(style), csp_hash(script),
                  hashlib.sha256((style + script).encode()).hexdigest()[:12])


def _assets(template: str, live: bool) -> Assets:
    if settings.DEBUG:
        _asset.cache_clear()
        _bundle.cache_clear()
    return _bundle(template, live)


@lru_cache(maxsize=512)
def qr_svg(url: str) -> str:
    """The URL as an inline SVG QR code (black modules on no background: the
    screen's CSS puts it on white, with a quiet zone, so phones read it)."""
    code = segno.make_qr(url, error="m")  # not Micro QR: phones cannot read those
    return code.svg_inline(border=0, svgclass="qr", lineclass=None, omitsize=True,
                           dark="#000")


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def theme_css(story: Story) -> str:
    theme = story.theme
    font = FONT_STACKS.get(theme.font, FONT_STACKS["system"])
    rules = [f"--accent:{theme.accent}", f"--font:{font}"]
    if theme.background:
        rules.append(f"--bg:{theme.background}")
    return ":root{" + ";".join(rules) + "}"


def frame_ancestors(story: Story) -> str:
    if not story.allowed_domains:
        return "*"
    return " ".join(f"https://{d} http://{d}" for d in story.allowed_domains)


def render_embed(story: Story, posts: list[Post], template: str,
                 ancestors: str | None = None, origin: str = "",
                 follow: bool = True, more_url: str | None = None,
                 story_more_url: str | None = None) -> Rendered:
    """The embed document; `ancestors` overrides who may frame it (the studio's
    preview allows only itself); `origin` (https://host) makes the screen's QR code
    absolute when PUBLIC_ORIGIN is not set; `follow=False` leaves out live updates
    (the preview is reloaded by the editor instead); `more_url`, the next page's
    embed document, makes a "Show more" button (`story_more_url`: the same page
    on the story's own page, for readers without script)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    live = follow and is_live(story, template)
    assets = _assets(template, live)
    theme = theme_css(story)
    public_url = f"{settings.PUBLIC_ORIGIN or origin}/s/{story.slug}"
    html = engines["jinja2"].get_template(f"embed/{template}.html").render(
        {
            "story": story,
            "t": strings(None),
            "posts": posts,
            "template": template,
            "now": datetime.now(UTC),
            "story_url": f"/s/{story.slug}",
            "style": Markup(assets.style),  # noqa: S704 - our own shipped CSS
            "theme_style": Markup(theme),  # noqa: S704 - built from validated theme fields
            "script": Markup(assets.script),  # noqa: S704 - our own shipped JS
            "live": live,
            "build": assets.build,
            "poll_ms": int(settings.LIVE_POLL_INTERVAL * 1000),
            "public_url": public_url,
            "qr": Markup(qr_svg(public_url)) if template == "screen" else "",  # noqa: S704
            "more_url": more_url,
            "story_more_url": story_more_url,
        }
    )
    csp = "; ".join(
        [
            "default-src 'none'",
            f"style-src {assets.style_hash} {csp_hash(theme)}",
            f"script-src {assets.script_hash}",
            "img-src 'self' https: data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors or frame_ancestors(story)}",
        ]
    )
    return Rendered(html.encode("utf-8"), csp)
