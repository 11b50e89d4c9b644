"""Flags as a publisher's page meets them, in Chromium: the loader names the page's
origin in the frame's URL exactly as the server computes it, and a beta publisher
on the allow-list gets the new template while another origin keeps the old one."""

from __future__ import annotations

import time
import urllib.request

import pytest
from playwright.sync_api import Browser

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
