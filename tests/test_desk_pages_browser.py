"""The remote and the Sources page in headless Chromium, against gunicorn with two
workers: a phone-sized remote with every action reachable, Hide and its undo in
place, screens counted across workers, and a source tried with Test in place.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from samembed.embedded_db import EmbeddedDB
from samembed.repositories import posts as posts_repo
from samembed.repositories import sources
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.fakes.mastodon import FakeMastodon
from tests.servers import ROOT, Gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def desk(embedded_db: EmbeddedDB, static_files: None, upstream: FakeMastodon,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gunicorn, str]]:
    """gunicorn with two workers, the fake Mastodon pinned, and an editor's password."""
    home = tmp_path_factory.mktemp("desk")
    server = Gunicorn(embedded_db.uri, workers=2, DATABASE_URL=f"sqlite:///{home}/a.sqlite3",
                      LIVE_POLL_INTERVAL="0.3",
                      OUTBOUND_RESOLVE=f"{upstream.host}:80=127.0.0.1:{upstream.port}")
    for step in (["migrate", "--noinput"], ["create_dev_editor", str(home / "password")]):
        subprocess.run([sys.executable, "manage.py", *step], cwd=ROOT, check=True,
                       env=server.env, capture_output=True)
    server.start()
    yield server, (home / "password").read_text().strip()
    server.stop()


def signed_in(browser: Browser, desk: tuple[Gunicorn, str],
              viewport: ViewportSize) -> Page:
    server, password = desk
    context = browser.new_context(viewport=viewport, has_touch=viewport == PHONE)
    page = context.new_page()
    page.goto(server.url + "/studio/")
    page.fill("input[name=username]", "editor")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Stories")
    return page


@pytest.fixture
def phone(browser: Browser, desk: tuple[Gunicorn, str]) -> Iterator[Page]:
    page = signed_in(browser, desk, PHONE)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.context.close()
    assert errors == [], errors


