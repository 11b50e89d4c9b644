"""Analytics in headless Chromium: what a reader's frame sends, as the rollups show it.

The publisher page (localhost) embeds the story (127.0.0.1) below the first screen;
the test scrolls it into view and out again, clicks, and reads the rollups the
server's endpoint wrote (it flushes every 0.2 s here).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from samembed.analytics.collect import Counter
from samembed.embedded_db import EmbeddedDB
from samembed.mongo import database
from samembed.repositories import flags as flags_repo
from samembed.repositories.stories import Story
from tests.axe import axe_summary, axe_violations
from tests.factories import make_story
from tests.servers import Gunicorn, PublisherSite, publish, sign_in
from tests.test_analytics_endpoint import beacon, first_post

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

# A reader's browser: the endpoint ignores headless ones, as it does crawlers.
READER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});"
GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"


@pytest.fixture(scope="module")
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    gunicorn = Gunicorn(embedded_db.uri, EMBED_CACHE_TTL="0.5", ANALYTICS_FLUSH_INTERVAL="0.2")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 900, "height": 800}, user_agent=READER)
    # Posts link to example.social: the outside world, closed here.
    context.route("https://example.social/**", lambda route: route.abort())
    yield context
    context.close()


def totals(story: Story, kind: str = "page") -> dict[str, int]:
    found: dict[str, int] = {}
    for doc in database()["stats_hourly"].find({"story_id": story.id, "kind": kind}):
        for name, n in doc["n"].items():
            found[name] = found.get(name, 0) + n
    return found


def wait_for(condition: Callable[[], Any], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the condition did not hold in time")


def wait_in_page(page: Page, condition: Callable[[], Any], timeout: float = 20) -> None:
    """`wait_for`, letting Playwright deliver the page's events meanwhile (its sync
    API hands them over only inside its own calls)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        page.wait_for_timeout(100)


def open_below_the_fold(context: BrowserContext, server: Gunicorn, publisher: PublisherSite,
                        story: Story) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    body = ('<div style="height:900px">Above the story</div>'
            f'<blockquote class="samembed" data-story="{story.slug}" data-template="list">'
            f'<a href="{server.url}/s/{story.slug}">Our story</a></blockquote>'
            f'<script async src="{server.url}/embed.js"></script>'
            '<div style="height:3000px">Below the story</div>')
    page.goto(publish(publisher, f"/{story.slug}", body))
    page.frame_locator("iframe").locator("article.post").first.wait_for(state="attached")
    assert errors == []
    return page


def scroll_to_frame(page: Page) -> None:
    page.evaluate("document.querySelector('iframe').scrollIntoView({block: 'start'})")


def scroll_away(page: Page) -> None:
    page.evaluate("window.scrollTo(0, 0)")


def beacons_of(context: BrowserContext) -> list[str]:
    """The event beacons the context's pages send while open (Chromium does not
    report to Playwright the ones a closing page sends)."""
    sent: list[str] = []
    context.on("request", lambda r: sent.append(r.post_data or "")
               if "/api/v1/events" in r.url else None)
    return sent


