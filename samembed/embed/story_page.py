"""What the story page `/s/<slug>` says about itself (read path, on a cache miss).

The page is where a shared link or the screen's QR code lands, so its head is
what link previews, search engines and feed readers see: an absolute canonical
URL, Open Graph and Twitter card tags with a picture at a standard size, and
JSON-LD (`ItemList` of `SocialMediaPosting`). `head()` builds all of it once per
render from the story and the posts already fetched; nothing here queries.

    >>> json_ld_script({"text": "</script><script>alert(1)</script>"})
    Markup('{"text":"\\\\u003c/script\\\\u003e\\\\u003cscript\\\\u003ealert(1)\\\\u003c/script\\\\u003e"}')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from samembed.embed.discovery import oembed_links
from samembed.embed.i18n import Language
from samembed.media.signing import media_src
from samembed.repositories.posts import Media, Post
from samembed.repositories.stories import Story
from samembed.text import iso_time

DESCRIPTION_MAX = 200
# Link previews want one large picture: the `large` preset (1280 px wide), JPEG,
# which every preview crawler reads.
IMAGE_PRESET = "large"
WEB = ("https://", "http://")
# Open Graph names locales language_TERRITORY; a bare language gets the territory
# link previews expect for it (Facebook's list writes Arabic as ar_AR).
OG_TERRITORIES = {"en": "US", "fr": "FR", "de": "DE", "es": "ES", "pt": "PT", "it": "IT",
                  "nl": "NL", "ja": "JP", "ar": "AR", "he": "IL"}


@dataclass(frozen=True)
class Head:
    canonical: str
    title: str
    description: str
    image: str | None
    image_alt: str
    locale: str
    json_ld: Markup
    # oEmbed discovery: the provider's JSON and XML URLs for this page.
    oembed: tuple[str, str] = ("", "")


def _absolute(origin: str, url: str) -> str:
    return url if url.startswith(WEB) else origin + url


def _image_url(origin: str, media: Media) -> str | None:
    url = media_src(media.url, IMAGE_PRESET)
    return _absolute(origin, url) if url.startswith((*WEB, "/")) else None


def _shorten(text: str, limit: int = DESCRIPTION_MAX) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.—-") + "…"


def json_ld_script(data: Any) -> Markup:
    """`data` as JSON that is safe inside <script type="application/ld+json">:
    no `<`, `>` or `&` appear literally, so no text can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for a script data block


def _posting(origin: str, canonical: str, position: int, post: Post) -> dict[str, Any]:
    author: dict[str, Any] = {"@type": "Person", "name": post.author.name}
    if post.author.handle:
        author["alternateName"] = post.author.handle
    if post.author.profile_url and post.author.profile_url.startswith(WEB):
        author["url"] = post.author.profile_url
    posting: dict[str, Any] = {
        "@type": "SocialMediaPosting",
        "url": post.permalink if post.permalink and post.permalink.startswith(WEB)
        else f"{canonical}#p-{post.id}",
        "datePublished": iso_time(post.posted_at),
        "author": author,
        "text": post.text,
    }
    images = [u for m in post.media if m.type == "image" and (u := _image_url(origin, m))]
    if images:
        posting["image"] = images
    if post.lang:
        posting["inLanguage"] = post.lang
    return {"@type": "ListItem", "position": position, "item": posting}


def head(story: Story, posts: list[Post], origin: str, language: Language) -> Head:
    """The story page's canonical URL, preview tags and JSON-LD; `origin` is
    PUBLIC_ORIGIN or the request's (https://host)."""
    canonical = f"{origin}/s/{story.slug}"
    description = _shorten(story.description or (posts[0].text if posts else "") or story.title)
    cover = next((m for p in posts for m in p.media if m.type == "image"), None)
    image = _image_url(origin, cover) if cover else None
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "ItemList",
        "name": story.title,
        "url": canonical,
        "numberOfItems": len(posts),
        "itemListElement": [_posting(origin, canonical, i, p) for i, p in enumerate(posts, 1)],
    }
    if story.description:
        ld["description"] = story.description
    return Head(canonical, story.title, description, image, cover.alt if cover else "",
                og_locale(language.tag), json_ld_script(ld), oembed_links(origin, canonical))


def og_locale(tag: str) -> str:
    """The Open Graph locale for a language tag ("pt-BR" -> "pt_BR", "fr" -> "fr_FR")."""
    parts = tag.split("-")
    region = next((p for p in parts[1:] if len(p) == 2), None)
    if region is None and parts[0] in OG_TERRITORIES:
        region = OG_TERRITORIES[parts[0]]
    return f"{parts[0]}_{region}" if region else parts[0]
