"""Cards in headless Chromium: the grid reads in the story's order, warnings hide
until Show, the lightbox keeps focus, the carousel's focused card is always in
view, the skip link and clamps keep the tab order honest, pictures are fetched
at the size shown, and a big screen turns pages of a long post."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from samembed.embedded_db import EmbeddedDB
from samembed.media.images import PRESETS, normalise
from samembed.media.signing import STORED_PREFIX
from samembed.repositories import media as media_repo
from samembed.repositories.posts import Media
from samembed.repositories.stories import Screen
from tests.factories import make_post, make_story
from tests.servers import Gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

WORDS = ("Lanterns over the quay and a brass band on the steps. " * 8).split(" ")


@pytest.fixture(scope="module")
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    gunicorn = Gunicorn(embedded_db.uri, EMBED_CACHE_TTL="0.2")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  reduced_motion="reduce")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == [], errors


def picture(width: int, height: int, alt: str) -> Media:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30 + width % 200, 90, 160)).save(buf, "JPEG")
    image = normalise(buf.getvalue())
    key = media_repo.put(image.data, image.content_type)
    return Media("image", STORED_PREFIX + key, image.width, image.height, alt)


def varied_story(slug: str, count: int, with_pictures: bool = False) -> None:
    story = make_story(slug)
    for n in range(count):
        words = 6 + (n * 37) % 60  # heights that differ, so the columns fill unevenly
        media = (picture(1200, 600 + (n % 3) * 300, f"Picture {n}"),) \
            if with_pictures and n % 3 == 0 else ()
        make_post(story, n, text=f"#{n} " + " ".join(WORDS[:words]), media=media)


def open_embed(page: Page, server: Gunicorn, slug: str, template: str,
               limit: int | None = None) -> None:
    # A page of `limit` posts (the template's first page is shorter than some stories).
    page.goto(f"{server.url}/e/{slug}?template={template}"
              + (f"&limit={limit}" if limit else ""))
    page.wait_for_load_state("load")


READING = """() => Array.from(document.querySelectorAll('.feed > .post')).map((el, i) => {
  const r = el.getBoundingClientRect();
  return {i, top: r.top, left: r.left, right: r.right, text: el.querySelector('.text').textContent};
})"""


@pytest.mark.parametrize("count", [3, 5, 20, 50])
def test_the_grid_reads_in_the_story_order_at_every_width(
    page: Page, server: Gunicorn, count: int
) -> None:
    varied_story(f"order-{count}", count)
    for width in (320, 760, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        open_embed(page, server, f"order-{count}", "grid", limit=count)
        expect(page.locator(".feed.laid")).to_have_count(1)
        page.wait_for_timeout(100)
        cards = page.evaluate(READING)
        assert [c["text"].split(" ")[0] for c in cards] == [f"#{n}" for n in range(count)]
        # Visual order (top to bottom, then left to right, 1 px tolerance) is DOM order.
        seen = sorted(cards, key=lambda c: (round(c["top"]), c["left"]))
        assert [c["i"] for c in seen] == list(range(count)), (width, cards)
        # The width is used: cards reach across the frame, whatever the count.
        used = max(c["right"] for c in cards) - min(c["left"] for c in cards)
        assert used >= 0.9 * (width - 24), (width, used)
        # No card overlaps another.
        boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.feed > .post'))
            .map(el => el.getBoundingClientRect().toJSON())""")
        for a in range(len(boxes)):
            for b in range(a + 1, len(boxes)):
                x, y = boxes[a], boxes[b]
                assert (x["right"] <= y["left"] + 0.5 or y["right"] <= x["left"] + 0.5
                        or x["bottom"] <= y["top"] + 0.5 or y["bottom"] <= x["top"] + 0.5)


def test_the_grid_lays_out_again_when_cards_are_added(page: Page, server: Gunicorn) -> None:
    varied_story("appended", 4)
    open_embed(page, server, "appended", "grid")
    expect(page.locator(".feed.laid")).to_have_count(1)
    page.evaluate("""() => {
        const feed = document.querySelector('.feed');
        for (let i = 0; i < 3; i++) feed.appendChild(feed.children[i].cloneNode(true));
        document.dispatchEvent(new CustomEvent('samembed:cards-added'));
    }""")
    page.wait_for_timeout(100)
    cards = page.evaluate(READING)
    seen = sorted(cards, key=lambda c: (round(c["top"]), c["left"]))
    assert [c["i"] for c in seen] == list(range(7))
    assert page.evaluate("typeof window.samembedLayout") == "function"


def test_without_script_the_grid_is_a_plain_grid_in_the_same_order(
    browser: Browser, server: Gunicorn
) -> None:
    varied_story("nojs", 5)
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/e/nojs?template=grid")
    cards = page.evaluate(READING)
    context.close()
    seen = sorted(cards, key=lambda c: (round(c["top"]), c["left"]))
    assert [c["i"] for c in seen] == list(range(5))
    assert len({round(c["top"]) for c in cards}) == 2  # four in the first row at 1280