@pytest.fixture
def laptop(browser: Browser, desk: tuple[Gunicorn, str]) -> Iterator[Page]:
    page = signed_in(browser, desk, {"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.context.close()
    assert errors == [], errors


def open_remote(page: Page, server: Gunicorn, story: Story) -> None:
    page.goto(f"{server.url}/studio/stories/{story.id}/remote")
    expect(page.locator("h1")).to_contain_text("Remote")


def navigations(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("framenavigated", lambda frame: seen.append(frame.url)
            if frame == page.main_frame else None)
    return seen


def test_the_remote_fits_a_phone_and_every_action_is_reachable(
    phone: Page, desk: tuple[Gunicorn, str]
) -> None:
    story = make_story("phone-show", posts=6, live=True,
                       title="A long-running live story title that has to wrap on a phone")
    open_remote(phone, desk[0], story)

    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    buttons = phone.locator("[data-remote-desk] button")
    assert buttons.count() >= 2 + 2 + 6 + 6 * 2  # pause, next, modes, speeds, post actions
    for i in range(buttons.count()):
        button = buttons.nth(i)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box is not None, button.inner_text()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], button.inner_text()
        assert box["height"] >= 44 and box["width"] >= 44, (button.inner_text(), box)
        expect(button).to_be_visible()


def test_hide_shows_an_undo_and_undo_restores_without_a_reload(
    phone: Page, desk: tuple[Gunicorn, str]
) -> None:
    story = make_story("undo-live", posts=4, live=True)
    victim = posts_repo.list_published(story.id, 10)[1]
    open_remote(phone, desk[0], story)
    moved = navigations(phone)
    card = phone.locator(f'li[data-post-id="{victim.id}"]')

    card.get_by_role("button", name="Hide everywhere").click()
    undo = phone.locator("[data-remote-undo] button")
    expect(undo).to_have_text("Undo (10 s)")
    expect(undo).to_be_focused()
    expect(phone.locator("[data-remote-said]")).to_contain_text("Hidden everywhere: ‘")
    expect(card).to_have_count(0)
    hidden = posts_repo.get_by_key(str(victim.id))
    assert hidden is not None and hidden.state == "rejected"

    undo.click()
    expect(phone.locator("[data-remote-said]")).to_contain_text("Back on the screens: ‘")
    expect(card).to_have_count(1)
    expect(phone.locator("[data-remote-undo]")).to_have_count(0)
    restored = posts_repo.get_by_key(str(victim.id))
    assert restored is not None and restored.state == "approved"
    assert moved == []


def test_two_open_screens_are_counted_and_the_answers_say_so(
    browser: Browser, laptop: Page, desk: tuple[Gunicorn, str]
) -> None:
    server = desk[0]
    story = make_story("counted-live", posts=3, live=True)
    venue = browser.new_context(viewport={"width": 960, "height": 540})
    try:
        for _ in range(2):
            screen = venue.new_page()
            screen.goto(f"{server.url}/screen/counted-live")
            screen.locator("article.post").first.wait_for()
        open_remote(laptop, server, story)
        count = laptop.locator("[data-remote-screens]")
        # Each worker writes its snapshot once a second; look again until both are in.
        deadline = time.monotonic() + 8
        while count.get_attribute("data-remote-screens") != "2" and time.monotonic() < deadline:
            time.sleep(0.5)
            open_remote(laptop, server, story)
        expect(count).to_have_text("2 screens connected")

        laptop.locator(".remote-main").get_by_role("button", name="Pause").click()
        expect(laptop.locator("[data-remote-said]")).to_have_text("All 2 screens paused.")
        expect(laptop.locator(".remote-main").get_by_role("button", name="Resume")).to_be_focused()
        laptop.get_by_role("button", name="One at a time").click()
        expect(laptop.get_by_role("button", name="One at a time")).to_have_attribute(
            "aria-pressed", "true")
        expect(laptop.get_by_role("button", name="Wall", exact=True)).to_have_attribute(
            "aria-pressed", "false")
        for screen in venue.pages:
            expect(screen.locator("html")).to_have_class("held", timeout=2500)
    finally:
        venue.close()


def test_sources_show_one_kind_and_test_answers_in_place(
    laptop: Page, desk: tuple[Gunicorn, str], upstream: FakeMastodon
) -> None:
    story = make_story("sources-live")
    upstream.post("<p>Ferries running late in the fog</p>", tags=["harbourdesk"])
    laptop.goto(f"{desk[0].url}/studio/stories/{story.id}/sources")
    moved = navigations(laptop)
    mastodon = laptop.locator('fieldset[data-kind="mastodon"]')
    rss = laptop.locator('fieldset[data-kind="rss"]')
    expect(mastodon).to_be_visible()
    expect(rss).to_be_hidden()
    laptop.select_option("#kind", "rss")
    expect(rss).to_be_visible()
    expect(mastodon).to_be_hidden()
    laptop.select_option("#kind", "mastodon")
    # Within Mastodon: the hashtag for a hashtag, the account for an account's posts.
    expect(laptop.locator("#tag")).to_be_visible()
    expect(laptop.locator("#account")).to_be_hidden()
    laptop.select_option("#mastodon_mode", "account")
    expect(laptop.locator("#account")).to_be_visible()
    expect(laptop.locator("#tag")).to_be_hidden()
    laptop.select_option("#mastodon_mode", "hashtag")

    laptop.fill("#instance", upstream.base)
    laptop.fill("#tag", "harbourdesk")
    laptop.get_by_role("button", name="Test", exact=True).click()
    result = laptop.locator("[data-src-trial]")
    expect(result).to_contain_text("It works: this source would collect 1 post now.")
    expect(result.locator(".src-posts li")).to_contain_text("Ferries running late in the fog")

    laptop.fill("#instance", "www.nowhere-samembed.invalid")
    laptop.get_by_role("button", name="Test", exact=True).click()
    expect(result.locator("p.error")).to_have_text(
        "The address www.nowhere-samembed.invalid could not be found. Check the spelling.")
    assert moved == []
    assert sources.for_story(story.id) == []
