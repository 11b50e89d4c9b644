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
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path

import rjsmin
import segno
from django.conf import settings
from django.template import engines
from markupsafe import Markup

from samembed import flags
from samembed.analytics import tokens
from samembed.embed.discovery import oembed_links
from samembed.embed.i18n import language_for
from samembed.media.signing import (
    SRCSET_PRESETS,
    STORED_PREFIX,
    media_src,
    media_srcset,
    signed_url,
)
from samembed.repositories.posts import Media, Post
from samembed.repositories.stories import TEMPLATES, Story
from samembed.text import exact_time, iso_time, post_html, safe_href

STATIC_EMBED = Path(settings.BASE_DIR) / "static" / "embed"
FONT_STACKS = {
    "system": 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif',
    "serif": 'Georgia, "Iowan Old Style", "Noto Serif", serif',
    "rounded": 'ui-rounded, "SF Pro Rounded", "Nunito", system-ui, sans-serif',
    "mono": 'ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace',
}


# ---- cards: what the `card` macro of templates/embed/_post.html shows ---------------

# A source's name and the key of its "View on …" words in the strings table.
SOURCES = {
    "mastodon": ("Mastodon", "view_on_mastodon"),
    "bluesky": ("Bluesky", "view_on_bluesky"),
    "rss": ("RSS", "read_article"),
    "push": ("Post", "view_original"),
    "import": ("Imported", "view_original"),
    "manual": ("Note", "view_original"),
}
AVATAR_COLOURS = 6
# Card geometry the `sizes` below follow (base.css and the templates' CSS): the
# body's padding, the gap between cards, a card's padding plus border, the
# grid's narrowest column and the carousel's slide.
BODY_PAD, GAP, CARD_PAD, GRID_COLUMN, SLIDE = 12, 12, 34, 280, 320
MEDIA_GAP = 3
GRID_MAX_COLUMNS = 8


