"""Cards as every template writes them: content warnings through every ingest path,
sensitive media, videos, big screens without controls, pictures sized per template,
and the one link policy (`safe_href`) shared by ingest and rendering."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from PIL import Image

from samembed.embed import render
from samembed.ingest import pipeline
from samembed.ingest.model import Collected, CollectedMedia
from samembed.ingest.sanitise import safe_link
from samembed.media.images import normalise
from samembed.media.signing import STORED_PREFIX
from samembed.repositories import media as media_repo
from samembed.repositories import posts as posts_repo
from samembed.repositories import sources
from samembed.repositories.posts import Entity, Media, Post
from samembed.text import post_html, safe_href
from tests.factories import make_post, make_story

pytestmark = pytest.mark.usefixtures("mongo_db")

TOKEN = "push-token-for-card-tests-0123456789"  # noqa: S105 - a test fixture


def stored_image(width: int = 1600, height: int = 1000) -> Media:
    """A picture in the media store, as ingest leaves one."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, "JPEG")
    image = normalise(buf.getvalue())
    key = media_repo.put(image.data, image.content_type)
    return Media("image", STORED_PREFIX + key, image.width, image.height, "An orange field")


def body(client: Client, slug: str, template: str = "list") -> str:
    response = client.get(f"/e/{slug}?template={template}")
    assert response.status_code == 200
    return response.content.decode()


def only(post: Post) -> Post:
    found = posts_repo.by_external_ids(post.story_id, post.source, [post.external_id])
    return found[post.external_id]


