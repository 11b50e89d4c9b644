"""The story form's server side: logo uploads (good and hostile), colours, the
preview's version answer and page size, the head links, and the manual-post
form keeping a chosen image when another field fails."""

from __future__ import annotations

import html
import io
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, PngImagePlugin

from samembed.embed.cache import response_cache
from samembed.repositories import media as media_repo
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.stories import Story
from samembed.studio.curation import KeptImage
from tests.factories import make_post, make_story
from tests.test_studio_merge import Tab

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

STORED = re.compile(r"^media:[0-9a-f]{64}$")


@pytest.fixture
def story() -> Story:
    return make_story("harbour", title="Harbour night", description="Lanterns at nine.",
                      status="published")


def reload(story: Story) -> Story:
    current = stories_repo.get_by_key(str(story.id))
    assert current is not None
    return current


def png_logo(secret: str = "") -> bytes:
    """A transparent PNG, with a text chunk that must not survive re-encoding."""
    image = Image.new("RGBA", (240, 80), (0, 0, 0, 0))
    image.paste((220, 40, 60, 255), (10, 10, 230, 70))
    info = PngImagePlugin.PngInfo()
    if secret:
        info.add_text("Comment", secret)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def save(tab: Tab, **changes: object) -> Any:
    """Send the form as `tab` shows it, with `changes` (files included)."""
    return tab.client.post(tab.url, {**tab.fields, **changes})


def form_fields(page: str) -> dict[str, str]:
    """The story form's fields as a browser would send them from `page`."""
    form = page[page.index('<form method="post" class="story">'):]
    form = form[:form.index("</form>")]
    fields: dict[str, str] = {}
    for tag in re.findall(r"<(?:input|textarea|select)\b[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="file"' in tag or 'type="checkbox"' in tag and "checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, text in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        fields[name] = html.unescape(text)
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        options = re.findall(r"<option([^>]*)>([^<]*)</option>", body)
        chosen = next((o for o in options if "selected" in o[0]), options[0])
        value = re.search(r'value="([^"]*)"', chosen[0])
        fields[name] = html.unescape(value.group(1) if value else chosen[1])
    return fields


# ---- the logo ---------------------------------------------------------------------


def test_an_uploaded_logo_is_stored_re_encoded_and_shown_on_the_screen(
        ada: Client, story: Story) -> None:
    tab = Tab(ada, story)
    response = save(tab, logo=upload("logo.png", png_logo(secret="GPS 59.91N")))

    assert response.status_code == 302, response.content.decode()[:2000]
    saved = reload(story)
    assert saved.screen.logo_url is not None and STORED.match(saved.screen.logo_url)
    original = media_repo.get(saved.screen.logo_url.removeprefix("media:"))
    assert original is not None and original.content_type == "image/png"
    assert b"GPS 59.91N" not in original.data  # re-encoded: no text chunk survives
    assert Image.open(io.BytesIO(original.data)).mode == "RGBA"  # transparency kept

    response_cache().clear()
    screen = Client().get("/e/harbour?template=screen")
    assert screen.status_code == 200
    src = re.search(r'<img class="logo" src="([^"]+)"', screen.content.decode())
    assert src is not None and src.group(1).startswith("/img/")
    assert src.group(1).endswith(f"/medium/{original.key}.webp")
    image = Client().get(src.group(1))
    assert image.status_code == 200 and image["Content-Type"] == "image/webp"
    image.close()  # a file response: its file is closed with it

    page = ada.get(f"/studio/stories/{story.id}/").content.decode()
    assert "Logo uploaded here" in page and f'value="media:{original.key}"' in page


def test_a_logo_typed_as_an_address_still_renders_unchanged(ada: Client, story: Story) -> None:
    response = save(Tab(ada, story), logo_url="https://cdn.example.org/logo.png")
    assert response.status_code == 302
    response_cache().clear()
    body = Client().get("/e/harbour?template=screen").content.decode()
    assert '<img class="logo" src="https://cdn.example.org/logo.png"' in body


@pytest.mark.parametrize(
    ("name", "data", "content_type", "message"),
    [
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
                     b'<rect width="10" height="10"/></svg>', "image/svg+xml",
         "The file is not a JPEG, PNG, GIF or WebP image. Logos are JPEG, PNG, GIF or WebP."),
        ("logo.png", b"<!doctype html><html><body><script>alert(1)</script></body></html>",
         "image/png", "The file is not a JPEG, PNG, GIF or WebP image."),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (50 * 1024 * 1024), "image/png",
         "The logo is larger than 10 MB; choose a smaller file."),
    ],
    ids=["svg-with-script", "html-named-png", "50-mb"],
)
def test_a_hostile_or_huge_logo_is_refused_with_a_clear_message(
        ada: Client, story: Story, name: str, data: bytes, content_type: str,
        message: str) -> None:
    response = save(Tab(ada, story), logo=upload(name, data, content_type))

    assert response.status_code == 400
    body = response.content.decode()
    assert message in html.unescape(body)
    assert 'role="alert"' in body
    saved = reload(story)
    assert saved.screen.logo_url is None and saved.version == story.version


