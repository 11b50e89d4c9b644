"""Length, paging and a steady page, in headless Chromium against gunicorn as shipped.

"Show more" reaches every approved post of a long story inside the frame, which
grows and is never shorter than its document; a publisher's page with three
embeds barely moves while they load (CLS, PerformanceObserver 'layout-shift');
bad snippets degrade: an unknown story collapses to one line, odd values fall
back with a console warning; a screen set up before its story is published
starts by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, ConsoleMessage, Frame, Page, expect

from samembed.embed.snippet import snippet as written_snippet
from samembed.embedded_db import EmbeddedDB
from samembed.flags import origin_unit
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Author, Post
from samembed.repositories.stories import Story
from tests.factories import make_post, make_story
from tests.servers import Gunicorn, PublisherSite, publish

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

POLL_SECONDS = 1.0
SHOTS = Path("/work/helpers/shots/paging")


@pytest.fixture(scope="module")
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    # The response cache as shipped (10 s): pages and the waiting screen rely on
    # canonical URLs and the version watch, not on entries expiring.
    gunicorn = Gunicorn(embedded_db.uri, LIVE_POLL_INTERVAL=str(POLL_SECONDS))
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


@pytest.fixture
def context_page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page at 900x800 and the console warnings it logged; no script errors."""
    context = browser.new_context(viewport={"width": 900, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    warnings: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def console(message: ConsoleMessage) -> None:
        if message.type == "warning":
            warnings.append(message.text)

    page.on("console", console)
    yield page, warnings
    context.close()
    assert errors == [], errors


@pytest.fixture
def page(context_page: tuple[Page, list[str]]) -> Page:
    return context_page[0]


def snippet(server: Gunicorn, story: str, **data: str) -> str:
    attrs = "".join(f' data-{k.replace("_", "-")}="{v}"' for k, v in data.items())
    return (f'<blockquote class="samembed" data-story="{story}"{attrs}>'
            f'<a href="{server.url}/s/{story}">The story</a></blockquote>'
            f'<script async src="{server.url}/embed.js"></script>')


def embed_frame(page: Page, slug: str) -> Frame:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for frame in page.frames:
            if f"/e/{slug}" in frame.url:
                return frame
        page.wait_for_timeout(50)
    raise AssertionError(f"no frame for {slug}")


def long_story(slug: str, approved: int, rejected: int = 0) -> Story:
    story = make_story(slug)
    now = datetime.now(UTC)
    batch = [
        Post(story_id=story.id, source="mastodon", external_id=f"{slug}-{n}",
             author=Author(f"Author {n % 17}", f"@a{n % 17}@example.social"),
             text=f"Post {n} of a long story. " + "Words to wrap a line or two. " * (n % 4),
             posted_at=now - timedelta(minutes=n),
             state="approved" if n < approved else "rejected", pinned=n == 7)
        for n in range(approved + rejected)
    ]
    assert all(posts_repo.insert_new(batch))
    return story


def test_show_more_reaches_every_approved_post_and_the_frame_grows(
    page: Page, server: Gunicorn, publisher: PublisherSite
) -> None:
    story = long_story("marathon", approved=250, rejected=6)
    page.goto(publish(publisher, "/marathon", "<h1>Marathon</h1>" + snippet(server, "marathon",
                                                                           template="list")))
    frame = embed_frame(page, "marathon")
    frame.wait_for_selector("article.post")
    iframe = page.locator("iframe")
    heights: list[float] = []
    count = frame.locator("article.post").count()
    assert count == 20
    clicks = 0
    while frame.locator("[data-more]").count() and clicks < 20:
        button = frame.locator("[data-more]")
        button.focus()
        page.keyboard.press("Enter")
        frame.wait_for_function(f"() => document.querySelectorAll('article.post').length > {count}")
        first_new = frame.locator("article.post").nth(count).get_attribute("data-post-id")
        # Focus moves to the first new card, so keyboard and screen reader users go on there.
        assert frame.evaluate("document.activeElement.dataset.postId") == first_new
        count = frame.locator("article.post").count()
        # The frame reports its new height at once; it is never shorter than its document.
        page.wait_for_function(
            "h => document.querySelector('iframe').getBoundingClientRect().height >= h",
            arg=frame.evaluate("document.documentElement.scrollHeight"))
        heights.append(iframe.bounding_box()["height"])  # type: ignore[index]
        clicks += 1
    assert clicks == 12 and count == 250
    assert heights == sorted(heights) and heights[-1] > heights[0] * 5
    shown = frame.locator("article.post").evaluate_all("els => els.map(e => e.dataset.postId)")
    assert shown == [str(p.id) for p in posts_repo.list_published(story.id, 1000)]
    assert frame.evaluate("document.documentElement.scrollHeight") <= heights[-1]
    # Relative times and icons of the appended cards work as on the first page.
    assert frame.locator("article.post >> nth=249 >> time").inner_text() != ""
    assert frame.locator("article.post >> nth=249 >> use").first.get_attribute("href") == (
        "#i-mastodon")
    assert frame.evaluate("!!document.getElementById('i-mastodon')")


LAYOUT_SHIFTS = """<script>
  // Layout shifts without recent input; `framed`: when the loader made the frames.
  window.shifts = []; window.framed = null;
  new PerformanceObserver(list => {
    for (const e of list.getEntries())
      if (!e.hadRecentInput) window.shifts.push([e.startTime, e.value]);
  }).observe({type: 'layout-shift', buffered: true});
  new MutationObserver(() => {
    if (window.framed === null && document.querySelector('iframe'))
      window.framed = performance.now();
  }).observe(document.documentElement, {childList: true, subtree: true});
</script>"""


def three_embeds(server: Gunicorn, loader_in_head: bool, reserved: bool = False) -> str:
    loader = f'<script src="{server.url}/embed.js"></script>'
    text = "<p>" + "A paragraph of the publisher's article. " * 4 + "</p>"
    # The carousel first: its box is the one in view while the page loads.
    templates = ("carousel", "grid", "list")
    if reserved:
        blocks = [written_snippet(server.url, "demo", "The story", t) for t in templates]
    else:
        blocks = [snippet(server, "demo", template=t) for t in templates]
    if loader_in_head:
        blocks = [b.split("<script")[0] for b in blocks]
    head = LAYOUT_SHIFTS + (loader if loader_in_head else "")
    return (f"<head>{head}</head><main style='max-width:760px;margin:0 auto;font:18px/1.6 serif'>"
            f"<h1>Harbour festival</h1>{text}{blocks[0]}{text}{blocks[1]}{text}{blocks[2]}{text}"
            "</main>")


def read_through(page: Page) -> None:
    """Scroll the whole page down as a reader would, every lazy frame loading on the way."""
    page.wait_for_function("document.querySelectorAll('iframe').length === 3")
    y, total = 0, 1
    while y < total and y < 200_000:
        page.mouse.wheel(0, 600)  # scrolling is not input that excuses a shift
        page.wait_for_timeout(120)
        y, total = page.evaluate("[scrollY + innerHeight, document.documentElement.scrollHeight]")
    page.wait_for_timeout(500)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_a_publisher_page_with_three_embeds_does_not_move_as_they_load(
    browser: Browser, server: Gunicorn, publisher: PublisherSite,
    width: int, height: int
) -> None:
    call_command("load_demo", verbosity=0)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    # The loader in the page's <head>: the frames, at their reserved heights, are
    # there at the first paint; what moves after is the loader's guesswork.
    page.goto(publish(publisher, f"/three-head-{width}", three_embeds(server, True)))
    read_through(page)
    head = sum(v for _, v in page.evaluate("window.shifts"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"three-embeds-{width}.png"))
    context.close()
    # The snippet as documented (async, after each placeholder), on a first visit:
    # the placeholders become frames once, when the loader arrives; after that,
    # nothing moves.
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(publish(publisher, f"/three-async-{width}", three_embeds(server, False)))
    read_through(page)
    shifts, framed = page.evaluate("[window.shifts, window.framed]")
    swap = sum(v for t, v in shifts if t <= framed + 100)
    after = sum(v for t, v in shifts if t > framed + 100)
    context.close()
    # The snippet as the studio, the story page and the docs write it: each
    # placeholder reserves its height, so even the swap moves nothing.
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(publish(publisher, f"/three-reserved-{width}", three_embeds(server, False, True)))
    read_through(page)
    reserved = sum(v for _, v in page.evaluate("window.shifts"))
    context.close()
    print(f"CLS at {width}px: loader in head {head:.4f}; snippet as written {reserved:.4f}; "
          f"bare async snippet {swap + after:.4f} (the placeholders' swap {swap:.4f}, "
          f"after it {after:.4f})")
    assert head <= 0.05, width
    assert reserved <= 0.05, width
    assert after <= 0.05, (width, shifts, framed)


def test_an_unknown_or_draft_story_collapses_to_one_line(
    page: Page, server: Gunicorn, publisher: PublisherSite
) -> None:
    make_story("later", posts=2, status="draft")
    page.goto(publish(publisher, "/missing", snippet(server, "no-such-story", template="grid")
                      + "<p id=after>after</p>" + snippet(server, "later")))
    page.wait_for_function(
        "() => [...document.querySelectorAll('iframe')].every(f => f.offsetHeight < 80)",
        timeout=10_000)
    for slug in ("no-such-story", "later"):
        link = embed_frame(page, slug).locator("a")
        assert link.get_attribute("href") == f"/s/{slug}"
        assert link.is_visible()
    assert 40 <= page.locator("iframe").first.bounding_box()["height"] < 80  # type: ignore[index]


def test_odd_snippet_values_fall_back_with_a_warning(
    context_page: tuple[Page, list[str]], server: Gunicorn, publisher: PublisherSite
) -> None:
    page, warnings = context_page
    make_story("odd", posts=30)
    page.goto(publish(publisher, "/odd",
                      snippet(server, "odd", template="Grid", limit="abc")
                      + snippet(server, "odd", template="GRID", limit="5")
                      + snippet(server, "odd", template="fancy", limit="0")
                      + snippet(server, "odd", limit="1000000000", max_height="-3")
                      + snippet(server, "odd", template="list", theme="dark")
                      + snippet(server, "odd", theme="Night")))
    page.wait_for_function("document.querySelectorAll('iframe').length === 6")
    sources = page.eval_on_selector_all("iframe", "fs => fs.map(f => f.src.split('#')[0])")
    # Each frame's URL ends with the page's origin unit (`o`, for flags).
    o = origin_unit(publisher.origin)
    assert sources == [f"{server.url}/e/odd?template=grid&o={o}",
                       f"{server.url}/e/odd?template=grid&limit=5&o={o}",
                       f"{server.url}/e/odd?o={o}", f"{server.url}/e/odd?o={o}",
                       f"{server.url}/e/odd?template=list&theme=dark&o={o}",
                       f"{server.url}/e/odd?o={o}"]
    # A lazy frame loads once near the viewport.
    page.locator("iframe").nth(4).scroll_into_view_if_needed()
    dark = page.frame_locator("iframe >> nth=4")
    expect(dark.locator("html")).to_have_attribute("data-theme", "dark", timeout=10_000)
    counts = []
    for index in range(4):
        page.locator("iframe").nth(index).scroll_into_view_if_needed()
        frame = page.frame_locator(f"iframe >> nth={index}")
        frame.locator("article.post").first.wait_for()
        counts.append(frame.locator("article.post").count())
    assert counts == [20, 5, 20, 20]
    assert sorted(warnings) == sorted([
        'samembed: ignoring data-limit="abc"', 'samembed: ignoring data-limit="0"',
        'samembed: ignoring data-template="fancy"', 'samembed: ignoring data-limit="1000000000"',
        'samembed: ignoring data-max-height="-3"', 'samembed: ignoring data-theme="Night"'])


def test_a_bounded_frame_scrolls_inside_with_a_more_below_cue(
    page: Page, server: Gunicorn, publisher: PublisherSite
) -> None:
    make_story("bounded", posts=20)
    page.goto(publish(publisher, "/bounded", snippet(server, "bounded", max_height="500")))
    frame = embed_frame(page, "bounded")
    frame.wait_for_selector("article.post")
    # The frame has reported its height (far more than the bound) and stays bounded.
    page.wait_for_function("document.querySelector('iframe').style.height === '500px'")
    assert page.locator("iframe").bounding_box()["height"] == 500  # type: ignore[index]
    assert frame.evaluate("document.documentElement.scrollHeight") > 2000
    cue = frame.locator(".cue")
    assert cue.is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "bounded-900.png"))
    frame.evaluate("scrollTo(0, document.documentElement.scrollHeight)")
    frame.wait_for_selector(".cue", state="hidden")


