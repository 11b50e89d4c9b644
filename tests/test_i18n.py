"""The embed's own words in the story's language: the strings tables, the story's
language (chosen in the studio or automatic from its posts), what the documents
say (`<html lang dir>`, every visible word, the words live.js uses) and, in
Chromium, relative times by Intl.RelativeTimeFormat and right-to-left layouts."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, Page
from pymongo import monitoring

from samembed import mongo
from samembed.embed.i18n import ENGLISH, NAMES, RTL, TABLES, language_for, strings
from samembed.repositories import audit
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Author
from samembed.text import exact_time, relative_time
from tests.factories import make_post, make_story
from tests.servers import Gunicorn

pytestmark = pytest.mark.usefixtures("mongo_db")

# Words that are the same in a language as in English, as its own products write them.
SAME_AS_ENGLISH = {
    "de": {"video", "live"}, "it": {"video", "posts", "pause"}, "nl": {"video", "live"},
    "fr": {"pause", "pages"},
}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("code", sorted(TABLES))
def test_every_language_translates_every_key_with_the_same_placeholders(code: str) -> None:
    table = TABLES[code]
    assert set(table) == set(ENGLISH)
    for key, english in ENGLISH.items():
        assert table[key].strip(), key
        if key.startswith("date_"):
            # Each language orders its own date parts.
            assert placeholders(table[key]) <= {"day", "dd", "month", "mm", "mon", "year",
                                                "time"}, key
        else:
            assert placeholders(table[key]) == placeholders(english), key
        if code != "en" and key not in SAME_AS_ENGLISH.get(code, set()):
            assert table[key] != english, f"{code}.{key} is still English"
    # The networks keep their names.
    assert "Mastodon" in table["view_on_mastodon"] and "Bluesky" in table["view_on_bluesky"]
    assert code in NAMES


def test_the_required_languages_and_a_right_to_left_one_are_there() -> None:
    assert {"en", "fr", "de", "es", "pt", "it", "nl", "ja"} <= set(TABLES)
    assert RTL & set(TABLES)


def test_an_automatic_language_follows_most_of_the_posts() -> None:
    assert language_for(None, ["de", "de-AT", "en", None]).tag == "de"
    assert language_for(None, [None, None]).tag == "en"
    assert language_for(None, []).tag == "en"
    # A language without words reads as English: lang describes the words shown.
    assert language_for(None, ["ko", "ko", "fr"]).tag == "en"
    assert language_for("pt-BR", ["de"]).tag == "pt-BR"
    assert language_for("ar", []).dir == "rtl" and language_for("ar", []).t is strings("ar")
    assert language_for("sw", []).tag == "en"


def test_server_times_use_the_story_words() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    fr = strings("fr")
    assert relative_time(now - timedelta(seconds=5), now, fr) == "à l’instant"
    assert relative_time(now - timedelta(minutes=5), now, fr) == "5 min"
    assert relative_time(now - timedelta(hours=3), now, strings("ja")) == "3時間"
    assert relative_time(now - timedelta(days=20), now, fr) == "12/11"
    assert relative_time(now - timedelta(days=400), now) == "28 Oct 2025"
    assert exact_time(now, strings("de")) == "2.12.2026, 12:00 UTC"
    assert exact_time(now) == "2 Dec 2026, 12:00 UTC"


def test_a_story_stores_its_language_tag_in_its_usual_spelling() -> None:
    story = make_story("tagged", language="pt-br")
    assert story.language == "pt-BR"
    stored = stories_repo.get_by_slug("tagged")
    assert stored is not None and stored.language == "pt-BR"
    assert stories_repo.update(stored, {"language": "zh-hant-tw"})
    again = stories_repo.get_by_slug("tagged")
    assert again is not None and again.language == "zh-Hant-TW"
    assert stories_repo.update(again, {"language": None})
    assert stories_repo.get_by_slug("tagged").language is None  # type: ignore[union-attr]


@pytest.mark.parametrize("tag", ["", "x", "french", "fr_FR_x", "fr-", "-fr", "fr-x-private",
                                 "a" * 40, "fr;DROP", '{"$gt": ""}'])
def test_a_story_refuses_what_is_not_a_language_tag(tag: str) -> None:
    if not tag:
        assert make_story("blank", language=tag).language is None
        return
    with pytest.raises(ValueError, match="not a language tag"):
        make_story("bad", language=tag)
    assert stories_repo.get_by_slug("bad") is None


def test_fete_du_port_in_french_reads_french() -> None:
    story = make_story("fete-du-port", title="Fête du Port", language="fr", live=True)
    make_post(story, 5, pinned=True)
    make_post(story, 90, source="bluesky")
    response = Client().get("/e/fete-du-port")
    assert response.status_code == 200
    body = response.content.decode()
    assert re.search(r'<html lang="fr" dir="ltr"', body)
    for words in ("Voir sur Mastodon", "Voir sur Bluesky", "Plus sur Fête du Port", "Épinglé",
                  "En direct", "Suspendre les mises à jour", ">5 min<", ">2 h<"):
        assert words in body, words
    assert 'data-i18n-resume="Reprendre les mises à jour"' in body
    assert 'data-i18n-new-post-by="Nouvelle publication de {name}"' in body
    for english in ("View on", "More on", "Pinned", "Pause updates", ">Live<", ">5m<"):
        assert english not in body, english


@pytest.mark.parametrize("code", sorted(TABLES))
def test_each_language_renders_its_strings(code: str) -> None:
    story = make_story(f"words-{code}", title="Harbour", language=code, live=True)
    make_post(story, 3, pinned=True)
    body = Client().get(f"/e/{story.slug}").content.decode()
    t = TABLES[code]
    direction = "rtl" if code in RTL else "ltr"
    assert f'<html lang="{code}" dir="{direction}"' in body
    for key in ("view_on_mastodon", "pinned", "live", "pause_updates"):
        assert f">{t[key]}<" in body, key
    assert t["more_on"].format(title="Harbour") in body
    assert f'data-i18n-pause="{t["pause_updates"]}"' in body


def test_an_automatic_story_speaks_its_posts_language_and_follows_a_change() -> None:
    story = make_story("auto")
    for n in range(3):
        make_post(story, n, lang="de")
    make_post(story, 9, lang="en")
    client = Client()
    body = client.get("/e/auto").content.decode()
    assert '<html lang="de" dir="ltr"' in body and "Auf Mastodon ansehen" in body
    assert 'lang="en"' in body  # the English post still says it is English


class Finds(monitoring.CommandListener):
    """The collections `find` commands ask while enabled."""

    def __init__(self) -> None:
        self.enabled = False
        self.collections: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.enabled and event.command_name in ("find", "aggregate", "count"):
            self.collections.append(event.command[event.command_name])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


FINDS = Finds()
monitoring.register(FINDS)


def test_an_automatic_language_costs_the_read_path_no_query() -> None:
    story = make_story("auto-cheap")
    for n in range(4):
        make_post(story, n, lang="nl")
    mongo.close()  # a new client, so the listener sees its commands
    FINDS.collections.clear()
    FINDS.enabled = True
    try:
        body = Client().get("/e/auto-cheap").content.decode()
    finally:
        FINDS.enabled = False
    assert '<html lang="nl" dir="ltr"' in body and "Bekijk op Mastodon" in body
    assert FINDS.collections == ["stories", "posts"]


def test_a_screen_speaks_the_story_language() -> None:
    story = make_story("scherm", language="nl", live=True)
    make_post(story, 1)
    body = Client().get("/screen/scherm").content.decode()
    assert '<span class="live">Live</span>' in body  # Dutch says Live too
    assert "Volg mee op je telefoon" in body and "Follow along" not in body
    assert 'data-i18n-pause="Updates pauzeren"' in body


def test_an_editor_chooses_the_language_in_the_studio(ada: Client, editor: User) -> None:
    form = {"title": "Fête du Port", "slug": "", "description": "", "default_template": "list",
            "accent": "#c2410c", "background": "", "font": "system", "mode": "auto",
            "allowed_domains": "", "language": "fr"}
    page = ada.get("/studio/stories/new").content.decode()
    assert '<option value="">Automatic (from the posts)</option>' in page
    assert '<option value="ar" lang="ar">العربية</option>' in page
    response = ada.post("/studio/stories/new", form)
    assert response.status_code == 302
    story = stories_repo.get_by_slug("fête-du-port")
    assert story is not None and story.language == "fr"
    edit = ada.get(f"/studio/stories/{story.id}/").content.decode()
    assert '<option value="fr" selected lang="fr">Français</option>' in edit
    response = ada.post(f"/studio/stories/{story.id}/",
                        {**form, "slug": story.slug, "language": "", "version": story.version})
    assert response.status_code == 302
    after = stories_repo.get_by_slug(story.slug)
    assert after is not None and after.language is None
    change = audit.for_story(story.id)[0]
    assert change.changes["language"] == {"before": "fr", "after": None}


def test_the_studio_refuses_a_bad_language_with_a_message(ada: Client) -> None:
    form = {"title": "Odd", "slug": "", "description": "", "default_template": "list",
            "accent": "#c2410c", "background": "", "font": "system", "mode": "auto",
            "allowed_domains": "", "language": "<script>"}
    response = ada.post("/studio/stories/new", form)
    assert response.status_code == 400
    assert "is not a language tag" in response.content.decode()
    assert stories_repo.get_by_slug("odd") is None


# ---- in Chromium ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(embedded_db: object, static_files: None) -> Iterator[Gunicorn]:
    gunicorn = Gunicorn(embedded_db.uri, EMBED_CACHE_TTL="0.5")  # type: ignore[attr-defined]
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 800},
                                  timezone_id="Asia/Tokyo", locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    # Chromium asks for /favicon.ico on its own; anything else must load.
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    yield page
    context.close()
    assert not errors


@pytest.mark.browser
def test_relative_times_are_written_by_intl_in_the_story_language(
        server: Gunicorn, page: Page) -> None:
    story = make_story("fr-times", title="Fête du Port", language="fr")
    make_post(story, 0, posted_at=datetime.now(UTC) - timedelta(hours=3))
    make_post(story, 1, posted_at=datetime(2025, 3, 9, 23, 30, tzinfo=UTC))
    page.goto(server.url + "/e/fr-times")
    times = page.locator("time")
    assert times.nth(0).inner_text().replace("\xa0", " ") == "il y a 3 h"
    # 23:30 UTC on the 9th is already the 10th in Tokyo.
    assert times.nth(1).inner_text().replace("\xa0", " ") == "10 mars 2025"
    # The exact time on hover is in the reader's own time zone.
    assert "08:30" in (times.nth(1).get_attribute("title") or "")


@pytest.mark.browser
def test_a_right_to_left_story_lays_out_right_to_left(server: Gunicorn, page: Page) -> None:
    story = make_story("rtl", title="مهرجان الميناء", language="ar")
    make_post(story, 0, text="مرحبا بالجميع في المهرجان",
              author=Author("ليلى", "@layla@example.social", None, "https://example.social/@l"))
    page.goto(server.url + "/e/rtl?template=list")
    assert page.evaluate("document.dir") == "rtl"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    card = page.locator(".post").first.bounding_box()
    avatar = page.locator(".post .av").first.bounding_box()
    source = page.locator(".post .src").first.bounding_box()
    assert card and avatar and source
    # The avatar starts the header: on the right; the source icon ends it, on the left.
    assert avatar["x"] + avatar["width"] > card["x"] + card["width"] - 40
    assert source["x"] < avatar["x"]
    assert page.locator(".via").inner_text().startswith("عرض على Mastodon")
    # "Opens elsewhere" points away from the text: up and to the left.
    arrow = page.locator(".via > [aria-hidden]").first
    assert arrow.evaluate("e => getComputedStyle(e).transform").startswith("matrix(-1")
    more = page.locator(".foot .more").bounding_box()
    credit = page.locator(".foot .credit").bounding_box()
    assert more and credit and credit["x"] < more["x"]


@pytest.mark.browser
@pytest.mark.parametrize("language", ["ar", "en"])
def test_a_carousel_row_never_widens_its_document(server: Gunicorn, page: Page,
                                                  language: str) -> None:
    # The cards' hidden labels once escaped the scrolling row, so the document
    # overflowed sideways (and a right-to-left one painted nothing).
    story = make_story(f"row-{language}", language=language)
    for n in range(8):
        make_post(story, n)
    page.goto(server.url + f"/e/{story.slug}?template=carousel")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]  # type: ignore[index]
    first = page.locator(".slide").first.bounding_box()
    assert first and 0 <= first["x"] and first["x"] + first["width"] <= 900
    if language == "ar":
        assert first["x"] > 450  # the row starts on the right


def test_a_right_to_left_carousel_moves_with_its_arrows_and_buttons(server: Gunicorn,
                                                                      page: Page) -> None:
    story = make_story("row-keys-ar", language="ar")
    for n in range(8):
        make_post(story, n, text=f"#{n} منشور")
    page.goto(server.url + f"/e/{story.slug}?template=carousel")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the first card
    in_view = """() => {
        const card = document.activeElement, track = document.querySelector('.track');
        const a = card.getBoundingClientRect(), b = track.getBoundingClientRect();
        return card.matches('.slide > .post') && a.left >= b.left - 1 && a.right <= b.right + 1;
    }"""
    for n in range(1, 6):
        # Right to left, the next card is on the left.
        page.keyboard.press("ArrowLeft")
        assert page.evaluate("document.activeElement.textContent").count(f"#{n} ") == 1
        page.wait_for_function(in_view, timeout=10_000)  # a smooth scroll takes a moment
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.activeElement.textContent.includes('#4 ')",
                           timeout=10_000)
    assert page.evaluate("document.activeElement.textContent").count("#4 ") == 1
    page.keyboard.press("Home")
    page.wait_for_function("() => document.querySelector('.track').scrollLeft > -2",
                           timeout=10_000)
    next_button = page.locator("[data-carousel-next]")
    box = next_button.bounding_box()
    assert box and box["x"] < 450  # "next" sits at the row's end: the left
    next_button.click()
    page.wait_for_function("() => document.querySelector('.track').scrollLeft < -100",
                           timeout=10_000)
