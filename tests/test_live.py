"""Live stories over HTTP: the version endpoint, live documents, the screen URL and
the producer remote (the browser side is in test_live_browser.py)."""

from __future__ import annotations

import json
from typing import Any

import pymongo
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from samembed.asgi import FastPath, cache_key, versioned_hit
from samembed.embed.cache import Entry, ResponseCache, response_cache
from samembed.embed.versions import VersionWatch
from samembed.repositories import audit
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from tests.factories import make_post, make_story
from tests.test_fastpath import Downstream, call

pytestmark = pytest.mark.usefixtures("mongo_db")


def queries_served(client: Client, path: str, times: int) -> int:
    """How many queries the database served while `times` requests for `path`
    were answered (its own counters, asked through a client of our own)."""
    stats: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(settings.MONGODB_URI) as stats:
        def served() -> int:
            return int(stats.admin.command("serverStatus")["opcounters"]["query"])
        before = served()
        for _ in range(times):
            client.get(path)
        return served() - before


def test_it_answers_the_version_of_a_live_story() -> None:
    story = make_story("harbour", posts=2, live=True)
    response = Client().get("/live/harbour")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"].startswith("public, max-age=1,")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Set-Cookie" not in response
    body = json.loads(response.content)
    assert body["slug"] == "harbour"
    assert body["version"] == story.version
    assert body["live"] is True
    assert body["screen"] == {"mode": "wall", "interval": 8, "paused": False,
                              "spotlight": None, "advance": 0, "control_version": 0}
    # The fast path answers the next one from memory.
    assert cache_key("/live/harbour", b"") == "/live/harbour"
    assert response_cache().peek("/live/harbour") is not None


def test_it_answers_a_flood_of_version_requests_from_memory() -> None:
    make_story("flooded", posts=1, live=True)
    client = Client()
    assert queries_served(client, "/live/flooded", 200) == 1
    # One lookup of a slug nobody has, remembered: its two indexed finds (the slug,
    # then the previous slugs), however many requests follow.
    assert queries_served(client, "/live/unknown-story", 50) == 2


def test_it_refuses_unknown_stories_and_bad_parameters() -> None:
    make_story("draft-live", live=True, status="draft")
    client = Client()
    for path in ("/live/nope", "/live/draft-live", "/live/" + "x" * 300):
        response = client.get(path)
        assert response.status_code == 404, path
    assert json.loads(client.get("/live/nope").content)["error"] == "not_found"
    make_story("known", live=True)
    for path in ("/live/known?v=1", "/live/known?" + "a" * 5000):
        response = client.get(path)
        assert response.status_code == 400, path
        assert b"no query parameters" in response.content
    assert client.post("/live/known").status_code == 405


def test_a_renamed_live_story_redirects_its_version_endpoint() -> None:
    story = make_story("old-name", live=True)
    assert stories_repo.update(story, {"slug": "new-name"})
    response = Client().get("/live/old-name")
    assert response.status_code == 301
    assert response["Location"] == "/live/new-name"


def test_a_change_moves_the_version_within_one_watch_look() -> None:
    story = make_story("moving", posts=2, live=True)
    client = Client()
    watch = VersionWatch(response_cache())
    watch.poll()
    before = json.loads(client.get("/live/moving").content)["version"]
    make_post(story, 9, text="fresh from the quay")
    stories_repo.bump_version(story.id)
    watch.poll()
    after = json.loads(client.get("/live/moving").content)["version"]
    assert after == before + 1


def test_live_documents_name_their_story_version_and_build() -> None:
    story = make_story("doc", posts=3, live=True)
    client = Client()
    for path in ("/e/doc", "/e/doc?template=ticker", "/screen/doc"):
        response = client.get(path)
        html = response.content.decode()
        assert response.status_code == 200, path
        assert f'data-live="doc" data-version="{story.version}"' in html
        assert "data-build=" in html and 'data-poll="1000"' in html
        assert 'data-swap="content"' in html and "data-live-pause" in html
        assert 'aria-live="polite"' in html
        assert response["Access-Control-Allow-Origin"] == "*"
    quiet = make_story("quiet", posts=1)
    html = client.get("/e/quiet").content.decode()
    assert "data-live=" not in html and "data-live-pause" not in html
    assert quiet.live is False


