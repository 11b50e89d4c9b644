"""`/s/<slug>`, the story's own page: link previews (Open Graph, Twitter card),
an absolute canonical URL, JSON-LD that no post can break out of, the embed's
cards with avatars and markers, the story's language, and its CSP."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.test import Client, override_settings

from samembed.embed.render import csp_hash
from samembed.embed.story_page import og_locale
from samembed.media.signing import verify
from samembed.repositories.posts import Author, Media
from samembed.repositories.stories import Theme
from tests.factories import make_post, make_story

pytestmark = pytest.mark.usefixtures("mongo_db")


def meta(body: str, key: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)">', body)
    return html.unescape(found.group(1)) if found else None


def json_ld(body: str) -> Any:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', body, re.S)
    assert len(blocks) == 1
    return json.loads(blocks[0])


def harbour() -> None:
    story = make_story("harbour", title="Harbour Lights", description="A night on the quay.")
    make_post(story, 1, text="Lanterns on the water", pinned=True,
              author=Author("Noa Quay", "@noa@example.social", "media:avatar-noa",
                            "https://example.social/@noa"),
              media=(Media("image", "media:boat1", 1600, 1200, "A boat under lanterns"),))
    make_post(story, 2, highlighted=True, lang="en",
              media=(Media("image", "media:boat2", 1600, 1200, "Second boat"),))
    make_post(story, 3)


def test_link_previews_get_open_graph_and_twitter_tags() -> None:
    harbour()
    response = Client().get("/s/harbour")
    assert response.status_code == 200
    body = response.content.decode()
    assert meta(body, "og:title") == "Harbour Lights"
    assert meta(body, "og:description") == "A night on the quay."
    assert meta(body, "description") == "A night on the quay."
    assert meta(body, "og:url") == "http://testserver/s/harbour"
    assert meta(body, "og:type") == "website"
    assert meta(body, "twitter:card") == "summary_large_image"
    assert meta(body, "twitter:title") == "Harbour Lights"
    # The picture: the first photo, at the standard large size, signed.
    image = meta(body, "og:image")
    assert image == meta(body, "twitter:image")
    found = re.fullmatch(r"http://testserver/img/([^/]+)/large/boat1\.jpg", image or "")
    assert found and verify(found.group(1), "large", "boat1", "jpg")
    assert meta(body, "og:image:alt") == "A boat under lanterns"


def test_a_story_without_photos_or_description_still_previews() -> None:
    story = make_story("plain", title="Plain words")
    make_post(story, 1, text="  The first post\nsays what the story is about. " * 12)
    body = Client().get("/s/plain").content.decode()
    assert meta(body, "twitter:card") == "summary"
    assert meta(body, "og:image") is None and "twitter:image" not in body
    description = meta(body, "og:description") or ""
    assert description.startswith("The first post says what") and description.endswith("…")
    assert len(description) <= 200 and "\n" not in description


def test_the_canonical_url_is_absolute() -> None:
    make_story("canon", posts=1)
    body = Client().get("/s/canon?utm_source=newsletter").content.decode()
    assert '<link rel="canonical" href="http://testserver/s/canon">' in body


@override_settings(PUBLIC_ORIGIN="https://stories.example.com")
def test_the_canonical_url_uses_the_public_origin() -> None:
    harbour()
    body = Client().get("/s/harbour", HTTP_HOST="127.0.0.1").content.decode()
    assert '<link rel="canonical" href="https://stories.example.com/s/harbour">' in body
    assert (meta(body, "og:image") or "").startswith("https://stories.example.com/img/")
    assert json_ld(body)["url"] == "https://stories.example.com/s/harbour"
    assert 'src="https://stories.example.com/embed.js"' in html.unescape(body)


def test_json_ld_lists_the_posts_as_social_media_postings() -> None:
    harbour()
    data = json_ld(Client().get("/s/harbour").content.decode())
    assert data["@context"] == "https://schema.org" and data["@type"] == "ItemList"
    assert data["name"] == "Harbour Lights" and data["numberOfItems"] == 3
    items = data["itemListElement"]
    assert [i["position"] for i in items] == [1, 2, 3]
    first = items[0]["item"]
    assert first["@type"] == "SocialMediaPosting"
    assert first["url"] == "https://example.social/@author1/1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["datePublished"])
    assert first["author"] == {"@type": "Person", "name": "Noa Quay",
                               "alternateName": "@noa@example.social",
                               "url": "https://example.social/@noa"}
    assert first["text"] == "Lanterns on the water"
    assert re.fullmatch(r"http://testserver/img/[^/]+/large/boat1\.jpg", first["image"][0])
    assert items[1]["item"]["inLanguage"] == "en"
    assert "image" not in items[2]["item"]


def test_a_post_cannot_break_out_of_the_json_ld() -> None:
    story = make_story("evil", title="</script><script>alert('t')</script>")
    text = "Look </script><script>alert(1)</script> & <!-- <script> -->"
    make_post(story, 1, text=text, author=Author("</SCRIPT>", None, None, None))
    body = Client().get("/s/evil").content.decode()
    assert "<script>alert" not in body and "</SCRIPT>" not in body
    data = json_ld(body)
    assert data["itemListElement"][0]["item"]["text"] == text
    assert data["itemListElement"][0]["item"]["author"]["name"] == "</SCRIPT>"
    assert data["name"] == "</script><script>alert('t')</script>"


def test_posts_show_avatars_and_pinned_and_highlighted_markers() -> None:
    harbour()
    body = Client().get("/s/harbour").content.decode()
    assert re.search(r'<span class="av[^"]*" aria-hidden="true">N<picture>'
                     r'<source type="image/webp" srcset="/img/[^"]+/avatar48/avatar-noa\.webp 1x, '
                     r'/img/[^"]+/avatar96/avatar-noa\.webp 2x">'
                     r'<img src="/img/[^"]+/avatar48/avatar-noa\.jpg"', body)
    assert body.count('<p class="pin">') == 1 and "Pinned</p>" in body
    assert body.count('class="hl-mark"') == 1 and "Highlighted</p>" in body
    assert body.index("Lanterns on the water") < body.index('class="hl-mark"')
    # Times are exact (UTC until the page's script shows the reader's own zone).
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+ UTC">\d+ \w+ \d{4}, \d\d:\d\d UTC'
                     r"</time>", body)


def test_a_link_that_is_not_http_is_not_a_link() -> None:
    story = make_story("links")
    make_post(story, 1, permalink="javascript:alert(1)",
              author=Author("Eve", None, None, "javascript:alert(2)"))
    body = Client().get("/s/links").content.decode()
    assert 'href="javascript' not in body
    item = json_ld(body)["itemListElement"][0]["item"]
    assert item["url"].startswith("http://testserver/s/links#p-") and "url" not in item["author"]


def test_the_page_is_in_the_story_language_and_theme() -> None:
    story = make_story("port", title="Fête du Port", language="fr",
                       theme=Theme(accent="#c2410c", mode="dark"))
    make_post(story, 1, pinned=True)
    response = Client().get("/s/port")
    body = response.content.decode()
    assert '<html lang="fr" dir="ltr" data-theme="dark">' in body
    assert "Épinglé" in body and "Voir sur Mastodon" in body and "Intégrer ce fil" in body
    assert meta(body, "og:locale") == "fr_FR"
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d UTC</time>", body)
    # The theme's one inline style is allowed by its hash, nothing else inline.
    csp = response["Content-Security-Policy"]
    style = re.search(r"<style>(.*?)</style>", body, re.S)
    assert style and "--accent:#c2410c" in style.group(1)
    assert f"style-src 'self' {csp_hash(style.group(1))};" in csp
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp
    assert body.count("<style>") == 1 and ' style="' not in body


def test_an_arabic_story_page_reads_right_to_left() -> None:
    story = make_story("ar", title="مهرجان الميناء", language="ar")
    make_post(story, 1)
    body = Client().get("/s/ar").content.decode()
    assert '<html lang="ar" dir="rtl"' in body and "عرض على Mastodon" in body
    assert meta(body, "og:locale") == "ar_AR"


@pytest.mark.parametrize(("tag", "locale"), [("pt-BR", "pt_BR"), ("en", "en_US"),
                                             ("zh-Hant-TW", "zh_TW"), ("sr-Latn", "sr")])
def test_open_graph_locales_name_a_territory_where_one_is_known(tag: str, locale: str) -> None:
    assert og_locale(tag) == locale


def test_an_unknown_story_page_is_a_404_with_a_heading() -> None:
    response = Client().get("/s/nothing-here")
    assert response.status_code == 404
    body = response.content.decode()
    assert "<main><h1>This story is not available.</h1></main>" in body
