"""The real consumer: WordPress (Debian's package, PHP 8.2, MariaDB), on loopback,
given a post whose content is a story's URL. It finds /oembed through the page's
discovery links, filters our html as it filters any provider it does not list,
and its own wp-embed.js shows and sizes our frame through the `#?secret=`
handshake (clamped to 1000 px). Listed as a trusted provider (the README's
`wp_oembed_add_provider()` line), it shows our loader's frame at full height.

Runs in `make test-wordpress` (which installs the Debian packages; `.ci/run`
calls it); skipped where they are not installed.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.factories import make_story
from tests.servers import Gunicorn
from tests.wordpress import PACKAGES, WordPress, available

pytestmark = [
    pytest.mark.browser, pytest.mark.wordpress, pytest.mark.usefixtures("mongo_db"),
    pytest.mark.skipif(not available(), reason="needs Debian's " + ", ".join(PACKAGES)
                       + " (make test-wordpress installs them)"),
]



@pytest.fixture(scope="module")
def wordpress(server: Gunicorn, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[WordPress]:
    site = WordPress(Path(tmp_path_factory.mktemp("wordpress")), server.port)
    site.start()
    yield site
    site.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def post(wordpress: WordPress, url: str, trusted: bool) -> str:
    """A published post whose content is `url` on its own line; its address."""
    post_id = wordpress.php(
        f"update_option('samembed_trusted', {int(trusted)});"
        f"echo wp_insert_post(['post_title' => 'A story', 'post_status' => 'publish',"
        f" 'post_content' => \"Before.\\n\\n{url}\\n\\nAfter.\"]);").strip()
    assert post_id.isdigit(), post_id
    return f"{wordpress.origin}/?p={post_id}"


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as r:
        return str(r.read().decode())


def test_wordpress_discovers_the_story_and_keeps_one_sandboxed_frame(
        server: Gunicorn, wordpress: WordPress, page: Page) -> None:
    make_story("tour", posts=3, title="Harbour tour")
    address = post(wordpress, f"{server.url}/s/tour", trusted=False)
    html = fetch(address)
    article = html[html.index('<article id="post">'):html.index("</article>")]
    frames = re.findall(r"<iframe[^>]*>", article)
    assert len(frames) == 1, article
    frame = frames[0]
    assert 'class="wp-embedded-content"' in frame and 'sandbox="allow-scripts"' in frame
    assert re.search(rf'src="{re.escape(server.url)}/e/tour#\?secret=[a-zA-Z0-9]+"', frame)
    assert 'title="Harbour tour"' in frame
    assert 'style="position: absolute;' in frame  # hidden until the frame answers
    # (wpautop puts the link in a paragraph)
    assert re.search(rf'<blockquote class="wp-embedded-content" data-secret="[a-zA-Z0-9]+">'
                     rf'(?:<p>)?<a href="{re.escape(server.url)}/s/tour">Harbour tour</a>', article)
    assert f"{server.url}/embed.js" not in html  # no script of ours
    assert "wp-embed" in html  # WordPress's own resize script

    page.goto(address)
    page.wait_for_function(
        "() => { var f = document.querySelector('iframe.wp-embedded-content');"
        " return f && !f.hasAttribute('style'); }", timeout=20_000)
    assert not page.locator("blockquote.wp-embedded-content").is_visible()
    content = page.frame_locator("iframe").locator("html").evaluate(
        "r => Math.ceil(r.getBoundingClientRect().height)")
    page.wait_for_function(f"() => +document.querySelector('iframe').height === "
                           f"{max(200, min(1000, content))}", timeout=10_000)


def test_a_long_story_is_clamped_by_wordpress_to_1000_px(
        server: Gunicorn, wordpress: WordPress, page: Page) -> None:
    make_story("long", posts=20, title="Long night")
    page.goto(post(wordpress, f"{server.url}/s/long", trusted=False))
    page.wait_for_function("() => +document.querySelector('iframe').height === 1000",
                           timeout=20_000)


def test_listed_as_trusted_wordpress_shows_the_loaders_frame_at_full_height(
        server: Gunicorn, wordpress: WordPress, page: Page) -> None:
    make_story("trusted", posts=20, title="Trusted night")
    address = post(wordpress, f"{server.url}/s/trusted", trusted=True)
    html = fetch(address)
    assert '<blockquote class="samembed" data-story="trusted"' in html
    assert f'<script async src="{server.url}/embed.js"></script>' in html
    page.goto(address)
    page.wait_for_function(
        "() => { var f = document.querySelector('iframe');"
        " return f && f.getBoundingClientRect().height > 1000; }", timeout=20_000)
    frame = page.locator("iframe")
    assert frame.get_attribute("sandbox") == (
        "allow-scripts allow-popups allow-popups-to-escape-sandbox")
