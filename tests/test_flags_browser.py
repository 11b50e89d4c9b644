"""Flags as a publisher's page meets them, in Chromium: the loader names the page's
origin in the frame's URL exactly as the server computes it, a beta publisher
on the allow-list gets the new template while another origin keeps the old one,
and a live embed open on the new variant follows a kill without a reload."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from samembed.embedded_db import EmbeddedDB
from samembed.flags import origin_unit
from samembed.repositories import flags as repo
from tests.factories import make_story
from tests.servers import Gunicorn, PublisherSite, publish

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]



def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our server
        return bytes(response.read())


def snippet(server: Gunicorn, story: str) -> str:
    return (f'<blockquote class="samembed" data-story="{story}" data-template="grid">'
            f'<a href="{server.url}/s/{story}">Our story</a></blockquote>'
            f'<script async src="{server.url}/embed.js"></script>')


def test_a_beta_publisher_gets_the_new_grid_and_the_frame_url_names_its_origin(
        browser: Browser, server: Gunicorn, publisher: PublisherSite) -> None:
    make_story("beta", posts=4, status="published")
    repo.create("grid-v2", "ada", unit="origin", origins=publisher.origin)
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    alone: list[str] = []  # error reports sent on their own, beside the analytics beacon
    context.on("request", lambda r: alone.append(r.url) if "/flags/error" in r.url else None)
    unit = origin_unit(publisher.origin)
    # The worker's flag watch sees the new flag within its interval: wait for it.
    deadline = time.monotonic() + 5
    while b"data-template-version" not in fetch(f"{server.url}/e/beta?template=grid&o={unit}"):
        assert time.monotonic() < deadline, "the flag did not reach the worker"
    try:
        page.goto(publish(publisher, "/beta", snippet(server, "beta")))
        src = page.eval_on_selector("iframe", "f => f.src")
        assert f"/e/beta?template=grid&o={unit}#" in src
        frame = page.frame_locator("iframe").first
        frame.locator("article.post").first.wait_for()
        assert frame.locator("main[data-template-version='2']").count() == 1
        assert frame.locator("article.post").count() == 4
        # A script error in the frame is reported for the variant it shows.
        embed = next(f for f in page.frames if "/e/beta" in f.url)
        with page.expect_event("pageerror"):
            embed.evaluate("() => { setTimeout(() => { throw new Error('broken variant') }) }")
        # Carried by the page view's one analytics beacon, which goes when it is hidden.
        page.close(run_before_unload=True)
        series = 'samembed_flag_events_total{flag="grid-v2",kind="client_error",variant="on"} 1'
        deadline = time.monotonic() + 5
        while series not in fetch(f"{server.url}/metrics").decode():
            assert time.monotonic() < deadline, "the error beacon was not counted"
        # The same embed as another origin's frame asks for it.
        other = context.new_page()
        other.goto(f"{server.url}/e/beta?template=grid&o={origin_unit('https://x.example')}")
        assert other.locator("main.feed").count() == 1
        assert other.locator("main[data-template-version='2']").count() == 0
    finally:
        context.close()
    # The one error the test threw, no other.
    assert errors == ["broken variant"], errors
    assert alone == []


@pytest.fixture(scope="module")
def live_gunicorn(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    """Two workers, the shipped 10 s cache (nothing may come from entries expiring),
    open embeds polling /live/ every 0.3 s."""
    gunicorn = Gunicorn(embedded_db.uri, workers=2, LIVE_POLL_INTERVAL="0.3")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


def test_a_live_embed_open_on_the_new_variant_returns_to_the_old_one_without_a_reload(
        browser: Browser, live_gunicorn: Gunicorn, publisher: PublisherSite) -> None:
    make_story("tonight", posts=4, live=True)
    flag = repo.create("grid-v2", "ada", unit="origin", origins=publisher.origin)
    unit = origin_unit(publisher.origin)
    deadline = time.monotonic() + 5
    while b"data-template-version" not in fetch(
            f"{live_gunicorn.url}/e/tonight?template=grid&o={unit}"):
        assert time.monotonic() < deadline, "the flag did not reach the worker"
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(publish(publisher, "/tonight", snippet(live_gunicorn, "tonight")))
        frame = page.frame_locator("iframe").first
        expect(frame.locator("main[data-template-version='2'] article.post")).to_have_count(4)
        embed = next(f for f in page.frames if "/e/tonight" in f.url)
        # Gone if the frame reloads.
        embed.evaluate("() => { window.stillTheSameDocument = true }")
        assert embed.evaluate("() => document.documentElement.dataset.flags") == "grid-v2=on"

        repo.update(flag, "ada", action="flag.kill", killed=True)
        killed_at = time.monotonic()
        expect(frame.locator("main.feed[data-masonry] article.post")).to_have_count(
            4, timeout=5000)
        assert time.monotonic() - killed_at < 5
        assert frame.locator("main[data-template-version='2']").count() == 0
        assert embed.evaluate("() => window.stillTheSameDocument") is True
        # Its error reports name what it shows now (no embed flag is left).
        assert embed.evaluate("() => document.documentElement.dataset.flags") is None

        # Released: back to the new variant, still without a reload.
        repo.update(repo.get("grid-v2"), "ada", action="flag.unkill",  # type: ignore[arg-type]
                    killed=False)
        expect(frame.locator("main[data-template-version='2'] article.post")).to_have_count(
            4, timeout=5000)
        assert embed.evaluate("() => window.stillTheSameDocument") is True
    finally:
        context.close()
    assert errors == [], errors
