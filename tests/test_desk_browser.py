"""The moderation desk in Chromium: keyboard moderation without page loads, undo,
new posts arriving by themselves, and a phone-sized queue.

Against gunicorn with two workers and the embedded MongoDB, as an editor meets it.
"""

from __future__ import annotations

import http.client
import json

import pytest
from playwright.sync_api import Browser, Page, expect

from samembed.repositories import posts as posts_repo
from samembed.repositories import sources
from samembed.repositories.stories import Story
from tests.factories import make_post, make_story
from tests.servers import Gunicorn, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

TOKEN = "desk-push-token-0123456789"  # noqa: S105 - a test fixture


def open_queue(browser: Browser, server: Gunicorn, password: str,
               story: Story, state: str = "pending",
               viewport: tuple[int, int] = (1280, 800)) -> tuple[Page, list[str]]:
    page = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}).new_page()
    sign_in(page, server, password)
    page.goto(f"{server.url}/studio/stories/{story.id}/posts?state={state}")
    expect(page.locator(".qcard").first).to_be_visible()
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    return page, loads


def states(story: Story) -> dict[str, int]:
    return posts_repo.count_by_state(story.id)


def test_twenty_posts_are_moderated_with_the_keyboard_and_no_page_load(
        browser: Browser, studio_server: tuple[Gunicorn, str]) -> None:
    server, password = studio_server
    story = make_story("desk-keys")
    for n in range(20):
        make_post(story, n, state="pending")
    page, loads = open_queue(browser, server, password, story)

    page.locator(".qcard").first.focus()
    for n in range(20):
        page.keyboard.press("a" if n % 2 == 0 else "r")
        # Focus is on the next post at once, before the server answers.
        if n < 19:
            expect(page.locator(".qcard:focus")).to_have_count(1)
    expect(page.locator(".qcard")).to_have_count(0)
    expect(page.locator("[data-count=pending]")).to_have_text("0")

    assert loads == []
    assert states(story) == {"pending": 0, "approved": 10, "rejected": 10}
    page.context.close()


def test_undo_brings_back_a_removed_post_where_it_was(
        browser: Browser, studio_server: tuple[Gunicorn, str]) -> None:
    server, password = studio_server
    story = make_story("desk-undo")
    for n in range(3):
        make_post(story, n, state="approved", text=f"Post {n} of the night")
    page, loads = open_queue(browser, server, password, story, "approved")

    second = page.locator(".qcard").nth(1)
    expect(second).to_contain_text("Post 1 of the night")
    second.get_by_role("button", name="Remove").click()
    expect(page.locator("[data-undo-text]")).to_contain_text("removed")
    expect(page.locator(".qcard")).to_have_count(2)
    assert len(posts_repo.list_published(story.id, 10)) == 2

    page.get_by_role("button", name="Undo").click()

    expect(page.locator("[data-undo-text]")).to_contain_text("restored")
    expect(page.locator(".qcard").nth(1)).to_contain_text("Post 1 of the night")
    assert [p.text for p in posts_repo.list_published(story.id, 10)] == [
        f"Post {n} of the night" for n in range(3)]
    assert loads == []
    page.context.close()


def test_a_conflict_puts_the_card_back_as_the_post_now_is(
        browser: Browser, studio_server: tuple[Gunicorn, str]) -> None:
    server, password = studio_server
    story = make_story("desk-conflict")
    make_post(story, 1, state="pending", text="Contested post")
    page, _ = open_queue(browser, server, password, story)
    stored = posts_repo.list_for_studio(story.id, "pending", 0, 1)[0]
    assert posts_repo.update(stored, {"pinned": True})  # a colleague pinned it meanwhile

    page.locator(".qcard").first.get_by_role("button", name="Approve").click()

    expect(page.locator(".undo.error")).to_contain_text("someone changed this post meanwhile")
    expect(page.locator(".qcard").first).to_contain_text("pinned")
    assert states(story)["pending"] == 1
    page.context.close()


def test_a_pushed_post_appears_in_an_open_queue_within_three_seconds(
        browser: Browser, studio_server: tuple[Gunicorn, str]) -> None:
    server, password = studio_server
    story = make_story("desk-live")
    make_post(story, 1, state="pending", text="Already here")
    sources.set_push_token(story.id, TOKEN)
    page, loads = open_queue(browser, server, password, story)

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", f"/api/v1/stories/{story.slug}/posts", json.dumps({"posts": [{
        "id": "new-1", "text": "Fresh from the push API", "created_at": "2026-11-30T12:00:00Z",
        "author": {"name": "Desk bot"}}]}),
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()

    notice = page.get_by_role("button", name="Show 1 new post")
    expect(notice).to_be_visible(timeout=3000)
    expect(page.locator("[data-count=pending]")).to_have_text("2")
    expect(page.locator(".qcard")).to_have_count(1)  # offered, not jumped in
    notice.click()
    expect(page.locator(".qcard").first).to_contain_text("Fresh from the push API")
    assert loads == []
    page.context.close()


def test_the_queue_fits_a_phone_and_every_action_is_reachable(
        browser: Browser, studio_server: tuple[Gunicorn, str]) -> None:
    server, password = studio_server
    story = make_story("desk-phone")
    make_post(story, 1, state="approved", text="A long word: " + "Donaudampfschifffahrt" * 6)
    page, _ = open_queue(browser, server, password, story, "approved", viewport=(390, 844))

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    card = page.locator(".qcard").first
    for name in ("Reject", "Back to queue", "Pin", "Highlight", "Remove", "Move up",
                 "Move down"):
        button = card.get_by_role("button", name=name, exact=True)
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert box["height"] >= 40
    page.context.close()
