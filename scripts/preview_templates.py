"""Render every embed template with sample posts, to look at them in a browser.

    cd /work/main && DEBUG=true .venv/bin/python scripts/preview_templates.py
    DEBUG=true .venv/bin/python scripts/preview_templates.py --shots   # + PNGs

Writes var/preview/<template>.html (plus an empty story, a dark serif variant
and host.html, which frames each template the way the loader does: sandboxed,
resized by the frame's `samembed:resize` messages). Each file carries the
response's Content-Security-Policy as a <meta> tag, so a browser opening it
from disk enforces the same policy as production (frame-ancestors aside).
With --shots, headless Chromium (through Playwright) screenshots each one at
several sizes in light and dark, to var/preview/shots/, and reports console
errors and CSP violations. No database needed: the data is made up here.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "samembed.settings")

import django  # noqa: E402

django.setup()

from bson import ObjectId  # noqa: E402

from samembed.embed.render import render_embed  # noqa: E402
from samembed.repositories.posts import Author, Media, Post  # noqa: E402
from samembed.repositories.stories import TEMPLATES, Story, Theme  # noqa: E402
from samembed.text import find_entities  # noqa: E402

OUT = ROOT / "var" / "preview"
CHROMIUM = "/usr/bin/chromium"
SIZES = {
    "default": [(280, 800), (400, 900), (1280, 900)],
    "screen": [(1920, 1080), (1080, 1920), (1280, 720), (400, 700)],
}


def _svg_data(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def picture(width: int, height: int, a: str, b: str, label: str = "") -> str:
    """A gradient "photo" as a data: URL (img-src allows data:)."""
    return _svg_data(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<defs><linearGradient id="g" x2="1" y2="1"><stop stop-color="{a}"/>'
        f'<stop offset="1" stop-color="{b}"/></linearGradient></defs>'
        f'<rect width="100%" height="100%" fill="url(#g)"/>'
        f'<circle cx="{width * 0.72}" cy="{height * 0.3}" r="{min(width, height) * 0.12}" '
        f'fill="#fff" opacity=".55"/><path d="M0 {height} L{width * 0.35} {height * 0.45} '
        f'L{width * 0.6} {height * 0.75} L{width * 0.78} {height * 0.55} L{width} {height}Z" '
        f'fill="#000" opacity=".25"/><text x="24" y="{height - 24}" font-family="sans-serif" '
        f'font-size="{height // 12}" fill="#fff">{escape(label)}</text></svg>'
    )


def face(color: str, letter: str) -> str:
    return _svg_data(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96">'
        f'<rect width="96" height="96" fill="{color}"/><circle cx="48" cy="38" r="18" '
        f'fill="#fff" opacity=".85"/><ellipse cx="48" cy="92" rx="34" ry="26" fill="#fff" '
        f'opacity=".85"/><text x="48" y="45" font-size="18" text-anchor="middle" '
        f'font-family="sans-serif" fill="{color}">{letter}</text></svg>'
    )


def sample_story(**changes: object) -> Story:
    fields: dict[str, Any] = dict(
        id=ObjectId(),
        slug="preview",
        title="Climate Week 2025: live from the summit",
        description="Voices from the floor, curated by the newsroom.",
        status="published",
        default_template="grid",
        theme=Theme(),
        live=True,
        version=1,
    )
    fields.update(changes)
    return Story(**fields)


def sample_posts(story: Story) -> list[Post]:
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        dict(source="manual", pinned=True, minutes=90,
             author=Author("Newsroom desk", None, None, None),
             text="Welcome to our live coverage of #ClimateWeek. We will be posting "
                  "highlights all day: follow along here or at https://example.org/live."),
        dict(source="mastodon", highlighted=True, minutes=4,
             author=Author("Ada Lovelace", "ada@example.social", face("#7c3aed", "A"),
                           "https://example.social/@ada"),
             text="Standing room only for the opening keynote 🌍🔥 Thanks @grace for the "
                  "seat! #ClimateWeek #energy",
             media=(Media("image", picture(1200, 800, "#0ea5e9", "#22c55e", "Keynote"),
                          1200, 800, "A packed hall facing a stage with a green slide"),),
             permalink="https://example.social/@ada/1"),
        dict(source="bluesky", minutes=0.3,
             author=Author("Grace Hopper", "grace.bsky.social", face("#0284c7", "G"),
                           "https://bsky.app/profile/grace.bsky.social"),
             text="Just in: the storage panel starts in five minutes.",
             permalink="https://bsky.app/profile/grace.bsky.social/post/1"),
        dict(source="rss", minutes=60 * 5,
             author=Author("The Daily Planet", None, None, "https://planet.example/"),
             text="Negotiators agree a draft text on adaptation finance after a night "
                  "of talks. The draft, seen by reporters early on Tuesday, commits richer "
                  "nations to doubling their contributions by 2030 and sets up a review "
                  "mechanism that several delegations had resisted. Observers said the "
                  "wording on loss and damage remained weaker than campaigners hoped, and "
                  "that the real test would come when the figures are attached. Full "
                  "story: https://planet.example/2025/11/adaptation-finance-draft-agreed-after-night-of-talks",
             permalink="https://planet.example/2025/11/adaptation-finance"),
        dict(source="mastodon", minutes=60 * 26, lang="ar",
             author=Author("ليلى حسن", "layla@example.social", face("#db2777", "ل"),
                           "https://example.social/@layla"),
             text="الجلسة عن الطاقة الشمسية في شمال أفريقيا كانت رائعة. الأرقام مشجعة جدا "
                  "#المناخ https://example.org/solar",
             permalink="https://example.social/@layla/2"),
        dict(source="bluesky", minutes=60 * 50, lang="he",
             author=Author("נועה כהן", "noa.bsky.social", None,
                           "https://bsky.app/profile/noa.bsky.social"),
             text="הפאנל על מים ואקלים היה מרתק. תודה לכל המשתתפים! 💧",
             permalink="https://bsky.app/profile/noa.bsky.social/post/2"),
        dict(source="push", minutes=12,
             author=Author("Event app", "eventapp", None, None),
             text="🎉🎉 500 attendees checked in this morning! ☕️ Coffee is in hall B. "
                  "👉 Schedule changes: https://example.org/schedule",
             permalink="https://example.org/schedule#updates"),
        dict(source="import", minutes=60 * 24 * 3,
             author=Author("Photo desk", "photos", face("#ea580c", "P"), None),
             text="Scenes from day one.",
             media=(Media("image", picture(800, 800, "#f97316", "#facc15", "1"), 800, 800,
                          "Delegates in orange lanyards"),
                    Media("image", picture(800, 600, "#6366f1", "#ec4899", "2"), 800, 600,
                          "A protest banner outside the venue")),
             permalink="https://example.org/photos/day-one"),
        dict(source="mastodon", minutes=33,
             author=Author("Margaret Hamilton", "@mh@code.example", "https://invalid.invalid/a.png",
                           "https://code.example/@mh"),
             text="Quick thread on what the new emissions numbers mean, with @ada@example.social "
                  "and @grace:\n\n1. The baseline moved.\n2. The targets did not.",
             permalink="https://code.example/@mh/3"),
        dict(source="rss", minutes=60 * 24 * 6,
             author=Author("Planet Weekly", None, face("#16a34a", "W"), None),
             text="Our weekly round-up: three charts that explain the summit.",
             media=(Media("image", picture(1200, 675, "#14b8a6", "#1e3a8a", "a"), 1200, 675, ""),
                    Media("image", picture(600, 600, "#a855f7", "#1e1b4b", "b"), 600, 600, ""),
                    Media("image", picture(600, 600, "#f43f5e", "#881337", "c"), None, None, "")),
             permalink="https://planet.example/weekly"),
        dict(source="bluesky", minutes=60 * 24 * 40,
             author=Author("A very long display name that keeps going and going",
                           "averylonghandle.someplace.bsky.social", face("#475569", "V"), None),
             text="Supercalifragilisticexpialidocious-and-a-very-long-unbroken-word-that-must-wrap "
                  "#ThisIsAnExtremelyLongHashtagThatShouldWrapNicely",
             permalink="https://bsky.app/profile/x/post/3"),
        dict(source="mastodon", minutes=60 * 24 * 400,
             author=Author("Archive", "archive@example.social", face("#334155", "R"), None),
             text="From last year's summit: the closing session. 📼",
             media=(Media("video", "https://example.social/v.mp4", 640, 360, "Closing session"),),
             permalink="https://example.social/@archive/9"),
    ]
    posts = []
    for i, row in enumerate(rows):
        text = row.pop("text")
        minutes = row.pop("minutes")
        posts.append(Post(
            id=ObjectId(), story_id=story.id, external_id=str(i), text=text,
            entities=tuple(find_entities(text, hashtag_url="https://example.social/tags/{tag}",
                                         mention_url="https://example.social/@{user}")),
            posted_at=now - timedelta(minutes=minutes), state="approved", **row,
        ))
    return posts


def with_csp(html: bytes, csp: str) -> str:
    # frame-ancestors is ignored (with a warning) in a <meta> policy.
    policy = "; ".join(d for d in csp.split("; ") if not d.startswith("frame-ancestors"))
    meta = f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">'
    return html.decode().replace('<meta charset="utf-8">', '<meta charset="utf-8">\n' + meta, 1)


HOST = """<!doctype html><meta charset="utf-8"><title>samembed preview host</title>
<style>body{font:14px system-ui;margin:0 auto;max-width:1000px;padding:16px;background:#fafafa}
iframe{width:100%;border:0;display:block;height:150px;background:#fff}h2{margin:24px 0 8px}</style>
<p>Each frame is sandboxed like the loader's and grows with its samembed:resize messages.</p>
FRAMES
<script>
addEventListener("message", function (e) {
  if (!e.data || e.data.type !== "samembed:resize") return;
  var f = document.getElementById(e.data.id);
  if (f && e.source === f.contentWindow) f.style.height = Math.min(e.data.height, 4000) + "px";
});
</script>
"""


def write_all() -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    story = sample_story()
    posts = sample_posts(story)
    pages = {t: (story, posts, t) for t in TEMPLATES}
    dark = sample_story(theme=Theme(accent="#e11d48", font="serif", mode="dark"), live=False)
    pages["grid-dark"] = (dark, sample_posts(dark), "grid")
    pages["list-empty"] = (sample_story(live=False, title="Nothing here yet"), [], "list")
    pages["ticker-short"] = (story, posts[:2], "ticker")
    for name, (s, p, template) in pages.items():
        rendered = render_embed(s, p, template)
        (OUT / f"{name}.html").write_text(with_csp(rendered.body, rendered.csp), encoding="utf-8")
    frames = "".join(
        f'<h2>{t}</h2><iframe id="f-{t}" title="{t}" loading="lazy" src="{t}.html#samembed=f-{t}" '
        f'sandbox="allow-scripts allow-popups allow-popups-to-escape-sandbox"></iframe>\n'
        for t in TEMPLATES if t != "screen"
    )
    (OUT / "host.html").write_text(HOST.replace("FRAMES", frames), encoding="utf-8")
    return list(pages)


def screenshots(names: list[str]) -> int:
    from playwright.sync_api import ConsoleMessage, Error, sync_playwright

    shots = OUT / "shots"
    shots.mkdir(exist_ok=True)
    problems = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for name in [*names, "host"]:
            sizes = SIZES["screen" if name == "screen" else "default"]
            for scheme in ("light", "dark"):
                for width, height in sizes:
                    page = browser.new_page(viewport={"width": width, "height": height},
                                            color_scheme=scheme)
                    messages: list[str] = []

                    def console(m: ConsoleMessage, out: list[str] = messages) -> None:
                        if m.type in ("error", "warning"):
                            out.append(f"{m.type}: {m.text}")

                    def error(e: Error, out: list[str] = messages) -> None:
                        out.append(f"pageerror: {e}")

                    page.on("console", console)
                    page.on("pageerror", error)
                    page.goto((OUT / f"{name}.html").as_uri())
                    # Lazy images load only near the viewport: pass over the page first.
                    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
                    page.wait_for_timeout(300)
                    page.evaluate("window.scrollTo(0, 0)")
                    page.wait_for_timeout(300)
                    target = shots / f"{name}-{width}x{height}-{scheme}.png"
                    page.screenshot(path=str(target), full_page=name != "screen")
                    for m in messages:
                        if "invalid.invalid" in m or "ERR_NAME_NOT_RESOLVED" in m:
                            continue  # the deliberately broken avatar
                        problems += 1
                        print(f"{name} {width}x{height} {scheme}: {m}")
                    page.close()
        browser.close()
    print(f"screenshots in {shots}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shots", action="store_true", help="also take screenshots")
    args = parser.parse_args()
    names = write_all()
    for name in names:
        path = OUT / f"{name}.html"
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size:,} bytes")
    return 1 if args.shots and screenshots(names) else 0


if __name__ == "__main__":
    sys.exit(main())