def test_a_pushed_warning_is_stored_and_the_embed_hides_the_post_behind_it() -> None:
    story = make_story("pushed-cw")
    sources.set_push_token(story.id, TOKEN)
    client = Client()
    response = client.post(
        "/api/v1/stories/pushed-cw/posts",
        data={"posts": [{"id": "1", "text": "The goalkeeper saves it in the 93rd minute",
                         "created_at": "2026-11-30T12:00:00Z", "author": {"name": "Ada"},
                         "sensitive": True, "content_warning": "Spoilers:   the final"}]},
        content_type="application/json", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code in (200, 202), response.content
    post = posts_repo.list_for_studio(story.id, "pending", 0, 10)[0]
    assert (post.sensitive, post.content_warning) == (True, "Spoilers: the final")
    posts_repo.update(post, {"state": "approved"})
    from samembed.repositories import stories as stories_repo
    stories_repo.bump_version(story.id)

    html = body(client, "pushed-cw")
    warned = re.search(r'<details class="cw" data-cw>(.*?)</details>', html, re.S)
    assert warned, html
    assert "Spoilers: the final" in warned.group(1)
    # The text is inside the closed <details>: hidden until the reader asks.
    assert "93rd minute" in warned.group(1).split('<div class="cw-body">', 1)[1]
    assert 'data-show="Show"' in warned.group(1)


def test_every_ingest_path_keeps_the_warning_and_bounds_it() -> None:
    story = make_story("ingested-cw")
    when = datetime.now(UTC) - timedelta(hours=1)
    long_warning = "w" * 2000
    batch = [
        Collected("a", "Ada", "Mastodon spoiler", when, sensitive=True,
                  content_warning="Spoilers"),
        Collected("b", "Bo", "Bluesky label, no text", when, sensitive=True),
        Collected("c", "Cy", "An unbounded warning", when, content_warning=long_warning),
    ]
    report = pipeline.store(story.id, "mastodon", batch, copy_now=False)
    assert report.new == 3
    got = posts_repo.by_external_ids(story.id, "mastodon", ["a", "b", "c"])
    assert (got["a"].sensitive, got["a"].content_warning) == (True, "Spoilers")
    assert (got["b"].sensitive, got["b"].content_warning) == (True, "")
    # A warning alone marks the post sensitive; it is cut to the stored bound.
    assert got["c"].sensitive is True
    assert got["c"].content_warning == "w" * posts_repo.WARNING_MAX


def test_an_import_file_carries_its_warning_columns() -> None:
    from samembed.ingest.push import parse_csv
    rows = parse_csv(b"id,text,created_at,author_name,sensitive,content_warning\n"
                     b"9,Text,2026-11-30T12:00:00Z,Ada,yes,Flashing lights\n")
    assert (rows[0].sensitive, rows[0].content_warning) == (True, "Flashing lights")


def test_sensitive_media_without_a_warning_is_behind_a_cover_and_the_text_is_not() -> None:
    story = make_story("sens")
    make_post(story, 1, text="First aid tent report", media=(stored_image(),), sensitive=True)
    html = body(Client(), "sens")
    cover = re.search(r'<details class="sens" data-sens>(.*?)</details>', html, re.S)
    assert cover, html
    assert "Sensitive media" in cover.group(1) and "<img" in cover.group(1)
    assert "First aid tent report" in html.split('<details class="sens"', 1)[0]


def test_a_screen_shows_only_the_warning_until_an_editor_lets_it_through(ada: Client) -> None:
    story = make_story("tv-cw")
    post = make_post(story, 1, text="Who won the boat parade", content_warning="Results",
                     sensitive=True, media=(stored_image(),))
    html = body(ada, "tv-cw", "screen")
    assert "Results" in html and "Who won the boat parade" not in html
    assert 'class="cw-screen"' in html and "<details" not in html

    post = only(post)
    response = ada.post(f"/studio/posts/{post.id}/action",
                        {"action": "screens_show", "version": post.version})
    assert response.status_code == 302
    assert only(post).show_on_screens is True
    # A stale version is a conflict, as for every other post action.
    stale = ada.post(f"/studio/posts/{post.id}/action",
                     {"action": "screens_warn", "version": post.version})
    assert stale.status_code == 409
    from samembed.embed.cache import response_cache
    response_cache().clear()
    html = body(ada, "tv-cw", "screen")
    assert "Who won the boat parade" in html and 'class="cw-screen"' not in html
    # Embeds still hide it behind Show: the toggle is for screens only.
    assert '<details class="cw" data-cw>' in body(ada, "tv-cw", "list")


def test_the_studio_offers_the_screen_toggle_only_for_warned_posts(ada: Client) -> None:
    story = make_story("toggle")
    make_post(story, 1, text="Plain")
    make_post(story, 2, text="Warned", content_warning="Flashing lights")
    page = ada.get(f"/studio/stories/{story.id}/posts?state=approved").content.decode()
    assert page.count('value="screens_show"') == 1
    assert "CW: Flashing lights" in page


def test_a_big_screen_has_no_controls_and_no_links_to_the_networks() -> None:
    story = make_story("tv", live=True)
    for n in range(4):
        make_post(story, n, media=(stored_image(),) if n % 2 else ())
    html = body(Client(), "tv", "screen")
    assert "<button" not in html
    assert "View on" not in html and 'class="via"' not in html
    assert 'class="name" href' not in html and "data-zoom" not in html
    assert "data-live-say" in html  # the announcer stays, it is not a control


def test_a_post_with_four_videos_and_no_poster_shows_four_placeholders() -> None:
    story = make_story("videos")
    clips = tuple(Media("video", "", None, None, f"Clip {n}", None,
                        f"https://video.example/{n}.mp4") for n in range(4))
    make_post(story, 1, text="Four clips", media=clips)
    for template in ("list", "screen"):
        html = body(Client(), "videos", template)
        cards = html[html.index("<main"):html.index("</main>")]
        assert cards.count('class="vid none"') == 4, template
        assert 'src=""' not in cards and "poster=" not in cards and "<img" not in cards
    html = body(Client(), "videos", "list")
    # Played in place when asked, never on its own with sound: no autoplay anywhere.
    assert html.count('data-play="https://video.example/') == 4 and "autoplay" not in html
    csp = Client().get("/e/videos").headers["Content-Security-Policy"]
    assert "media-src https:" in csp


def test_a_video_whose_still_cannot_be_copied_stays_a_video() -> None:
    story = make_story("pushed-video")
    when = datetime.now(UTC) - timedelta(minutes=5)
    clip = CollectedMedia("", "The kite landing", "video", play_url="https://v.example/k.mp4")
    pipeline.store(story.id, "push", [Collected("v", "Ada", "Kite", when, media=(clip,))],
                   copy_now=True)
    post = posts_repo.by_external_ids(story.id, "push", ["v"])["v"]
    assert [(m.type, m.url, m.play_url) for m in post.media] == [
        ("video", "", "https://v.example/k.mp4")]
    posts_repo.update(post, {"state": "approved"})
    assert len(posts_repo.list_published(story.id, 10)[0].media) == 1


def test_pictures_are_sized_per_template_and_a_small_grid_has_as_many_columns_as_posts() -> None:
    story = make_story("sizes")
    for n in range(3):
        make_post(story, n, media=(stored_image(),))
    grid = body(Client(), "sizes", "grid")
    sizes = set(re.findall(r'<img[^>]* sizes="([^"]+)"', grid))
    assert sizes == {"(min-width: 888px) calc(25vw - 38px), (min-width: 596px) "
                     "calc(37.5vw - 39px), calc(75vw - 44px)"}
    carousel = set(re.findall(r'<img[^>]* sizes="([^"]+)"', body(Client(), "sizes", "carousel")))
    assert carousel == {"(min-width: 396px) 214px, calc(64.5vw - 41px)"}
    assert render.slot_sizes("grid", 50).count("min-width") == render.GRID_MAX_COLUMNS - 1


def test_avatars_come_as_webp_with_a_jpeg_fallback() -> None:
    story = make_story("avatars")
    avatar = stored_image(200, 200).url
    post = make_post(story, 1)
    posts_repo.update(only(post), {"author.avatar_url": avatar})
    html = body(Client(), "avatars")
    picture = re.search(r"<picture>(.*?)</picture>", html, re.S)
    assert picture, html
    assert re.search(r'<source type="image/webp" srcset="/img/[^ ]+/avatar48/[^ ]+\.webp 1x, '
                     r'/img/[^ ]+/avatar96/[^ ]+\.webp 2x">', picture.group(1))
    assert re.search(r'<img src="/img/[^"]+/avatar48/[^"]+\.jpg"', picture.group(1))


def test_every_embed_starts_with_a_skip_link_to_its_end() -> None:
    make_story("skip", posts=2)
    for template in ("list", "grid", "carousel", "ticker"):
        html = body(Client(), "skip", template)
        assert html.index('href="#story-end" data-skip>Skip past this story') \
            < html.index("<article"), template
        assert html.index('id="story-end"') > html.rindex("</article>"), template


def test_one_link_policy_for_ingest_and_rendering() -> None:
    assert safe_href("https://a.test/x") == "https://a.test/x"
    for bad in ("javascript:alert(1)", "https://", "data:text/html,x", "//a.test", "", None):
        assert safe_href(bad) is None and safe_link(bad) is None, bad
    # mailto: is a link inside a post's text only, never an author's or a post's URL.
    assert safe_href("mailto:desk@paper.test") is None
    assert safe_link("mailto:desk@paper.test") is None
    assert safe_href("mailto:desk@paper.test", mail=True) == "mailto:desk@paper.test"
    story = make_story("mail")
    text = "Write to desk@paper.test"
    post = Post(story.id, "push", "m", posts_repo.Author("Ada"), text, datetime.now(UTC),
                entities=(Entity("url", 9, 24, "mailto:desk@paper.test"),
                          Entity("url", 0, 5, "javascript:alert(1)")))
    html = str(post_html(post))
    assert 'href="mailto:desk@paper.test"' in html and "javascript" not in html


def test_a_card_is_built_once_per_post_and_template() -> None:
    story = make_story("model")
    post = make_post(story, 1, text="Hello", pinned=True, highlighted=True)
    stored = posts_repo.list_published(story.id, 10)[0]
    first = render.card(stored, "grid", 1)
    assert first is render.card(stored, "grid", 1)
    assert first.classes == "post pinned hl"
    assert first.via == "view_on_mastodon" and first.source_name == "Mastodon"
    assert first.profile == post.author.profile_url and first.handle == post.author.handle
    assert 0 <= first.colour < render.AVATAR_COLOURS
