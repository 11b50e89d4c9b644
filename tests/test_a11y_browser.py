"""axe-core reports no violations (default rules) on every page readers see: each
embed template, the story page, the big screen and the 404 document, in the
light and the dark colour scheme and in each of the story theme's modes.

The demo stories are loaded once for the module (real posts: photos, links,
hashtags, mentions, pinned and highlighted posts) and copied into a light and a
dark themed story; one Chromium and one page per colour scheme serve every check.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, Page

from samembed import mongo
from samembed.embed.cache import response_cache
from samembed.embedded_db import EmbeddedDB
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.stories import TEMPLATES, Theme
from tests.axe import axe_summary, axe_violations
from tests.servers import Gunicorn

pytestmark = pytest.mark.browser

SCHEMES = ("light", "dark")
# Story slug -> its theme mode: auto follows the reader's scheme, the others do not.
STORIES = {"demo": "auto", "demo-light": "light", "demo-dark": "dark"}
# The reader's schemes each story is checked in: both for the one that follows
# them, the other one for the fixed themes (where the page's and the browser's
# schemes disagree).
CHECKS = {"demo": SCHEMES, "demo-light": ("dark",), "demo-dark": ("light",)}


def _clear() -> None:
    for name in ("stories", "posts", "sources"):
        mongo.database()[name].delete_many({})
    response_cache().clear()


@pytest.fixture(scope="module")
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    _clear()
    call_command("load_demo", verbosity=0)
    demo = stories_repo.get_by_slug("demo")
    assert demo is not None
    for slug, mode in STORIES.items():
        if slug == "demo":
            continue
        copy = stories_repo.insert(slug=slug, title=f"{demo.title} ({mode})",
                                   description=demo.description, status="published",
                                   default_template="list", theme=Theme(demo.theme.accent,
                                                                        mode=mode))
        for post in posts_repo.list_published(demo.id, 30):
            posts_repo.upsert(dataclasses.replace(post, story_id=copy.id, id=None,
                                                  external_id=f"{slug}-{post.external_id}"))
    gunicorn = Gunicorn(embedded_db.uri)
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()
    _clear()


@dataclasses.dataclass
class Tab:
    page: Page
    csp_errors: list[str]


def _tab(browser: Browser, scheme: str) -> Tab:
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  color_scheme=scheme,  # type: ignore[arg-type]
                                  reduced_motion="reduce")
    tab = Tab(context.new_page(), [])
    tab.page.on("console", lambda m: tab.csp_errors.append(m.text)
                if "Content Security Policy" in m.text else None)
    return tab


@pytest.fixture(scope="module")
def tabs(browser: Browser) -> Iterator[dict[str, Tab]]:
    """One page per colour scheme, reused for every URL; each records CSP refusals."""
    opened = {scheme: _tab(browser, scheme) for scheme in SCHEMES}
    yield opened
    for tab in opened.values():
        tab.page.context.close()


def pages(slug: str) -> list[str]:
    return [*(f"/e/{slug}?template={t}" for t in TEMPLATES), f"/s/{slug}", f"/screen/{slug}"]


URLS = sorted(
    [(scheme, url) for slug, schemes in CHECKS.items() for scheme in schemes
     for url in pages(slug)]
    + [(scheme, url) for scheme in SCHEMES for url in ("/e/no-such-story", "/s/no-such-story")])


@pytest.mark.parametrize(("scheme", "path"), URLS)
def test_axe_finds_no_violations(server: Gunicorn, tabs: dict[str, Tab], scheme: str,
                                 path: str) -> None:
    tab = tabs[scheme]
    page = tab.page
    tab.csp_errors.clear()
    screen = "screen" in path
    page.set_viewport_size({"width": 1920, "height": 1080} if screen else
                           {"width": 1280, "height": 800})
    response = page.goto(server.url + path)
    assert response is not None
    assert response.status == (404 if "no-such-story" in path else 200)
    violations = axe_violations(page)
    assert not violations, f"{path} ({scheme}):\n{axe_summary(violations)}"
    assert not tab.csp_errors, tab.csp_errors


def test_the_story_page_json_ld_is_not_refused_by_its_csp(
        server: Gunicorn, tabs: dict[str, Tab]) -> None:
    tab = tabs["light"]
    page = tab.page
    tab.csp_errors.clear()
    page.goto(server.url + "/s/demo")
    data = page.evaluate(
        "JSON.parse(document.querySelector('script[type=\"application/ld+json\"]').textContent)")
    assert data["@type"] == "ItemList" and data["itemListElement"]
    # story.js ran (script-src 'self') and showed the times in the reader's zone.
    first = page.locator("time").first
    assert first.get_attribute("data-local") == ""
    assert not re.search(r"UTC$", first.inner_text())
    assert not tab.csp_errors, tab.csp_errors