def test_it_takes_a_version_as_cache_buster_without_rendering_again() -> None:
    story = make_story("busted", posts=2, live=True)
    client = Client()
    assert client.get("/e/busted?template=grid").status_code == 200
    assert queries_served(client, f"/e/busted?template=grid&v={story.version}", 20) == 0
    ahead = client.get(f"/e/busted?template=grid&v={story.version + 5}")
    assert ahead.status_code == 200
    assert ahead["Cache-Control"] == "no-store"  # a CDN must not file it under v+5
    for bad in ("abc", "-1", "1" * 13, "１"):
        response = client.get(f"/e/busted?v={bad}")
        assert response.status_code == 400, bad
        assert b"'v' must be a story version" in response.content


def test_the_screen_has_its_own_url_with_qr_code_and_branding() -> None:
    make_story("stage", posts=3, live=True, screen=stories_repo.Screen(
        mode="spotlight", interval=12, logo_url="https://cdn.example.org/logo.png",
        cta="Post with #stage"))
    client = Client()
    response = client.get("/screen/stage")
    html = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("public, max-age=10")
    assert 'data-template="screen"' in html
    assert 'data-mode="spotlight" data-interval="12"' in html
    assert '<img class="logo" src="https://cdn.example.org/logo.png"' in html
    assert 'class="qr"' in html and "Post with #stage" in html
    assert "testserver/s/stage" in html
    assert client.get("/screen/stage?template=list").status_code == 400
    assert client.get("/screen/nothing-here").status_code == 404


def _remote(client: Client, story: stories_repo.Story, **data: str) -> tuple[int, dict]:
    response = client.post(f"/studio/stories/{story.id}/remote/command", data,
                           HTTP_ACCEPT="application/json")
    return response.status_code, json.loads(response.content or b"{}") \
        if response["Content-Type"] == "application/json" else {}


def test_the_remote_pauses_and_spotlights_every_screen(ada: Client) -> None:
    story = make_story("remote", posts=3, live=True)
    post = posts_repo.list_published(story.id, 10)[1]
    page = ada.get(f"/studio/stories/{story.id}/remote")
    assert page.status_code == 200
    assert b"Hide everywhere" in page.content and b'data-control-version="0"' in page.content
    status, body = _remote(ada, story, command="pause", control_version="0")
    assert (status, body["control_version"]) == (200, 1)
    status, body = _remote(ada, story, command="spotlight", control_version="1",
                           post=str(post.id))
    assert status == 200
    screen = json.loads(Client().get("/live/remote").content)["screen"]
    assert screen["paused"] is True and screen["spotlight"] == str(post.id)
    stored = stories_repo.get(story.id)
    assert stored is not None and stored.screen.control_version == 2
    assert stored.version == story.version + 2
    actions = [e.action for e in audit.for_story(story.id)]
    assert "screen.pause" in actions and "screen.spotlight" in actions


def test_the_remote_refuses_a_stale_version_and_bad_commands(ada: Client) -> None:
    story = make_story("stale", posts=1, live=True)
    assert _remote(ada, story, command="next", control_version="0")[0] == 200
    status, body = _remote(ada, story, command="pause", control_version="0")
    assert status == 409 and body["control_version"] == 1
    stored = stories_repo.get(story.id)
    assert stored is not None and stored.screen.paused is False
    # A producer's browser gets the remote as it now is, with the reason.
    page = ada.post(f"/studio/stories/{story.id}/remote/command",
                    {"command": "pause", "control_version": "0"})
    assert page.status_code == 409
    assert b"Another command came first" in page.content
    assert b'data-control-version="1"' in page.content
    for data in ({"command": "explode", "control_version": "1"},
                 {"command": "pause"},
                 {"command": "pause", "control_version": "x" * 50},
                 {"command": "speed", "control_version": "1", "interval": "1"},
                 {"command": "speed", "control_version": "1", "interval": "9" * 40},
                 {"command": "mode", "control_version": "1", "mode": "fireworks"},
                 {"command": "spotlight", "control_version": "1", "post": "nope"}):
        status, body = _remote(ada, story, **data)
        assert status == 400, data
        assert body["ok"] is False and body["message"]


