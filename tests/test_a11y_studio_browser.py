"""axe-core on every studio page, in both colour schemes: what editors and producers
use all day must be usable with a screen reader, a keyboard and low vision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, expect

from samembed.repositories import flag_counts
from samembed.repositories import flags as flags_repo
from samembed.repositories import posts as posts_repo
from samembed.repositories.stories import Story
from tests.axe import axe_summary, axe_violations
from tests.factories import make_post, make_story
from tests.servers import Gunicorn, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture
def story() -> Story:
    story = make_story("a11y-desk", title="Harbour night", live=True)
    for n in range(3):
        make_post(story, n, state="pending" if n else "approved",
                  reason="held for review" if n else None)
    return story


@pytest.fixture(params=["light", "dark"])
def page(request: pytest.FixtureRequest, browser: Browser,
         studio_server: tuple[Gunicorn, str]) -> Iterator[Page]:
    server, password = studio_server
    context = browser.new_context(color_scheme=request.param)
    page = context.new_page()
    sign_in(page, server, password)
    yield page
    context.close()


def check(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("load")
    violations = axe_violations(page)
    assert not violations, f"{url}:\n{axe_summary(violations)}"


def test_every_studio_page_has_no_axe_violations(
        page: Page, studio_server: tuple[Gunicorn, str], story: Story) -> None:
    server, _ = studio_server
    post = posts_repo.list_for_studio(story.id, "approved", 0, 1)[0]
    base = f"{server.url}/studio/stories/{story.id}"
    for url in (f"{server.url}/studio/", f"{base}/", f"{base}/posts?state=pending",
                f"{base}/posts?state=approved", f"{base}/posts?state=pending&q=nothing",
                f"{base}/posts/new", f"{server.url}/studio/posts/{post.id}/caption",
                f"{base}/sources", f"{base}/audit", f"{base}/remote",
                f"{server.url}/studio/stories/new"):
        check(page, url)


def test_the_desk_with_its_undo_bar_and_key_help_has_no_axe_violations(
        page: Page, studio_server: tuple[Gunicorn, str], story: Story) -> None:
    server, _ = studio_server
    page.goto(f"{server.url}/studio/stories/{story.id}/posts?state=pending")
    page.locator(".qcard").first.focus()
    page.keyboard.press("a")
    expect(page.locator("[data-undo]")).to_be_visible()
    violations = axe_violations(page)
    assert not violations, axe_summary(violations)
    page.keyboard.press("?")
    expect(page.locator("dialog[data-keys]")).to_be_visible()
    violations = axe_violations(page)
    assert not violations, axe_summary(violations)


def test_the_conflict_page_has_no_axe_violations(
        page: Page, studio_server: tuple[Gunicorn, str], story: Story) -> None:
    server, _ = studio_server
    other = page.context.new_page()
    page.goto(f"{server.url}/studio/stories/{story.id}/")
    other.goto(f"{server.url}/studio/stories/{story.id}/")
    other.fill("input[name=title]", "Title from the other tab")
    other.get_by_role("button", name="Save", exact=True).click()
    expect(other.locator("p.ok")).to_be_visible()
    page.fill("input[name=title]", "Title from this tab")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("h1")).to_contain_text("changed while you were editing")
    violations = axe_violations(page)
    assert not violations, axe_summary(violations)


def test_the_flags_pages_have_no_axe_violations(
        page: Page, studio_server: tuple[Gunicorn, str]) -> None:
    server, _ = studio_server
    flags_repo.create("grid-v2", "ada", percent="5", unit="origin",
                      origins="https://beta.example", description="The new grid",
                      plan="20@1h 100@1d")
    flag = flags_repo.create("img-xlarge", "ada", killed=True, plan="50@1h")
    flags_repo.ramp_down(flag, 0, "on: client error rate 30.00% against 0.10% for off")
    # Every instance's counts, with render time: the guardrail table.
    flag_counts.apply(flag_counts.increments({
        ("grid-v2", "on"): {"exposure": 400, "client_error": 2, "render": 3,
                            "render_seconds": 0.05},
        ("grid-v2", "off"): {"exposure": 7600, "client_error": 9, "render": 4,
                             "render_seconds": 0.04}}, datetime.now(UTC)))
    check(page, f"{server.url}/studio/flags/")
    check(page, f"{server.url}/studio/flags/img-xlarge")
    check(page, f"{server.url}/studio/flags/grid-v2")
    # A refused value, shown next to its field.
    page.fill("input[name=percent]", "abc")
    page.click("text=Save")
    page.wait_for_load_state("load")
    assert page.locator("[aria-invalid=true]").count() == 1
    violations = axe_violations(page)
    assert not violations, axe_summary(violations)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_phone_the_flags_list_is_a_card_per_flag_with_its_kill_switch_in_reach(
        browser: Browser, studio_server: tuple[Gunicorn, str],
        scheme: Literal["light", "dark"]) -> None:
    server, password = studio_server
    flags_repo.create("grid-v2", "ada", percent="5", unit="origin",
                      origins="https://beta.example", description="The new grid")
    flags_repo.create("img-xlarge", "ada", killed=True)
    flag_counts.apply(flag_counts.increments({
        ("grid-v2", "on"): {"exposure": 400, "client_error": 2},
        ("grid-v2", "off"): {"exposure": 7600, "client_error": 9}}, datetime.now(UTC)))
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  color_scheme=scheme)
    try:
        page = context.new_page()
        sign_in(page, server, password)
        page.goto(f"{server.url}/studio/flags/")
        # Nothing to scroll sideways, in the page or in the table's region.
        widths = page.evaluate("""() => {
            const region = document.querySelector('.table-scroll');
            return [document.documentElement.scrollWidth, region.scrollWidth,
                    region.clientWidth];
        }""")
        assert widths[0] <= 390 and widths[1] <= widths[2], widths
        # Each flag's switch is in view across its card, big enough for a thumb.
        for name in ("Kill grid-v2", "Release img-xlarge"):
            box = page.get_by_role("button", name=name).bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
            assert box["width"] > 300 and box["height"] >= 44, box
        # The column headers are hidden, so every value says what it is.
        labels = page.evaluate("""() => [...document.querySelectorAll(
            'table.flags tbody tr:first-child td[data-label]')].map(
            td => getComputedStyle(td, '::before').content)""")
        assert labels == ['"State"', '"Rollout"', '"Last hour"', '"Sticky on"',
                          '"Allow-lists"'], labels
        # Still a table to a screen reader: its rows and headers keep their roles,
        # and a cell is read with its label.
        assert page.get_by_role("rowheader", name="grid-v2 The new grid").count() == 1
        assert page.get_by_role("cell", name="Sticky on origin", exact=True).count() == 1
        violations = axe_violations(page)
        assert not violations, axe_summary(violations)
    finally:
        context.close()