def test_a_warned_post_hides_its_text_and_media_until_show(page: Page, server: Gunicorn) -> None:
    story = make_story("warned")
    make_post(story, 1, text="The lantern boat was the 1996 one", content_warning="Spoilers",
              sensitive=True, media=(picture(800, 600, "The boat"),))
    make_post(story, 2, text="Blisters and one burn", sensitive=True,
              media=(picture(800, 600, "A bandaged hand"),))
    open_embed(page, server, "warned", "list")
    warned = page.locator("article", has_text="Spoilers")
    text = warned.locator(".text")
    button = warned.locator("button.cw-btn")
    expect(button).to_have_text("Show")
    expect(warned.locator(".cw-label")).to_contain_text("Spoilers")
    expect(text).to_be_hidden()
    expect(warned.locator(".media img")).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    body_id = button.get_attribute("aria-controls")
    assert body_id and page.locator(f"#{body_id}").count() == 1
    button.focus()
    page.keyboard.press("Enter")
    expect(text).to_be_visible()
    expect(warned.locator(".media img")).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(button).to_have_text("Hide")
    page.keyboard.press("Space")
    expect(text).to_be_hidden()

    # Sensitive media alone: text readable, picture blurred and out of the tab order.
    sens = page.locator("article", has_text="Blisters")
    expect(sens.locator(".text")).to_be_visible()
    cover = sens.get_by_role("button", name="Show")
    assert sens.locator(".sens").evaluate(
        "el => getComputedStyle(el.querySelector('img')).filter").startswith("blur")
    assert sens.locator(".media").evaluate("el => el.inert") is True
    cover.click()
    assert sens.locator(".sens").evaluate(
        "el => getComputedStyle(el.querySelector('img')).filter") == "none"
    assert sens.locator(".media").evaluate("el => el.inert") is False


def test_without_script_a_warning_still_hides_the_post(browser: Browser, server: Gunicorn) -> None:
    story = make_story("warned-nojs")
    make_post(story, 1, text="Hidden words", content_warning="Spoilers")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server.url}/e/warned-nojs")
    expect(page.get_by_text("Hidden words")).to_be_hidden()
    page.locator("summary").click()
    expect(page.get_by_text("Hidden words")).to_be_visible()
    context.close()


def test_the_lightbox_opens_traps_focus_moves_and_closes_on_escape(
    page: Page, server: Gunicorn
) -> None:
    story = make_story("lightbox")
    make_post(story, 1, text="Two pictures",
              media=(picture(1200, 800, "Lanterns over the water"),
                     picture(900, 900, "The brass band")))
    open_embed(page, server, "lightbox", "list")
    opener = page.locator("a[data-zoom]").first
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".lb-cap")).to_have_text("Lanterns over the water")
    assert page.evaluate("document.activeElement.classList.contains('lb-close')")
    for _ in range(7):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('.lb')")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("!!document.activeElement.closest('.lb')")
    page.keyboard.press("ArrowRight")
    expect(dialog.locator(".lb-cap")).to_have_text("The brass band")
    expect(dialog.locator(".lb-img")).to_have_attribute("alt", "The brass band")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.activeElement === document.querySelector('a[data-zoom]')")