def test_a_screen_of_a_draft_starts_by_itself_once_published(
    browser: Browser, server: Gunicorn
) -> None:
    story = make_story("opening", posts=4, status="draft")
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(f"{server.url}/screen/opening")
    assert page.locator("h1").inner_text() == "Waiting for opening"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "screen-waiting-1920.png"))
    # It has looked at least once and found the story still a draft.
    with page.expect_response(lambda r: "/live/opening" in r.url, timeout=10_000):
        pass
    assert stories_repo.update(story, {"status": "published"})
    published = time.monotonic()
    page.wait_for_selector("article.post", timeout=10_000)
    elapsed = time.monotonic() - published
    context.close()
    # Its next look (one poll interval) after the version watch has seen the change,
    # and the page it then loads (a second, on a loaded machine).
    assert elapsed <= POLL_SECONDS + 0.5 + 1.0, elapsed


def test_cards_added_by_show_more_stay_through_live_updates(
    page: Page, server: Gunicorn, publisher: PublisherSite
) -> None:
    story = make_story("rolling", posts=30, live=True)
    page.goto(publish(publisher, "/rolling", snippet(server, "rolling", template="list")))
    frame = embed_frame(page, "rolling")
    frame.wait_for_selector("article.post")
    frame.locator("[data-more]").click()
    expect(frame.locator("article.post")).to_have_count(30)
    assert frame.locator("[data-more]").count() == 0

    def shown() -> list[str]:
        return frame.locator("article.post").evaluate_all("els => els.map(e => e.dataset.postId)")

    def wait_for(ids: list[str]) -> None:
        # Polled from here: the frame's CSP refuses the evaluated predicates of
        # wait_for_function once it has to poll.
        deadline = time.monotonic() + 10
        while shown() != ids and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        assert shown() == ids

    # A post arrives and an editor hides one in the middle of the first page.
    make_post(story, 100, text="fresh news", posted_at=datetime.now(UTC))
    hidden = posts_repo.list_published(story.id, 30)[6]
    assert posts_repo.update(hidden, {"state": "rejected"})
    stories_repo.bump_version(story.id)
    expected = [str(p.id) for p in posts_repo.list_published(story.id, 100)]
    assert len(expected) == 30 and str(hidden.id) not in expected
    wait_for(expected)
    # Another arrives: the cards it pushes off the first page stay, in order.
    make_post(story, 101, text="fresher news", posted_at=datetime.now(UTC))
    stories_repo.bump_version(story.id)
    expected = [str(p.id) for p in posts_repo.list_published(story.id, 100)]
    wait_for(expected)
    assert len(shown()) == len(set(shown())) == 31