def endpoint_counts(server: Gunicorn) -> tuple[int, int]:
    """(beacons, events) the endpoint accepted, over its workers (/metrics)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:  # noqa: S310
        text = r.read().decode()
    beacons = re.search(r'^samembed_beacons_total\{reason="",result="accepted"\} (\S+)$',
                        text, re.M)
    events = re.search(r'^samembed_events_total\{result="accepted"\} (\S+)$', text, re.M)
    return (int(float(beacons.group(1))) if beacons else 0,
            int(float(events.group(1))) if events else 0)


def test_a_frame_in_view_for_over_a_second_counts_one_view_in_one_beacon(
    context: BrowserContext, server: Gunicorn, publisher: PublisherSite
) -> None:
    story = make_story("tour", posts=3)
    sent = beacons_of(context)
    beacons_before, events_before = endpoint_counts(server)
    page = open_below_the_fold(context, server, publisher, story)
    scroll_to_frame(page)
    # The reader looks for 3.5 s (the scenario, not a wait): longer than any
    # delay a batch had before the page view's end.
    page.wait_for_timeout(3500)
    scroll_away(page)
    assert sent == []  # nothing before the page is hidden
    page.close(run_before_unload=True)  # hidden: the batch goes out
    wait_for(lambda: totals(story).get("view") == 1)
    assert totals(story)["load"] == 1
    (doc,) = database()["stats_hourly"].find({"story_id": story.id, "kind": "page"})
    assert doc["origin"] == publisher.origin and doc["template"] == "list"
    # The server's count: every event of the page view, in one beacon.
    counted = sum(totals(story).values()) + sum(totals(story, "post").values())
    wait_for(lambda: endpoint_counts(server)[1] - events_before >= counted)
    assert endpoint_counts(server) == (beacons_before + 1, events_before + counted)


def test_a_frame_scrolled_past_in_a_third_of_a_second_counts_no_view(
    context: BrowserContext, server: Gunicorn, publisher: PublisherSite
) -> None:
    story = make_story("tour", posts=3)
    page = open_below_the_fold(context, server, publisher, story)
    scroll_to_frame(page)
    page.wait_for_timeout(300)
    scroll_away(page)
    # Past the dwell time, a click on a post: any view would have been queued before it.
    page.wait_for_timeout(1200)
    page.frame_locator("iframe").locator("article.post a.via").first.click()
    page.close(run_before_unload=True)
    wait_for(lambda: totals(story).get("click") == 1)
    assert totals(story) == {"load": 1, "click": 1}


def test_a_click_on_a_post_counts_once_with_its_post_id(
    context: BrowserContext, server: Gunicorn, publisher: PublisherSite
) -> None:
    story = make_story("tour", posts=3)
    page = open_below_the_fold(context, server, publisher, story)
    scroll_to_frame(page)
    card = page.frame_locator("iframe").locator("article.post").nth(1)
    post_id = card.get_attribute("data-post-id")
    card.locator("a.via").click()
    card.locator("a.via").click()
    page.close(run_before_unload=True)
    wait_for(lambda: totals(story, "post").get("click") == 1)
    (doc,) = database()["stats_hourly"].find({"story_id": story.id, "kind": "post",
                                               "n.click": {"$gt": 0}})
    assert str(doc["post_id"]) == post_id and doc["n"]["click"] == 1
    assert totals(story)["click"] == 1


@pytest.mark.parametrize("signal", [DNT, GPC], ids=["do-not-track", "global-privacy-control"])
def test_a_reader_who_says_no_sends_nothing(
    browser: Browser, context: BrowserContext, server: Gunicorn, publisher: PublisherSite,
    signal: str
) -> None:
    story = make_story("tour", posts=3)
    private = browser.new_context(viewport={"width": 900, "height": 800}, user_agent=READER)
    private.route("https://example.social/**", lambda route: route.abort())
    private.add_init_script(signal)  # as the browser's own setting would say it
    beacons: list[str] = []
    private.on("request", lambda r: beacons.append(r.url) if "/api/v1/events" in r.url else None)
    page = open_below_the_fold(private, server, publisher, story)
    scroll_to_frame(page)
    page.wait_for_timeout(1200)
    page.frame_locator("iframe").locator("article.post a.via").first.click()
    page.close(run_before_unload=True)
    private.close()
    # A reader without the signal, afterwards: once theirs is counted, the first
    # reader's would have been too.
    other = open_below_the_fold(context, server, publisher, story)
    other.close(run_before_unload=True)
    wait_for(lambda: totals(story).get("load") == 1)
    assert beacons == []
    assert totals(story) == {"load": 1}


def test_a_studio_preview_sends_nothing(
    browser: Browser, studio_server: tuple[Gunicorn, str]
) -> None:
    server, password = studio_server
    story = make_story("quay", posts=3, title="Quay night market")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, user_agent=READER)
    context.route("https://example.social/**", lambda route: route.abort())
    beacons: list[str] = []
    context.on("request", lambda r: beacons.append(r.url) if "/api/v1/events" in r.url else None)
    page = context.new_page()
    sign_in(page, server, password)
    page.goto(f"{server.url}/studio/stories/{story.id}/")
    page.locator("[data-stage]").scroll_into_view_if_needed()
    frame = page.frame_locator("[data-frame]")
    frame.locator("article.post").first.wait_for(state="attached")
    assert frame.locator("html").get_attribute("data-stats") is None
    page.wait_for_timeout(1200)  # in view as long as a counted view needs
    # The preview is scaled and takes no pointer: the click as its handlers see it.
    frame.locator("article.post a.via").first.dispatch_event("click")
    page.close(run_before_unload=True)
    context.close()
    # The public embed of the same story, afterwards, is counted: the preview's
    # beacons, had there been any, would have arrived first.
    reader = browser.new_context(user_agent=READER)
    public = reader.new_page()
    public.goto(f"{server.url}/e/{story.slug}")
    public.close(run_before_unload=True)
    reader.close()
    wait_for(lambda: totals(story).get("load") == 1, timeout=30)
    assert beacons == []
    assert totals(story) == {"load": 1}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dashboard_has_no_axe_violations(
    browser: Browser, studio_server: tuple[Gunicorn, str], scheme: str
) -> None:
    server, password = studio_server
    story = make_story("quay", posts=3, title="Quay night market")
    # Counted as the endpoint counts (Playwright holds this thread's event loop).
    counter = Counter()
    counter.refresh_salts()
    clicked = first_post(story)
    for i in range(12):
        events: list[list[object]] = [["load", None, 10], ["view", None, 1100],
                                      ["post_view", clicked, 1500]]
        if i % 3 == 0:
            events.append(["click", clicked, 2000])
        counter.accept(beacon(story, events, view=f"pv-axe-{i:012d}",
                              origin="https://news.example" if i % 2 else "https://blog.example"),
                       f"192.0.2.{i}", READER.encode())
    counter.flush()
    context = browser.new_context(color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    sign_in(page, server, password)
    for period in ("7d", "24h"):
        page.goto(f"{server.url}/studio/stories/{story.id}/stats?period={period}")
        page.wait_for_load_state("load")
        page.eval_on_selector_all("details", "els => els.forEach(d => d.open = true)")
        violations = axe_violations(page)
        assert not violations, f"{period}:\n{axe_summary(violations)}"
        if os.environ.get("SAMEMBED_SHOTS"):  # for a person to look at
            page.screenshot(path=f"{os.environ['SAMEMBED_SHOTS']}/stats-{period}-{scheme}.png",
                            full_page=True)
    context.close()


def test_a_reader_who_says_no_still_reports_a_flagged_frames_error_on_its_own(
    browser: Browser, server: Gunicorn, publisher: PublisherSite
) -> None:
    # Analytics does not run for them, so the error cannot ride in its beacon.
    make_story("beta", posts=3, status="published")
    flags_repo.create("grid-v2", "ada", unit="origin", origins=publisher.origin)
    private = browser.new_context(user_agent=READER)
    private.route("https://example.social/**", lambda route: route.abort())
    private.add_init_script(DNT)
    reports: list[str] = []
    private.on("request", lambda r: reports.append(r.url) if "/flags/error" in r.url else None)
    page = private.new_page()
    url = publish(publisher, "/beta", (
        '<blockquote class="samembed" data-story="beta" data-template="grid">'
        f'<a href="{server.url}/s/beta">Our story</a></blockquote>'
        f'<script async src="{server.url}/embed.js"></script>'))
    try:
        def flagged_frame() -> bool:
            # Each worker's flag watch sees the flag within its interval.
            page.goto(url)
            page.frame_locator("iframe").locator("article.post").first.wait_for()
            return page.frame_locator("iframe").locator("html[data-flags]").count() == 1

        wait_for(flagged_frame)
        embed = next(f for f in page.frames if "/e/beta" in f.url)
        # Sent at once, while the page is open, on its own.
        with private.expect_event("request", lambda r: "/flags/error" in r.url), \
                page.expect_event("pageerror"):
            embed.evaluate("() => { setTimeout(() => { throw new Error('broken variant') }) }")
        assert len(reports) == 1
    finally:
        private.close()


def test_a_page_view_open_for_five_minutes_sends_its_batch_without_being_hidden(
    context: BrowserContext, server: Gunicorn, publisher: PublisherSite
) -> None:
    story = make_story("tour", posts=3)
    sent = beacons_of(context)
    context.clock.install()
    page = open_below_the_fold(context, server, publisher, story)
    scroll_to_frame(page)
    page.wait_for_timeout(500)  # real time, for the intersection observer to say so
    page.clock.run_for(1500)  # in view past the dwell: a view queued
    assert sent == []
    # Five minutes after its first event the batch goes out, the page still open:
    # the hour it is counted in is the hour it happened, give or take five minutes.
    page.clock.run_for(300_000)
    wait_in_page(page, lambda: len(sent) == 1)
    assert json.loads(sent[0])["e"][0][0] == "load"
    wait_for(lambda: totals(story).get("load") == 1)
    # The view goes with it, or (on a machine too busy for the observer to have
    # answered in time) with the rest when the page is hidden: counted once.
    page.close(run_before_unload=True)
    wait_for(lambda: totals(story).get("view") == 1)
    assert totals(story)["load"] == 1


def test_a_batch_that_reaches_200_events_goes_out_at_once_and_the_rest_later(
    context: BrowserContext, server: Gunicorn, publisher: PublisherSite
) -> None:
    story = make_story("tour", posts=3)
    sent = beacons_of(context)
    beacons_before = endpoint_counts(server)[0]
    page = open_below_the_fold(context, server, publisher, story)
    embed = next(f for f in page.frames if "/e/tour" in f.url)
    # 210 pages asked for with "Show more" (a stand-in button: no fetches): with
    # the load, 211 events, more than one beacon may carry.
    embed.evaluate("""() => {
        const more = document.createElement("button");
        more.setAttribute("data-more", "");
        more.addEventListener("click", e => e.preventDefault());
        document.body.append(more);
        for (let i = 0; i < 210; i++) more.click();
    }""")
    wait_in_page(page, lambda: len(sent) == 1)
    first = json.loads(sent[0])["e"]
    assert len(first) == 200 and first[0][0] == "load"
    page.close(run_before_unload=True)
    # The other 11 when the page is hidden: two beacons for the page view in all.
    wait_for(lambda: endpoint_counts(server)[0] == beacons_before + 2)
    # A page asked for is known by its time (a replay names the same one), and
    # counted at most 20 times a page view, however many were sent.
    wait_for(lambda: totals(story).get("load") == 1)
    assert 1 <= totals(story).get("more", 0) <= 20