def test_in_a_right_to_left_story_the_lightbox_arrows_point_and_move_as_they_sit(
    page: Page, server: Gunicorn
) -> None:
    story = make_story("lb-ar", language="ar")
    make_post(story, 1, text="صورتان",
              media=(picture(1200, 800, "فوانيس"), picture(900, 900, "الفرقة")))
    open_embed(page, server, "lb-ar", "list")
    page.locator("a[data-zoom]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator(".lb-cap")).to_have_text("فوانيس")
    prev, nxt = dialog.locator(".lb-prev"), dialog.locator(".lb-next")
    # "Previous" sits on the right and points right; "next" on the left, pointing left.
    assert prev.bounding_box()["x"] > nxt.bounding_box()["x"]  # type: ignore[index]
    for button in (prev, nxt):
        assert button.locator("svg").evaluate("e => getComputedStyle(e).transform") == (
            "matrix(-1, 0, 0, 1, 0, 0)")
    # The left arrow key goes where the left button goes: on, to the next picture.
    page.keyboard.press("ArrowLeft")
    expect(dialog.locator(".lb-cap")).to_have_text("الفرقة")
    page.keyboard.press("ArrowRight")
    expect(dialog.locator(".lb-cap")).to_have_text("فوانيس")
    nxt.click()
    expect(dialog.locator(".lb-cap")).to_have_text("الفرقة")


def test_the_carousel_is_one_tab_stop_and_its_focused_card_is_always_in_view(
    page: Page, server: Gunicorn
) -> None:
    varied_story("car", 12)
    page.set_viewport_size({"width": 760, "height": 700})
    open_embed(page, server, "car", "carousel", limit=12)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # into the carousel: its first card
    assert page.evaluate("document.activeElement.matches('.slide > .post')")
    in_view = """() => {
        const card = document.activeElement, track = document.querySelector('.track');
        const a = card.getBoundingClientRect(), b = track.getBoundingClientRect();
        return card.matches('.slide > .post') && a.left >= b.left - 1 && a.right <= b.right + 1;
    }"""
    for n in range(1, 12):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(50)
        assert page.evaluate("document.activeElement.textContent").count(f"#{n} ") == 1
        assert page.evaluate(in_view), n
    page.keyboard.press("Home")
    page.wait_for_timeout(50)
    assert page.evaluate(in_view) and "#0 " in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("End")
    page.wait_for_timeout(50)
    assert page.evaluate(in_view) and "#11 " in page.evaluate("document.activeElement.textContent")
    # Tab stops are bounded: the skip link, one card and what is in it, the footer.
    stops = page.evaluate("""() => Array.from(document.querySelectorAll(
        'a[href], button, [tabindex]')).filter(el => el.tabIndex >= 0 && !el.closest('[inert]')
        && el.getClientRects().length).length""")
    assert stops <= 12, stops


def test_the_skip_link_moves_focus_past_the_story(page: Page, server: Gunicorn) -> None:
    varied_story("skipping", 6)
    for template in ("list", "grid", "carousel", "ticker"):
        open_embed(page, server, "skipping", template)
        page.keyboard.press("Tab")
        skip = page.locator("a.skip")
        expect(skip).to_be_focused()
        expect(skip).to_be_visible()
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "story-end", template
        page.keyboard.press("Tab")
        assert page.evaluate("!document.activeElement.closest('article')"), template


def test_a_clamped_text_opens_when_a_link_inside_it_has_focus(page: Page, server: Gunicorn) -> None:
    story = make_story("clamp")
    long = "\n".join(f"Line {n} of the programme." for n in range(20)) + " https://example.org/end"
    make_post(story, 1, text=long)
    page.set_viewport_size({"width": 760, "height": 700})
    open_embed(page, server, "clamp", "carousel")
    text = page.locator(".text").first
    assert text.evaluate("el => el.scrollHeight > el.clientHeight + 1")
    text.locator("a.url").focus()
    assert text.evaluate("el => el.scrollHeight <= el.clientHeight + 1")
    assert text.locator("a.url").evaluate(
        "a => { const r = a.getBoundingClientRect();"
        " return r.bottom <= a.closest('.text').getBoundingClientRect().bottom + 1; }")


@pytest.mark.parametrize(("template", "width", "dpr"), [
    ("grid", 1280, 1), ("grid", 390, 3), ("list", 390, 2), ("list", 1280, 1),
    ("carousel", 1280, 2)])
def test_no_picture_is_fetched_at_more_than_one_and_a_half_times_its_size(
    browser: Browser, server: Gunicorn, template: str, width: int, dpr: int
) -> None:
    slug = f"px-{template}-{width}-{dpr}"
    varied_story(slug, 9, with_pictures=True)
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  device_scale_factor=dpr)
    page = context.new_page()
    page.goto(f"{server.url}/e/{slug}?template={template}")
    page.wait_for_load_state("networkidle")
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('.media img'))
        .filter(img => img.currentSrc).map(img => ({
          src: img.currentSrc, width: img.getBoundingClientRect().width}))""")
    context.close()
    assert shown
    for img in shown:
        preset = img["src"].split("/")[-2]
        need = img["width"] * dpr
        assert PRESETS[preset] <= 1.5 * need or preset == "thumb", img
        assert PRESETS[preset] >= 0.74 * need or preset == "large", img  # and not blurred


def test_a_spotlit_long_post_turns_pages_and_four_posterless_videos_fit(
    page: Page, server: Gunicorn
) -> None:
    story = make_story("spot", screen=Screen(mode="spotlight", interval=3))
    long = " ".join(f"Sentence {n} about the harbour and its lights tonight." for n in range(80))
    assert len(long) >= 4000
    make_post(story, 1, text=long[:4000])
    clips = tuple(Media("video", "", None, None, f"Clip {n}", None,
                        f"https://video.example/{n}.mp4") for n in range(4))
    make_post(story, 2, text="Four clips, no stills", media=clips)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/screen/spot")
    spot = page.locator(".post.spot")
    expect(spot).to_contain_text("Sentence 0")
    counter = spot.locator(".pages")
    expect(counter).to_have_text("1 / " + counter.inner_text().split(" / ")[1])
    pages = int(counter.inner_text().split(" / ")[1])
    assert pages >= 2
    # No fading: the words shown are whole lines, the next page follows by itself.
    assert spot.locator(".text").evaluate("el => getComputedStyle(el).maskImage") in ("none", "")
    expect(counter).to_have_text(f"2 / {pages}", timeout=5000)
    assert page.evaluate("document.documentElement.scrollHeight <= innerHeight")
    expect(page.locator(".post.spot")).to_contain_text("Four clips", timeout=(pages + 2) * 3000)
    boxes = page.locator(".post.spot .vid.none").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().toJSON())")
    assert len(boxes) == 4
    assert all(b["width"] > 100 and b["height"] > 60 and b["bottom"] <= 1080 for b in boxes)
