"""The story page in headless Chromium, against gunicorn with two workers: the
preview laid out at the publisher's real widths, the snippet builder, the
accent's contrast check, the preview following a change made in another tab,
a phone with no sideways scrolling, and axe-core with no violations.

With SAMEMBED_SHOTS=<dir> set, the phone and laptop views are saved there.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FrameLocator, Page, ViewportSize, expect
from playwright.sync_api import Error as PlaywrightError

from samembed.repositories.stories import Story
from tests.axe import axe_summary, axe_violations
from tests.factories import make_story
from tests.servers import Gunicorn, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
# A frame's document on a shared, busy machine: generous, the checks after it are not.
FRAME_MS = 15_000


@pytest.fixture
def story() -> Story:
    return make_story("quay", posts=6, title="Quay night market", default_template="grid")


def open_story(browser: Browser, studio_server: tuple[Gunicorn, str],
               story: Story, viewport: ViewportSize) -> Page:
    server, password = studio_server
    context = browser.new_context(viewport=viewport, has_touch=viewport == PHONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    sign_in(page, server, password)
    page.goto(f"{server.url}/studio/stories/{story.id}/")
    expect(page.locator("h1")).to_have_text("Quay night market")
    return page


@pytest.fixture
def laptop(browser: Browser, studio_server: tuple[Gunicorn, str],
           story: Story) -> Iterator[Page]:
    page = open_story(browser, studio_server, story, LAPTOP)
    yield page
    page.context.close()
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.fixture
def phone(browser: Browser, studio_server: tuple[Gunicorn, str],
          story: Story) -> Iterator[Page]:
    page = open_story(browser, studio_server, story, PHONE)
    yield page
    page.context.close()
    assert page.errors == []  # type: ignore[attr-defined]


def preview(page: Page, template: str) -> FrameLocator:
    """The preview frame's document, once the frame has loaded `template` at its
    current URL (each change of the builder navigates it again)."""
    # In view, as an editor looking at it: Chromium defers laying out frames off screen.
    page.locator("[data-stage]").scroll_into_view_if_needed()
    page.wait_for_function(
        "t => document.querySelector('[data-frame]').src.includes('template=' + t)",
        arg=template, timeout=5000)
    frame = page.frame_locator("[data-frame]")
    deadline = time.monotonic() + FRAME_MS / 1000
    while True:
        src = page.locator("[data-frame]").get_attribute("src") or ""
        try:
            loaded = frame.locator("body").evaluate(
                "(b, src) => location.href.endsWith(src) && document.readyState === 'complete'",
                src, timeout=1000)
        except PlaywrightError:
            loaded = False  # between two documents
        if loaded:
            return frame
        if time.monotonic() > deadline:
            seen = frame.locator("body").evaluate(
                "b => [location.href, document.readyState, b.innerHTML.length]", timeout=2000)
            raise AssertionError(f"the preview never loaded {src}: {seen}")
        time.sleep(0.1)


def until(frame: FrameLocator, expression: str, timeout: float = 3.0) -> None:
    """Poll `expression` in the frame (the embed's CSP refuses Playwright's waiting)."""
    deadline = time.monotonic() + timeout
    body = frame.locator("body")
    while not body.evaluate(f"() => {expression}"):
        assert time.monotonic() < deadline, (
            f"still false: {expression} (innerWidth {body.evaluate('() => innerWidth')})")
        time.sleep(0.05)


def test_the_device_toggle_lays_the_frame_out_at_its_real_width(laptop: Page) -> None:
    stage = laptop.locator("[data-stage]").bounding_box()
    assert stage is not None
    for label, width, height in (("Phone", 390, None), ("Tablet", 760, None),
                                 ("Laptop", 1280, None), ("Screen", 1920, 1080)):
        laptop.locator(".pv-device", has_text=label).click()
        laptop.wait_for_function(
            "w => document.querySelector('[data-frame]').clientWidth === w", arg=width)
        inner = preview(laptop, "grid")
        # The frame's own viewport, as the embed's CSS sees it.
        until(inner, f"innerWidth === {width}")
        if height:
            until(inner, f"innerHeight === {height}")
        shown = laptop.locator("[data-box]").bounding_box()
        assert shown is not None and shown["width"] <= stage["width"] + 1
        expect(laptop.locator("[data-status]")).to_contain_text(f"{width}")
    # The grid really is laid out for its width: more columns at 1920 than at 390.
    laptop.locator(".pv-device", has_text="Phone").click()
    laptop.wait_for_function("document.querySelector('[data-frame]').clientWidth === 390")
    laptop.locator("select[name=pv-template]").select_option("screen")
    inner = preview(laptop, "screen")
    # Choosing the screen template shows it on a 1920×1080 display, as it is made for.
    assert laptop.locator("input[name=pv-width][value='1920']").is_checked()
    until(inner, "innerWidth === 1920 && innerHeight === 1080")


def test_the_snippet_builder_writes_the_snippet_and_the_preview_url(laptop: Page) -> None:
    snippet = laptop.locator("#snippet")
    expect(snippet).to_have_value(
        '<blockquote class="samembed" data-story="quay" data-template="grid"'
        ' style="min-height:100vh">\n'
        f'  <a href="{laptop.url.split("/studio")[0]}/s/quay">Quay night market</a>\n'
        "</blockquote>\n"
        f'<script async src="{laptop.url.split("/studio")[0]}/embed.js"></script>')
    laptop.locator("select[name=pv-template]").select_option("carousel")
    laptop.fill("input[name=pv-limit]", "3")
    laptop.fill("input[name=pv-max-height]", "640")
    value = snippet.input_value()
    assert ('data-template="carousel" data-limit="3" data-max-height="640"'
            ' style="min-height:min(700px,640px)"') in value
    laptop.locator("select[name=pv-theme]").select_option("dark")
    assert 'data-template="carousel" data-theme="dark" data-limit="3"' in snippet.input_value()
    laptop.locator("input[name=pv-limit]").dispatch_event("change")
    inner = preview(laptop, "carousel")
    expect(laptop.locator("[data-frame]")).to_have_attribute(
        "src", re.compile(r"template=carousel&theme=dark&limit=3"))
    expect(inner.locator("html")).to_have_attribute("data-theme", "dark")
    expect(inner.locator(".post")).to_have_count(3, timeout=FRAME_MS)
    box = laptop.locator("[data-box]").bounding_box()
    assert box is not None and box["height"] <= 640 + 1
    # Out of range: left out of the snippet, as the loader would ignore it.
    laptop.fill("input[name=pv-limit]", "500")
    assert "data-limit" not in snippet.input_value()
    expect(laptop.locator("input[name=pv-limit]")).to_have_attribute("aria-invalid", "true")


def test_a_low_contrast_accent_is_warned_about(laptop: Page) -> None:
    verdict = laptop.locator("[data-contrast-verdict]")
    laptop.fill("input[name=accent]", "#1d4ed8")
    expect(verdict).to_have_attribute("data-contrast-verdict", "ok")
    laptop.fill("input[name=accent]", "#facc15")
    expect(verdict).to_have_attribute("data-contrast-verdict", "low")
    expect(verdict).to_contain_text("Below 4.5:1")
    expect(laptop.locator("[data-contrast]")).to_contain_text("Accent on light cards: 1.5:1")
    # Against the story's own background once one is chosen.
    laptop.locator("input[name=background_default]").uncheck()
    laptop.fill("input[name=background]", "#111827")
    expect(laptop.locator("[data-contrast]")).to_contain_text("Accent on your background: 11.")


def test_the_preview_reloads_after_a_change_made_elsewhere(laptop: Page) -> None:
    inner = preview(laptop, "grid")
    expect(inner.locator(".post").first).to_be_visible(timeout=FRAME_MS)
    expect(inner.locator("body")).not_to_contain_text("Lanterns lit on the quay")
    version = laptop.locator("[data-preview]").get_attribute("data-version")

    other = laptop.context.new_page()
    other.goto(laptop.url + "posts/new")
    other.fill("textarea[name=text]", "Lanterns lit on the quay")
    other.fill("input[name=author_name]", "Desk")
    other.click("text=Add post")
    expect(other.locator("p.ok")).to_contain_text("Post added.")
    other.close()

    laptop.wait_for_function(
        "v => document.querySelector('[data-preview]').dataset.version !== v",
        arg=version, timeout=6000)
    fresh = preview(laptop, "grid")
    expect(fresh.locator("body")).to_contain_text("Lanterns lit on the quay", timeout=FRAME_MS)


def shoot(page: Page, name: str) -> None:
    target = os.environ.get("SAMEMBED_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.locator("[data-stage]").scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        page.screenshot(path=f"{target}/{name}.png", full_page=True)


def test_a_phone_never_scrolls_sideways_and_the_preview_fits(phone: Page) -> None:
    for label in ("Phone", "Tablet", "Laptop", "Screen"):
        phone.locator(".pv-device", has_text=label).click()
        phone.wait_for_timeout(200)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, label
    phone.locator(".pv-device", has_text="Phone").click()
    phone.wait_for_function("document.querySelector('[data-frame]').clientWidth === 390")
    box = phone.locator("[data-box]").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(preview(phone, "grid").locator(".post").first).to_be_visible(timeout=FRAME_MS)
    shoot(phone, "story-form-390x844")


def test_the_story_page_has_no_axe_violations(laptop: Page, phone: Page) -> None:
    for page, name in ((laptop, "story-form-1280x800"), (phone, None)):
        expect(preview(page, "grid").locator(".post").first).to_be_visible(timeout=FRAME_MS)
        page.fill("input[name=accent]", "#facc15")  # the warning shown, too
        violations = axe_violations(page)
        assert not violations, axe_summary(violations)
        if name:
            page.fill("input[name=accent]", "#2563eb")
            shoot(page, name)


def test_an_uploaded_logo_shows_in_the_big_screens_header(laptop: Page, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    logo = tmp_path / "harbour-logo.png"
    image = Image.new("RGBA", (360, 120), (0, 0, 0, 0))
    ImageDraw.Draw(image).rounded_rectangle((4, 4, 356, 116), radius=24, fill=(14, 116, 144, 255))
    image.save(logo)
    laptop.set_input_files("input[name=logo]", str(logo))
    laptop.click("text=Save")
    expect(laptop.locator("p.ok")).to_contain_text("Saved.")
    expect(laptop.locator(".sf-logo")).to_contain_text("Logo uploaded here")
    expect(laptop.locator("input[name=logo_url]")).to_have_value(re.compile(r"^media:[0-9a-f]{64}$"))

    laptop.locator("select[name=pv-template]").select_option("screen")
    screen = preview(laptop, "screen")
    shown = screen.locator("header img.logo")
    expect(shown).to_have_attribute("src", re.compile(r"^/img/[\w-]+/medium/[0-9a-f]{64}\.webp$"))
    until(screen, "document.querySelector('img.logo').naturalWidth === 360")
    shoot(laptop, "story-form-screen-preview-1280x800")