def _grid_columns(width: float, posts: int) -> int:
    """Columns of the grid at a frame `width` (masonry.js and grid.css count alike)."""
    fit = int((width - 2 * BODY_PAD + GAP) // (GRID_COLUMN + GAP))
    return max(1, min(fit, posts))


# `sizes` names three quarters of the width shown: the standard widths are a
# factor of two apart and browsers take the first at least as dense as the
# screen, so every picture then arrives at 0.75 to 1.5 times its shown pixels.
SIZES_SHARE = 0.75


def _width(vw: float, px: float, parts: int) -> str:
    # One of `parts` pictures side by side in a block `vw` + `px` wide, as `sizes` says it.
    vw, px = vw / parts, (px - (parts - 1) * MEDIA_GAP) / parts
    vw, px = round(vw * SIZES_SHARE, 1), round(px * SIZES_SHARE)
    if not vw:
        return f"{px}px"
    if not px:
        return f"{vw:g}vw"
    return f"calc({vw:g}vw {'-' if px < 0 else '+'} {abs(px)}px)"


@lru_cache(maxsize=256)
def slot_sizes(template: str, posts: int, parts: int = 1) -> str:
    """`sizes` for one of `parts` pictures side by side in a card's media block in
    `template` (a `posts`-card grid has as many columns as fit, no more than its
    cards)."""
    if template == "list":
        return (f"(min-width: {640 + 2 * BODY_PAD}px) {_width(0, 640 - 38, parts)}, "
                f"{_width(100, -(2 * BODY_PAD + CARD_PAD), parts)}")
    if template == "carousel":
        return (f"(min-width: {round(SLIDE / 0.86) + 2 * BODY_PAD}px) "
                f"{_width(0, SLIDE - CARD_PAD, parts)}, "
                f"{_width(86, -(0.86 * 2 * BODY_PAD + CARD_PAD), parts)}")
    if template == "screen":
        # Photo-led cards: the picture is as wide as the card, a third or a quarter
        # of the screen (screen.js widens it for the spotlight).
        return f"(min-aspect-ratio: 2/1) {_width(24, 0, parts)}, {_width(31, 0, parts)}"
    rules = []
    if template == "grid":
        for cols in range(min(posts, GRID_MAX_COLUMNS), 1, -1):
            at = cols * (GRID_COLUMN + GAP) - GAP + 2 * BODY_PAD
            inner = (2 * BODY_PAD + (cols - 1) * GAP) / cols + CARD_PAD
            rules.append(f"(min-width: {at}px) {_width(100 / cols, -inner, parts)}")
    return ", ".join([*rules, _width(100, -(2 * BODY_PAD + CARD_PAD), parts)])


@dataclass(frozen=True)
class CardMedia:
    kind: str  # "image", "video" (poster + play) or "gif" (a muted loop)
    src: str  # the JPEG fallback, a video's poster; "" when it has none
    srcset: str
    sizes: str
    width: int | None
    height: int | None
    alt: str
    zoom: str  # the large picture the lightbox (or, without script, a new tab) shows
    play: str  # a video's file, "" when the source gave none
    href: str  # where a video without a file plays: the post at its source


@dataclass(frozen=True)
class Card:
    """One post as every template shows it, built once per post and template."""

    id: str
    source: str
    source_name: str
    via: str  # the strings-table key of the "View on …" link
    icon: str
    classes: str
    name: str
    handle: str
    profile: str | None
    initial: str
    colour: int
    avatar: str  # JPEG fallback
    avatar_webp: str  # srcset
    text: Markup
    lang: str | None
    media: tuple[CardMedia, ...]
    permalink: str | None
    posted_at: datetime
    iso: str
    exact: str
    pinned: bool
    warning: str  # the content warning ("" when none)
    sensitive: bool  # media hidden until shown (blurred), with or without a warning
    screen_warning: bool  # a big screen shows the warning only


def _avatar(url: str | None, template: str) -> tuple[str, str]:
    # (JPEG fallback, WebP srcset) at about the shown size per screen density: 40 px
    # in embeds, about 70 px on a big screen.
    if not url:
        return "", ""
    if not url.startswith(STORED_PREFIX):
        return url, ""
    key = url[len(STORED_PREFIX):]
    if template == "screen":
        return signed_url(key, "avatar96", "jpg"), signed_url(key, "avatar96")
    return (signed_url(key, "avatar48", "jpg"),
            f"{signed_url(key, 'avatar48')} 1x, {signed_url(key, 'avatar96')} 2x")


def _media(m: Media, sizes: str, permalink: str | None,
           presets: tuple[str, ...] = SRCSET_PRESETS) -> CardMedia:
    kind = "image" if m.type == "image" else "gif" if m.loop and m.play_url else "video"
    stored = m.url.startswith(STORED_PREFIX)
    zoom = media_src(m.url, "large") if stored else (safe_href(m.url) or "")
    return CardMedia(
        kind=kind, src=media_src(m.url) if m.url else "", srcset=media_srcset(m.url, presets),
        sizes=sizes, width=m.width, height=m.height, alt=m.alt, zoom=zoom,
        play=safe_href(m.play_url) or "", href=permalink or "")


@lru_cache(maxsize=8192)
def card(post: Post, template: str, posts: int = 1,
         presets: tuple[str, ...] = SRCSET_PRESETS) -> Card:
    """The card of `post` in `template` (`posts`: how many cards the page shows;
    `presets`: the image widths its srcsets offer)."""
    name, via = SOURCES.get(post.source, ("Post", "view_original"))
    a = post.author
    initial = (a.name.strip()[:1] or "?").upper()
    handle = a.handle or ""
    if handle and post.source in ("mastodon", "bluesky") and not handle.startswith("@"):
        handle = "@" + handle
    permalink = safe_href(post.permalink)
    shown = post.media[:4] if template != "ticker" else ()
    items = []
    for i, m in enumerate(shown):
        # Three pictures: the first spans the row, the others share the next one.
        halves = 1 if len(shown) == 1 or (len(shown) == 3 and i == 0) else 2
        items.append(_media(m, slot_sizes(template, posts, halves), permalink, presets))
    warning = post.content_warning.strip()
    avatar, avatar_webp = _avatar(a.avatar_url, template)
    classes = "post" + (" pinned" if post.pinned else "") + (" hl" if post.highlighted else "") \
        + (" photo" if items and template != "ticker" else "")
    return Card(
        id=str(post.id), source=post.source, source_name=name, via=via,
        icon="push" if post.source == "import" else post.source, classes=classes,
        name=a.name, handle=handle, profile=safe_href(a.profile_url), initial=initial,
        colour=(len(a.name) + "abcdefghijklmnopqrstuvwxyz".find(initial.lower())) % AVATAR_COLOURS,
        avatar=avatar, avatar_webp=avatar_webp,
        text=post_html(post), lang=post.lang, media=tuple(items), permalink=permalink,
        posted_at=post.posted_at, iso=iso_time(post.posted_at), exact=exact_time(post.posted_at),
        pinned=post.pinned, warning=warning,
        sensitive=bool(items) and (post.sensitive or bool(warning)),
        screen_warning=bool(warning) and not post.show_on_screens)


def cards(posts: list[Post], template: str,
          presets: tuple[str, ...] = SRCSET_PRESETS) -> list[Card]:
    """The cards of a page of `posts` in `template`."""
    return [card(p, template, len(posts), presets) for p in posts]


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
    else:  # warnings, media, lightbox, keyboard, pages: a screen has no one to use them
        scripts.append("cards.js")
        styles.append("pager.css")
        scripts.append("pager.js")
        # Last: it counts the cards the others have set up (a screen has no readers to count).
        scripts.append("analytics.js")
    if template == "grid":
        scripts.append("masonry.js")
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


# A template's next version, behind a flag of its own, so both run side by side:
# template -> (flag, file). Any variant but "off" renders the new file.
TEMPLATE_FLAGS = {"grid": (flags.affects_embed("grid-v2"), "embed/grid_v2.html")}


# A server-side change behind a flag: a 1920 px image preset in every srcset, for
# wide screens and dense displays (the image server derives it on first demand).
IMAGE_FLAG = flags.affects_embed("img-xlarge")
XLARGE_PRESETS = (*SRCSET_PRESETS, "xlarge")


def template_file(template: str, variants: Mapping[str, str]) -> str:
    """The file that renders `template` for these flag variants."""
    flagged = TEMPLATE_FLAGS.get(template)
    if flagged is not None and variants.get(flagged[0], flags.OFF) != flags.OFF:
        return flagged[1]
    return f"embed/{template}.html"


def stats_variant(variants: Mapping[str, str] | None) -> str:
    """The rollout variants a render is for, as the analytics token names them
    ("" for none): `flag-variant` of each flag not off, within the token's alphabet."""
    label = "_".join(f"{k}-{v}" for k, v in sorted((variants or {}).items()) if v != flags.OFF)
    return re.sub(r"[^a-z0-9_-]", "", label.lower())[:32]


def render_embed(story: Story, posts: list[Post], template: str,
                 ancestors: str | None = None, origin: str = "",
                 follow: bool = True, more_url: str | None = None,
                 story_more_url: str | None = None,
                 variants: Mapping[str, str] | None = None, counted: bool = True,
                 snap: flags.Snapshot | None = None) -> Rendered:
    """The embed document; `ancestors` overrides who may frame it (the studio's
    preview allows only itself); `origin` (https://host) makes the screen's QR code
    absolute when PUBLIC_ORIGIN is not set; `follow=False` leaves out live updates
    (the preview is reloaded by the editor instead); `more_url`, the next page's
    embed document, makes a "Show more" button (`story_more_url`: the same page
    on the story's own page, for readers without script); `variants`, the flags'
    variants this render is for (samembed.flags.embed_variants): the cache keys on
    them, and the analytics rollups count by them; `snap`, the flags' snapshot they
    were chosen in (by default the current one): the document names that one's flags
    and epoch, never those of a snapshot installed since; `counted=False` (the
    studio's preview) leaves out the analytics token, so its frame sends nothing."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    live = follow and is_live(story, template)
    assets = _assets(template, live)
    theme = theme_css(story)
    public_origin = settings.PUBLIC_ORIGIN or origin
    public_url = f"{public_origin}/s/{story.slug}"
    # The studio's preview has no origin to name: no discovery links there.
    oembed = oembed_links(public_origin, f"{public_origin}/e/{story.slug}?template={template}") \
        if public_origin.startswith(("https://", "http://")) else None
    language = language_for(story.language, (p.lang for p in posts))
    variants = variants or {}
    snap = snap or flags.current()
    html = engines["jinja2"].get_template(template_file(template, variants)).render(
        {
            "story": story,
            "t": language.t,
            "lang": language,
            "posts": posts,
            "cards": cards(posts, template, XLARGE_PRESETS
                           if variants.get(IMAGE_FLAG, flags.OFF) != flags.OFF
                           else SRCSET_PRESETS),
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
            "oembed": oembed,
            "qr": Markup(qr_svg(public_url)) if template == "screen" else "",  # noqa: S704
            "more_url": more_url,
            "story_more_url": story_more_url,
            "flags": variants,
            # What the frame reports with a script error: every embed flag's
            # variant, "off" included, so the old variant's rate is known too.
            "flag_report": "&".join(f"{r.key}={variants.get(r.key, flags.OFF)}"
                                    for r in snap.embed),
            # The flags' state this was rendered in, for live.js to compare.
            "flags_epoch": snap.epoch,
            "stats": tokens.sign(str(story.id), stats_variant(variants)) if counted else "",
        }
    )
    csp = "; ".join(
        [
            "default-src 'none'",
            f"style-src {assets.style_hash} {csp_hash(theme)}",
            f"script-src {assets.script_hash}",
            "img-src 'self' https: data:",
            # A video plays from its source, only when the reader asks (or, a GIF-like
            # clip, muted); never on a big screen's sound.
            "media-src https:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors or frame_ancestors(story)}",
        ]
    )
    return Rendered(html.encode("utf-8"), csp)