def test_the_remote_refuses_people_who_are_not_editors(db: None) -> None:
    story = make_story("guarded", posts=1, live=True)
    anonymous = Client()
    response = anonymous.post(f"/studio/stories/{story.id}/remote/command",
                              {"command": "pause", "control_version": "0"})
    assert response.status_code == 403
    outsider = Client()
    outsider.force_login(User.objects.create_user("mallory", password="not an editor"))
    response = outsider.post(f"/studio/stories/{story.id}/remote/command",
                             {"command": "pause", "control_version": "0"})
    assert response.status_code == 403
    assert outsider.get(f"/studio/stories/{story.id}/remote").status_code == 403
    stored = stories_repo.get(story.id)
    assert stored is not None and stored.screen.paused is False


def test_the_remote_hides_a_post_everywhere(ada: Client) -> None:
    story = make_story("hiding", posts=2, live=True)
    post = posts_repo.list_published(story.id, 10)[0]
    status, _ = _remote(ada, story, command="hide", post=str(post.id),
                        post_version=str(post.version + 3))
    assert status == 409
    status, body = _remote(ada, story, command="hide", post=str(post.id),
                           post_version=str(post.version))
    assert status == 200 and body["ok"] is True
    assert post.id not in [p.id for p in posts_repo.list_published(story.id, 10)]
    stored = stories_repo.get(story.id)
    assert stored is not None and stored.version == story.version + 1
    assert f'data-post-id="{post.id}"'.encode() not in Client().get("/e/hiding").content


def test_the_story_form_sets_the_screens_look_and_keeps_the_remotes_controls(
        ada: Client) -> None:
    story = make_story("looks", posts=1, live=True)
    assert stories_repo.set_screen_controls(story, 0, {"paused": True})
    paused = stories_repo.get(story.id)
    assert paused is not None
    story = paused
    response = ada.post(f"/studio/stories/{story.id}/", {
        "title": story.title, "slug": "looks", "description": "", "default_template": "screen",
        "accent": "#2563eb", "background": "", "font": "system", "mode": "auto", "live": "on",
        "allowed_domains": "", "screen_mode": "spotlight", "screen_interval": "15",
        "logo_url": "javascript:alert(1)", "cta": "Scan me", "version": str(story.version),
    })
    assert response.status_code == 400
    assert b"https:// URL or a path" in response.content
    response = ada.post(f"/studio/stories/{story.id}/", {
        "title": story.title, "slug": "looks", "description": "", "default_template": "screen",
        "accent": "#2563eb", "background": "", "font": "system", "mode": "auto", "live": "on",
        "allowed_domains": "", "screen_mode": "spotlight", "screen_interval": "15",
        "logo_url": "/static/demo/avatars/harbourlights.png", "cta": "Scan me",
        "version": str(story.version),
    })
    assert response.status_code == 302
    stored = stories_repo.get(story.id)
    assert stored is not None
    assert (stored.screen.mode, stored.screen.interval, stored.screen.cta) == \
        ("spotlight", 15, "Scan me")
    assert stored.screen.logo_url == "/static/demo/avatars/harbourlights.png"
    assert stored.screen.paused is True and stored.screen.control_version == 1


def test_the_fast_path_answers_a_version_it_holds_and_leaves_newer_ones_to_django() -> None:
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60)
    cache.get("/e/show?template=grid",
              lambda: Entry.build(200, [], b"grid v7", story_id="s1", version=7))
    cache.get("/screen/show", lambda: Entry.build(200, [], b"screen v7", story_id="s1",
                                                  version=7))
    django = Downstream()
    app = FastPath(django, cache)
    assert call(app, "/e/show", b"template=grid&v=7")[2] == b"grid v7"
    assert call(app, "/e/show", b"template=grid&v=3")[2] == b"grid v7"
    assert call(app, "/screen/show", b"v=7")[2] == b"screen v7"
    assert django.paths == []
    for query in (b"template=grid&v=8", b"template=grid&v=x", b"v=" + b"9" * 13,
                  b"utm=1&v=7", b"v=7&template=grid"):
        assert call(app, "/e/show", query)[2] == b"django", query
    assert call(app, "/s/show", b"v=7")[2] == b"django"
    assert versioned_hit("/e/show", b"template=grid&v=12")[:2] == ("/e/show?template=grid", 12)
    assert versioned_hit("/live/show", b"v=1")[:2] == (None, 0)