def test_a_forged_stored_logo_reference_is_refused(ada: Client, story: Story) -> None:
    response = save(Tab(ada, story), logo_url="media:../../etc/passwd")
    assert response.status_code == 400
    assert "upload the logo again" in response.content.decode()
    assert reload(story).screen.logo_url is None


def test_an_uploaded_logo_is_kept_when_another_field_fails(ada: Client, story: Story) -> None:
    tab = Tab(ada, story)
    refused = save(tab, title="", logo=upload("brand.png", png_logo()))

    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Logo uploaded here: brand.png" in page
    again = form_fields(page)
    assert STORED.match(again["logo_url"])
    assert again["version"] == tab.fields["version"] and again["base"] == tab.fields["base"]

    saved = ada.post(f"/studio/stories/{story.id}/", {**again, "title": "Harbour night"})
    assert saved.status_code == 302
    assert reload(story).screen.logo_url == again["logo_url"]


def test_a_logo_upload_keeps_a_colleagues_edit_made_meanwhile(
        ada: Client, grace: Client, story: Story) -> None:
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)
    first = save(tab_a, description="Lanterns at ten, after the rain.")
    second = save(tab_b, logo=upload("logo.png", png_logo()))

    assert first.status_code == 302 and second.status_code == 302
    saved = reload(story)
    assert saved.description == "Lanterns at ten, after the rain."
    assert saved.screen.logo_url is not None and STORED.match(saved.screen.logo_url)
    page = grace.get(second["Location"]).content.decode()
    assert "changes meanwhile were kept: Description" in page


# ---- colours ----------------------------------------------------------------------


def test_the_colour_pickers_save_colours_and_the_plain_background(
        ada: Client, story: Story) -> None:
    page = ada.get(f"/studio/stories/{story.id}/").content.decode()
    assert re.search(r'<input type="color" name="accent" value="#[0-9a-f]{6}"', page)
    assert re.search(r'<input type="color" name="background" value="#ffffff"', page)
    assert re.search(r'name="background_default" value="on" checked', page)

    tab = Tab(ada, story)
    fields = {k: v for k, v in tab.fields.items() if k != "background_default"}
    response = ada.post(tab.url, {**fields, "accent": "#0F766E", "background": "#FFF7ED"})
    assert response.status_code == 302
    saved = reload(story)
    assert (saved.theme.accent, saved.theme.background) == ("#0f766e", "#fff7ed")

    tab = Tab(ada, saved)
    assert tab.fields["background"] == "#fff7ed" and "background_default" not in tab.fields
    response = save(tab, background_default="on")
    assert response.status_code == 302
    assert reload(story).theme.background is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"accent": "red"}, "The accent must be a colour like #1a2b3c."),
     ({"accent": "#12345"}, "The accent must be a colour like #1a2b3c."),
     ({"background": "#12345g", "background_default": ""},
      "The background must be a colour like #1a2b3c."),
     ({"accent": '#"><b>'}, "The accent must be a colour like #1a2b3c.")],
)
def test_colours_are_still_validated_as_hex_on_the_server(
        ada: Client, story: Story, changes: dict[str, str], message: str) -> None:
    tab = Tab(ada, story)
    fields = {**tab.fields, **changes}
    if not fields.get("background_default"):
        fields.pop("background_default", None)
    response = ada.post(tab.url, fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert '"><b>' not in response.content.decode()  # the refused value is never echoed raw
    assert reload(story).version == story.version


# ---- the page head and the preview --------------------------------------------------


def test_the_story_page_links_to_its_desk_pages_and_confirms_archive(
        ada: Client, story: Story) -> None:
    page = ada.get(f"/studio/stories/{story.id}/").content.decode()
    head = page[page.index('<div class="head">'):page.index("</nav>")]
    for path, text in (("posts", "Posts"), ("sources", "Sources and rules"),
                       ("audit", "Audit trail")):
        assert f'<a href="/studio/stories/{story.id}/{path}">{text}</a>' in head
    archive = re.search(r'<button name="status" value="archived"([^>]*)>Archive</button>', page)
    assert archive is not None and 'class="danger"' in archive.group(1)
    assert "data-confirm=\"Archive “Harbour night”?" in archive.group(1)
    # Without script: one frame and a plain link to each template's preview.
    assert page.count("<iframe") == 1
    for template in stories_repo.TEMPLATES:
        assert f'href="/studio/stories/{story.id}/preview?template={template}"' in page
    assert re.search(r'<script src="/static/studio/preview\.(\w+\.)?js" defer>', page)


def test_the_story_url_answers_its_version_to_the_preview(ada: Client, story: Story) -> None:
    response = ada.get(f"/studio/stories/{story.id}/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "private, no-store"
    assert json.loads(response.content) == {"ok": True, "version": story.version,
                                            "status": "published"}
    make_post(story, 1, state="pending", text="a post waiting for review")
    post = posts_repo.list_for_studio(story.id, "pending", 0, 1)[0]
    assert ada.post(f"/studio/posts/{post.id}/action",
                    {"action": "approve", "version": post.version}).status_code == 302
    moved = json.loads(ada.get(f"/studio/stories/{story.id}/",
                               HTTP_ACCEPT="application/json").content)
    assert moved["version"] > story.version
    assert Client().get(f"/studio/stories/{story.id}/",
                        HTTP_ACCEPT="application/json").status_code == 302


def test_the_preview_shows_a_page_of_the_chosen_size_framed_by_the_studio_only(
        ada: Client, story: Story) -> None:
    for n in range(1, 8):
        make_post(story, n, state="approved", text=f"post number {n}")
    response = ada.get(f"/studio/stories/{story.id}/preview?template=list&limit=3&v=9")
    assert response.status_code == 200
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response.content.decode().count('class="post') == 3
    whole = ada.get(f"/studio/stories/{story.id}/preview?template=list").content.decode()
    assert whole.count('class="post') == 7


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "9" * 40])
def test_a_bad_preview_page_size_is_a_clear_400(ada: Client, story: Story, limit: str) -> None:
    response = ada.get(f"/studio/stories/{story.id}/preview?template=grid&limit={limit}")
    assert response.status_code == 400
    assert "limit must be a whole number from 1 to 100" in response.content.decode()


