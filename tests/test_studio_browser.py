"""The whole editorial flow in Chromium, against gunicorn with two workers.

Sign in, create a story, add posts, order them by dragging, pin one, publish;
a third-party page on another origin embeds it in that order; an edit made in
the studio is served by both workers within 1.5 s; a rename keeps the old
embed URL working.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.servers import ROOT, Gunicorn, PublisherSite, publish, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]


def embed_body(server: Gunicorn, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def test_an_editor_curates_publishes_and_a_third_party_page_shows_it(
    browser: Browser, studio_server: tuple[Gunicorn, str],
    publisher: PublisherSite,
) -> None:
    server, password = studio_server
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server, password)

    page.click("text=New story")
    page.fill("input[name=title]", "Quay Night Market")
    page.select_option("select[name=default_template]", "list")
    page.click("text=Create story")
    expect(page.locator("h1")).to_have_text("Quay Night Market")
    story_url = page.url

    page.click("text=Posts")
    for name in ("First", "Second", "Third"):
        page.click("text=Add a post")
        page.fill("textarea[name=text]", f"{name} stall is open #market")
        page.fill("input[name=author_name]", f"{name} vendor")
        page.click("text=Add post")
    rows = page.locator(".qcard")
    expect(rows).to_have_count(3)
    # Newest first: Third, Second, First. Drag "First" onto "Third" (goes before it).
    rows.filter(has_text="First stall").drag_to(rows.filter(has_text="Third stall"))
    expect(rows.first).to_contain_text("First stall")
    # Pin "Second" with the keyboard: focus its row and press p.
    rows.filter(has_text="Second stall").focus()
    page.keyboard.press("p")
    expect(rows.first).to_contain_text("Second stall")

    page.goto(story_url)
    page.click("button[value=published]")
    expect(page.locator(".status.published")).to_be_visible()

    slug = "quay-night-market"
    site = publish(publisher, "/market", (
        f'<blockquote class="samembed" data-story="{slug}">'
        f'<a href="{server.url}/s/{slug}">Market</a></blockquote>'
        f'<script async src="{server.url}/embed.js"></script>'))
    third_party = context.new_page()
    third_party.goto(site)
    frame = third_party.frame_locator("iframe")
    frame.locator("article.post").first.wait_for()
    texts = frame.locator("article.post .text").all_inner_texts()
    assert [t.split()[0] for t in texts] == ["Second", "First", "Third"]

    # An edit in the studio reaches both workers within 1.5 s.
    page.fill("input[name=title]", "Quay Night Market, last night")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("h1")).to_have_text("Quay Night Market, last night")
    deadline, streak = time.monotonic() + 1.5, 0
    while time.monotonic() < deadline and streak < 20:
        fresh = b"last night" in embed_body(server, f"/e/{slug}")[1]
        streak = streak + 1 if fresh else 0
    assert streak >= 20

    # Rename: the old embed URL redirects and the publisher's page still works.
    page.fill("input[name=slug]", "night-market")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#snippet")).to_contain_text('data-story="night-market"')
    # Both workers must answer 301 (each learns of the rename within its own poll).
    deadline, streak = time.monotonic() + 3, 0
    while time.monotonic() < deadline and streak < 20:
        streak = streak + 1 if embed_body(server, f"/e/{slug}")[0] == 301 else 0
    assert streak >= 20
    third_party.reload()
    third_party.frame_locator("iframe").locator("article.post").first.wait_for()
    assert third_party.frame_locator("iframe").locator("article.post").count() == 3
    context.close()


def test_two_editors_in_two_browsers_one_save_wins(
    browser: Browser, studio_server: tuple[Gunicorn, str],
) -> None:
    server, password = studio_server
    pages = []
    for _ in range(2):
        page = browser.new_context().new_page()
        sign_in(page, server, password)
        pages.append(page)
    pages[0].click("text=New story")
    pages[0].fill("input[name=title]", "Contested story")
    pages[0].click("text=Create story")
    pages[1].goto(pages[0].url)
    pages[0].fill("input[name=title]", "Title from tab one")
    pages[1].fill("input[name=title]", "Title from tab two")
    pages[0].get_by_role("button", name="Save", exact=True).click()
    expect(pages[0].locator(".ok")).to_be_visible()
    pages[1].get_by_role("button", name="Save", exact=True).click()
    expect(pages[1].locator("h1")).to_contain_text("changed while you were editing")
    choice = pages[1].get_by_role("group", name="Title")
    expect(choice).to_contain_text("Title from tab one")
    expect(choice).to_contain_text("Title from tab two")
    choice.get_by_role("radio", name="Yours").check()
    pages[1].get_by_role("button", name="Save with these choices").click()
    expect(pages[1].locator("h1")).to_have_text("Title from tab two")
    for page in pages:
        page.context.close()


def test_two_tabs_editing_different_fields_keep_both_edits(
    browser: Browser, studio_server: tuple[Gunicorn, str],
) -> None:
    server, password = studio_server
    context = browser.new_context()
    tab_a, tab_b = context.new_page(), context.new_page()
    sign_in(tab_a, server, password)
    tab_a.click("text=New story")
    tab_a.fill("input[name=title]", "Two tabs")
    tab_a.fill("textarea[name=description]", "The first description")
    tab_a.click("text=Create story")
    tab_b.goto(tab_a.url)

    tab_a.fill("textarea[name=description]", "Written in tab A")
    tab_a.get_by_role("button", name="Save", exact=True).click()
    expect(tab_a.locator("p.ok")).to_be_visible()
    tab_b.fill("input[name=title]", "Renamed in tab B")
    tab_b.get_by_role("button", name="Save", exact=True).click()

    expect(tab_b.locator("p.ok")).to_contain_text("changes meanwhile were kept: Description")
    expect(tab_b.locator("h1")).to_have_text("Renamed in tab B")
    expect(tab_b.locator("textarea[name=description]")).to_have_value("Written in tab A")
    context.close()


def test_the_database_url_setting_points_accounts_elsewhere(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/other.sqlite3",
           "SECRET_KEY": "x" * 50}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    assert (tmp_path / "other.sqlite3").stat().st_size > 0
