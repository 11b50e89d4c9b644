"""The oEmbed answer as WordPress shows it, in headless Chromium: the html after
WordPress's filter for a provider it does not list, on a page that speaks
wp-embed's protocol (a hidden frame named by `#?secret=`, shown and sized by the
frame's `{secret, message: "height", value}`, clamped to 200-1000 px, a "ready"
that asks again, "link" for the frame's own host). The page's script is written
here from that protocol; tests/test_wordpress.py, when it runs, uses WordPress's own.
"""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import quote

import pytest
from playwright.sync_api import Page

from tests.factories import make_story
from tests.servers import Gunicorn, PublisherSite, publish

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

SECRET = "Xy12ab9QzT"  # noqa: S105 - the handshake's name for the frame, not a password

# What the parent page does, per wp-embed's protocol. `delay`: its listener comes
# late (the frame's first height is lost), so only "ready" can bring the height.
PARENT_SCRIPT = """
(function (delay) {
  function listen() {
    window.addEventListener('message', function (e) {
      var d = e.data;
      if (!d || /[^a-zA-Z0-9]/.test(d.secret || '')) return;
      document.querySelectorAll('blockquote[data-secret="' + d.secret + '"]')
        .forEach(function (b) { b.style.display = 'none'; });
      document.querySelectorAll('iframe[data-secret="' + d.secret + '"]').forEach(function (f) {
        if (e.source !== f.contentWindow) return;
        f.removeAttribute('style');
        if (d.message === 'height') {
          var h = parseInt(d.value, 10);
          f.height = h > 1000 ? 1000 : (~~h < 200 ? 200 : h);
          window.heights = (window.heights || []).concat([h]);
        } else if (d.message === 'link') {
          window.linked = d.value;
        }
      });
    });
    document.querySelectorAll('iframe.wp-embedded-content').forEach(function (f) {
      f.contentWindow.postMessage({message: 'ready', secret: f.getAttribute('data-secret')}, '*');
    });
  }
  if (delay) setTimeout(listen, delay); else listen();
})(%d);
"""


def filtered(html: str, secret: str = SECRET) -> str:
    """The html as WordPress keeps it from an unlisted provider: only blockquote, a
    href and a few iframe attributes; the blockquote and one iframe; a secret; the
    frame hidden until it speaks; its own sandbox instead of ours."""
    html = re.sub(r'<a [^>]*?href="([^"]*)"[^>]*>', r'<a href="\1">', html)
    html = re.sub(r"<blockquote[^>]*>", "<blockquote>", html)

    def frame(m: re.Match[str]) -> str:
        keep = re.findall(r'\s(src|width|height|frameborder|title)="([^"]*)"', m.group(0))
        return "<iframe" + "".join(f' {k}="{v}"' for k, v in keep) + ">"

    html = re.sub(r"<iframe[^>]*>", frame, html)
    found = re.search(r"(<blockquote>.*?</blockquote>)?.*(<iframe.*?></iframe>)", html, re.S)
    assert found and found.group(2), html
    html = (found.group(1) or "") + found.group(2)
    html = re.sub(r' src="([^"]*)"', rf' src="\1#?secret={secret}" data-secret="{secret}"', html)
    html = html.replace("<blockquote", f'<blockquote data-secret="{secret}"')
    html = html.replace("<iframe", '<iframe style="position: absolute; visibility: hidden;"')
    html = html.replace("<blockquote", '<blockquote class="wp-embedded-content"')
    return html.replace("<iframe", '<iframe class="wp-embedded-content" sandbox="allow-scripts" '
                                   'security="restricted"')




def oembed_html(server: Gunicorn, slug: str, template: str = "list") -> str:
    url = quote(f"{server.url}/s/{slug}?template={template}", safe="")
    with urllib.request.urlopen(f"{server.url}/oembed?url={url}&maxwidth=600&maxheight=900"
                                "&dnt=1&format=json", timeout=10) as r:
        return str(json.load(r)["html"])


def wordpress_post(publisher: PublisherSite, path: str, html: str, delay: int = 0) -> str:
    return publish(publisher, path, f"<article>{filtered(html)}</article>"
                                    f"<script>{PARENT_SCRIPT % delay}</script>")


def shown_height(page: Page) -> int:
    page.wait_for_function("() => { var f = document.querySelector('iframe');"
                           " return !f.hasAttribute('style') && window.heights; }",
                           timeout=10_000)
    return int(page.eval_on_selector("iframe", "f => f.getBoundingClientRect().height"))


def test_a_short_story_is_shown_at_its_own_height(
        page: Page, server: Gunicorn, publisher: PublisherSite) -> None:
    make_story("short", posts=2)
    page.goto(wordpress_post(publisher, "/short", oembed_html(server, "short")))
    height = shown_height(page)
    assert page.eval_on_selector("blockquote", "b => b.style.display") == "none"
    reported = page.evaluate("window.heights")
    assert 200 <= height < 900 and height == max(200, reported[-1])
    inner = page.frame_locator("iframe").locator("html").evaluate(
        "r => Math.ceil(r.getBoundingClientRect().height)")
    assert inner == reported[-1]


def test_a_long_story_is_clamped_to_1000_px_and_scrolls_inside(
        page: Page, server: Gunicorn, publisher: PublisherSite) -> None:
    make_story("long", posts=20)
    page.goto(wordpress_post(publisher, "/long", oembed_html(server, "long")))
    page.wait_for_function("() => (window.heights || []).some(h => h > 1000)", timeout=10_000)
    assert shown_height(page) == 1000
    frame = page.frame_locator("iframe")
    assert frame.locator("html").evaluate("r => r.scrollHeight > innerHeight")


def test_a_parent_that_listens_late_still_gets_the_height_after_ready(
        page: Page, server: Gunicorn, publisher: PublisherSite) -> None:
    make_story("late", posts=2)
    page.goto(wordpress_post(publisher, "/late", oembed_html(server, "late"), delay=1500))
    page.frame_locator("iframe").locator("article.post").first.wait_for(timeout=10_000)
    assert 200 <= shown_height(page) < 900


def test_a_frame_without_a_secret_says_nothing_in_wordpress_terms(
        page: Page, server: Gunicorn, publisher: PublisherSite) -> None:
    make_story("plain", posts=1)
    body = (f'<iframe src="{server.url}/e/plain" width="500" height="300"></iframe>'
            "<script>window.got = [];addEventListener('message', function (e) "
            "{ window.got.push(e.data) })</script>")
    page.goto(publish(publisher, "/plain", body))
    page.wait_for_function("() => window.got.length > 0", timeout=10_000)
    assert all(m.get("type") == "samembed:resize" for m in page.evaluate("window.got"))


def test_a_link_to_our_own_page_asks_wordpress_to_go_there(
        page: Page, server: Gunicorn, publisher: PublisherSite) -> None:
    make_story("links", posts=1, title="Links")
    page.goto(wordpress_post(publisher, "/links", oembed_html(server, "links")))
    shown_height(page)
    page.frame_locator("iframe").locator("a.more").click()
    page.wait_for_function("() => window.linked", timeout=10_000)
    assert page.evaluate("window.linked") == f"{server.url}/s/links"
