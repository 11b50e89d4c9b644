"""`/sitemap.xml` and `/robots.txt`: what search engines are offered. Published
stories only; archived pages stay readable, say so, and are `noindex`."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses our own sitemap
from datetime import datetime

import pytest
from django.test import Client, override_settings

from samembed import mongo
from samembed.repositories import stories as stories_repo
from tests.factories import make_story

pytestmark = pytest.mark.usefixtures("mongo_db")

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def urls(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)  # noqa: S314
    assert root.tag == f"{NS}urlset"
    return {u.findtext(f"{NS}loc") or "": u.findtext(f"{NS}lastmod") or ""
            for u in root.findall(f"{NS}url")}


def test_the_sitemap_lists_published_stories_only() -> None:
    make_story("harbour")
    make_story("fête")
    make_story("draft", status="draft")
    make_story("old", status="archived")
    response = Client().get("/sitemap.xml")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Cache-Control"] == "public, max-age=300"
    assert "Set-Cookie" not in response
    found = urls(response.content)
    assert set(found) == {"http://testserver/s/harbour", "http://testserver/s/f%C3%AAte"}
    story = stories_repo.get_by_slug("harbour")
    assert story is not None
    assert datetime.fromisoformat(found["http://testserver/s/harbour"]).date() == \
        story.updated_at.date()


@override_settings(PUBLIC_ORIGIN="https://embed.example")
def test_the_sitemap_and_robots_name_the_public_origin() -> None:
    make_story("harbour")
    assert set(urls(Client().get("/sitemap.xml").content)) == {
        "https://embed.example/s/harbour"}
    assert "Sitemap: https://embed.example/sitemap.xml" in Client().get(
        "/robots.txt").content.decode()


def test_an_empty_site_has_an_empty_sitemap() -> None:
    assert urls(Client().get("/sitemap.xml").content) == {}


def test_robots_keeps_crawlers_out_of_the_machinery() -> None:
    response = Client().get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert lines[0] == "User-agent: *"
    for path in ("/studio/", "/admin/", "/api/", "/live/", "/oembed"):
        assert f"Disallow: {path}" in lines
    assert "Disallow: /s/" not in lines and "Disallow: /e/" not in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines
    assert Client().post("/robots.txt").status_code == 405
    assert Client().post("/sitemap.xml").status_code == 405


def test_an_archived_story_page_says_so_and_is_not_indexed() -> None:
    make_story("old", posts=1, status="archived")
    make_story("new", posts=1)
    response = Client().get("/s/old")
    assert response.status_code == 200
    body = response.content.decode()
    assert '<meta name="robots" content="noindex">' in body
    assert response["X-Robots-Tag"] == "noindex"
    assert '<p class="archived" role="note">This story is archived' in body
    fresh = Client().get("/s/new")
    assert "noindex" not in fresh.content.decode() and "X-Robots-Tag" not in fresh
    assert 'class="archived"' not in fresh.content.decode()


def test_an_archived_story_says_so_in_its_own_language() -> None:
    make_story("vieux", posts=1, status="archived", language="fr")
    assert "Cette histoire est archivée" in Client().get("/s/vieux").content.decode()


def test_the_sitemap_is_a_503_while_the_database_is_down(embedded_db: object) -> None:
    make_story("harbour")
    with override_settings(MONGODB_URI="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=200"):
        mongo.close()
        try:
            response = Client().get("/sitemap.xml")
        finally:
            mongo.close()
    assert response.status_code == 503 and response["Retry-After"] == "5"
