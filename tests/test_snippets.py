"""Snippets as publishers really write them: odd case, extra parameters, stories
that are not there (yet). Each degrades to something readable, never a raw error."""

from __future__ import annotations

import pytest
from django.test import Client

from samembed.embed.cache import response_cache
from samembed.embed.snippet import snippet
from samembed.repositories import stories as stories_repo
from tests.factories import make_story

pytestmark = pytest.mark.usefixtures("mongo_db")


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.mark.parametrize("spelling", ["GRID", "Grid", "grid"])
def test_template_names_are_case_insensitive(client: Client, spelling: str) -> None:
    make_story("case", posts=3)
    response = client.get(f"/e/case?template={spelling}")
    assert response.status_code == 200
    assert b'data-template="grid"' in response.content
    assert list(response_cache()._entries) == ["/e/case?template=grid"]


def test_a_theme_for_the_publishers_page_is_its_own_entry_and_kept_by_show_more(
    client: Client
) -> None:
    make_story("modes", posts=25)
    response = client.get("/e/modes?template=grid&theme=DARK")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-theme="dark"' in body
    assert 'data-more="/e/modes?template=grid&amp;theme=dark&amp;after=' in body
    assert client.get("/e/modes?theme=light").status_code == 200
    assert sorted(response_cache()._entries) == [
        "/e/modes?template=grid&theme=dark", "/e/modes?theme=light"]
    refused = client.get("/e/modes?theme=night")
    assert refused.status_code == 400
    assert "Unknown theme 'night'; valid themes: auto, light, dark." in refused.content.decode()


def test_unknown_parameters_are_ignored_and_make_no_entry_of_their_own(client: Client) -> None:
    make_story("utm", posts=2)
    plain = client.get("/e/utm?template=list")
    for query in ("utm_source=x&template=list", "template=list&fbclid=abc&utm_medium=social",
                  "template=LIST&x=1&x=2"):
        response = client.get(f"/e/utm?{query}")
        assert response.status_code == 200, query
        assert response["ETag"] == plain["ETag"]
    assert client.get("/e/utm?utm_source=x").status_code == 200
    assert sorted(response_cache()._entries) == ["/e/utm", "/e/utm?template=list"]


def test_a_repeated_template_is_refused_naming_the_problem(client: Client) -> None:
    make_story("twice", posts=1)
    response = client.get("/e/twice?template=GRID&template=list")
    assert response.status_code == 400
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    assert "'template' is given 2 times ('GRID', 'list'); give it once." in text
    assert len(response_cache()) == 0


def test_an_unknown_template_value_is_still_refused(client: Client) -> None:
    make_story("fancy", posts=1)
    response = client.get("/e/fancy?template=Fancy&utm_source=x")
    assert response.status_code == 400
    assert "Unknown template 'Fancy'; valid templates: list, grid" in response.content.decode()


@pytest.mark.parametrize("status", ["unknown", "draft"])
def test_a_missing_story_answers_a_one_line_document_that_reports_its_height(
    client: Client, status: str
) -> None:
    if status != "unknown":
        make_story("missing", posts=2, status=status)
    response = client.get("/e/missing?template=grid")
    assert response.status_code == 404
    body = response.content.decode()
    assert "<h1>This story is not available.</h1>" in body and "<main>" in body
    assert '<a href="/s/missing" target="_blank" rel="noopener">' in body
    assert "postMessage({type:'samembed:resize'" in body
    csp = response["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp and "frame-ancestors *" in csp
    assert "unsafe-inline" not in csp


def test_a_screen_of_a_draft_waits_for_its_story(client: Client) -> None:
    story = make_story("soon", posts=2, status="draft")
    response = client.get("/screen/soon")
    assert response.status_code == 404
    body = response.content.decode()
    assert '<h1>Waiting for <span dir="auto">soon</span></h1>' in body
    assert 'data-waiting="soon"' in body and 'data-poll="1000"' in body
    assert "fetch(u," in body and "location.reload()" in body
    csp = response["Content-Security-Policy"]
    assert "connect-src 'self'" in csp and "script-src 'sha256-" in csp
    # The story it names is looked for at /live/<slug>: a 404 until it is published.
    assert client.get("/live/soon").status_code == 404
    assert stories_repo.update(story, {"status": "published"})
    response_cache().clear()  # the version watch does this within 0.5 s
    assert client.get("/live/soon").status_code == 200
    assert client.get("/screen/soon").status_code == 200


def test_a_draft_in_another_language_says_so_in_its_own_words(client: Client) -> None:
    make_story("fete", posts=1, status="draft", language="fr", title="Fête secrète")
    make_story("souk", posts=1, status="draft", language="ar")
    embed = client.get("/e/fete").content.decode()
    assert embed.startswith('<!doctype html><html lang="fr" dir="ltr">')
    assert "<h1>Ce fil n’est pas disponible.</h1>" in embed
    assert ">Ouvrir la page du fil</a>" in embed
    screen = client.get("/screen/souk")
    assert screen.status_code == 404
    body = screen.content.decode()
    assert '<html lang="ar" dir="rtl"' in body
    assert '<h1>في انتظار <span dir="auto">souk</span></h1>' in body
    assert "تبدأ الشاشة تلقائيًا" in body
    # A draft's title is not shown to whoever guesses its address.
    assert "secrète" not in client.get("/screen/fete").content.decode()


def test_a_screen_of_an_unknown_story_escapes_its_name(client: Client) -> None:
    response = client.get("/screen/%3Cb%3Ehi")
    assert response.status_code == 404
    body = response.content.decode()
    assert "<b>hi" not in body and "&lt;b&gt;hi" in body
    assert 'data-waiting="%3Cb%3Ehi"' in body


def test_the_story_page_gives_the_snippet_with_the_height_its_template_reserves(
    client: Client
) -> None:
    make_story("quay", posts=2, default_template="carousel")
    response = client.get("/s/quay")
    assert response.status_code == 200
    body = response.content.decode()
    # Shown as text to copy: the markup is escaped once, the title too.
    assert ('&lt;blockquote class=&#34;samembed&#34; data-story=&#34;quay&#34; '
            'style=&#34;min-height:700px&#34;&gt;') in body


def test_a_bounded_snippet_reserves_no_more_than_its_bound() -> None:
    text = snippet("https://x.example", "a&b", "Tom & <Jerry>", "list", max_height=600)
    assert text.splitlines()[0] == (
        '<blockquote class="samembed" data-story="a&amp;b" data-template="list" '
        'data-max-height="600" style="min-height:min(100vh,600px)">')
    assert "Tom &amp; &lt;Jerry&gt;" in text
    assert snippet("https://x.example", "s", "S", "screen").startswith(
        '<blockquote class="samembed" data-story="s" data-template="screen">')