# ---- the manual post's image ----------------------------------------------------------


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def test_a_chosen_image_is_kept_when_another_field_fails(ada: Client, story: Story) -> None:
    url = f"/studio/stories/{story.id}/posts/new"
    refused = ada.post(url, {"text": "Lanterns", "author_name": "", "alt": "Boats at dusk",
                             "image": upload("quay.jpg", photo(), "image/jpeg")})

    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Image kept: quay.jpg (choose another to replace it)" in page
    token = re.search(r'name="kept_image" value="([^"]+)"', page)
    assert token is not None
    assert posts_repo.list_for_studio(story.id, "approved", 0, 10) == []

    added = ada.post(url, {"text": "Lanterns", "author_name": "Desk", "alt": "Boats at dusk",
                           "kept_image": html.unescape(token.group(1))})
    assert added.status_code == 302
    [post] = posts_repo.list_for_studio(story.id, "approved", 0, 10)
    [media] = post.media
    assert STORED.match(media.url) and (media.width, media.height) == (800, 600)
    assert media.alt == "Boats at dusk"
    assert media_repo.get(media.url.removeprefix("media:")) is not None
    followed = ada.get(added["Location"]).content.decode()
    assert "Post added." in followed


def test_a_new_image_replaces_the_kept_one(ada: Client, story: Story) -> None:
    url = f"/studio/stories/{story.id}/posts/new"
    kept = KeptImage("a" * 64, 10, 10, "old.jpg").token()
    added = ada.post(url, {"text": "Lanterns", "author_name": "Desk", "kept_image": kept,
                           "image": upload("new.jpg", photo(), "image/jpeg")})
    assert added.status_code == 302
    [post] = posts_repo.list_for_studio(story.id, "approved", 0, 10)
    assert post.media[0].url != "media:" + "a" * 64 and post.media[0].width == 800


@pytest.mark.parametrize("token", ["forged", KeptImage("b" * 64, 1, 1, "x").token() + "x"])
def test_a_forged_kept_image_is_refused(ada: Client, story: Story, token: str) -> None:
    response = ada.post(f"/studio/stories/{story.id}/posts/new",
                        {"text": "Lanterns", "author_name": "Desk", "kept_image": token})
    assert response.status_code == 400
    assert "could not be kept; choose it again" in response.content.decode()
    assert posts_repo.list_for_studio(story.id, "approved", 0, 10) == []
