"""The producer remote as a desk: undo of Hide, sentences that count the screens, and
the count of connected screens itself (fast path, Django view, across workers).

The browser side (a phone-sized remote, two open screens) is in
test_remote_desk_browser.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from django.test import Client, override_settings

from samembed import metrics, mongo
from samembed.asgi import FastPath
from samembed.embed import live
from samembed.embed.cache import ResponseCache
from samembed.repositories import audit, sources
from samembed.repositories import posts as posts_repo
from samembed.repositories import screens as screens_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.sources import Source
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.test_fastpath import Downstream, call

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture(autouse=True)
def no_screens() -> None:
    live.screens.clear()


def command(client: Client, story: Story, json_answer: bool = True, **data: object
            ) -> tuple[int, dict]:
    headers = {"Accept": "application/json"} if json_answer else {}
    response = client.post(f"/studio/stories/{story.id}/remote/command", data, headers=headers)
    if response["Content-Type"] == "application/json":
        return response.status_code, json.loads(response.content)
    return response.status_code, {"location": response.get("Location", "")}


def control_version(story: Story) -> str:
    stored = stories_repo.get(story.id)
    assert stored is not None
    return str(stored.screen.control_version)


def test_hide_offers_an_undo_that_puts_the_post_back(ada: Client) -> None:
    story = make_story("undo-show", posts=3, live=True, title="Undo show")
    post = posts_repo.list_published(story.id, 10)[1]

    status, body = command(ada, story, command="hide", post=str(post.id),
                           post_version=str(post.version))
    assert status == 200 and body["ok"] is True
    assert body["message"] == f"Hidden everywhere: ‘{post.text[:40].rsplit(' ', 1)[0]}…’ " \
                              f"by {post.author.name}."
    assert body["undo"] == {"post": str(post.id), "post_version": post.version + 1,
                            "seconds": 10}
    assert post.id not in [p.id for p in posts_repo.list_published(story.id, 10)]

    status, back = command(ada, story, command="unhide", post=body["undo"]["post"],
                           post_version=str(body["undo"]["post_version"]))
    assert status == 200 and back["message"].startswith("Back on the screens: ‘")
    restored = posts_repo.get_by_key(str(post.id))
    assert restored is not None and restored.state == "approved"
    assert restored.version == post.version + 2
    assert [p.id for p in posts_repo.list_published(story.id, 10)][1] == post.id
    trail = [(e.action, e.changes) for e in audit.for_story(story.id, post_id=post.id)]
    assert trail == [("post.unhide", {"state": {"before": "rejected", "after": "approved"}}),
                     ("post.hide", {"state": {"before": "approved", "after": "rejected"}})]
    stored = stories_repo.get(story.id)
    assert stored is not None and stored.version == story.version + 2


def test_undo_does_not_overwrite_a_post_moderated_since(ada: Client) -> None:
    story = make_story("undo-late", posts=2, live=True)
    post = posts_repo.list_published(story.id, 10)[0]
    _, body = command(ada, story, command="hide", post=str(post.id),
                      post_version=str(post.version))
    hidden = posts_repo.get_by_key(str(post.id))
    assert hidden is not None and posts_repo.update(hidden, {"pinned": True})

    status, answer = command(ada, story, command="unhide", post=str(post.id),
                             post_version=str(body["undo"]["post_version"]))
    assert status == 409 and "was changed after it was hidden" in answer["message"]
    stored = posts_repo.get_by_key(str(post.id))
    assert stored is not None and stored.state == "rejected" and stored.pinned is True
    # The refused undo is in the trail as a conflict, next to the hide it tried to undo.
    assert [(e.action, e.outcome) for e in audit.for_story(story.id, post_id=post.id)] == [
        ("post.unhide", "conflict"), ("post.hide", "applied")]


def test_without_javascript_hide_redirects_to_a_page_with_an_undo_form(ada: Client) -> None:
    story = make_story("undo-forms", posts=2, live=True)
    post = posts_repo.list_published(story.id, 10)[0]
    status, body = command(ada, story, json_answer=False, command="hide", post=str(post.id),
                           post_version=str(post.version))
    assert status == 302 and body["location"] == f"/studio/stories/{story.id}/remote"
    assert "?" not in body["location"]

    page = ada.get(body["location"]).content.decode()
    assert "Hidden everywhere: ‘" in page
    assert 'name="command" value="unhide"' in page
    assert f'name="post_version" value="{post.version + 1}"' in page

    status, body = command(ada, story, json_answer=False, command="unhide", post=str(post.id),
                           post_version=str(post.version + 1))
    assert status == 302
    after = ada.get(body["location"]).content.decode()
    assert "Back on the screens: ‘" in after and 'value="unhide"' not in after


def test_the_mode_switch_shows_the_current_mode_as_pressed(ada: Client) -> None:
    story = make_story("modes", posts=1, live=True)
    page = ada.get(f"/studio/stories/{story.id}/remote").content.decode()
    assert 'data-key="mode:wall" class="remote-segment" aria-pressed="true">Wall<' in page
    assert 'data-key="mode:spotlight" class="remote-segment" aria-pressed="false">' in page
    assert 'data-key="speed:8" class="remote-segment" aria-pressed="true">8 s<' in page

    status, body = command(ada, story, command="mode", mode="spotlight",
                           control_version=control_version(story))
    assert status == 200
    assert body["message"] == ("Mode: one at a time, on no screen. Screens that open now "
                               "start this way.")
    page = ada.get(f"/studio/stories/{story.id}/remote").content.decode()
    assert 'data-key="mode:spotlight" class="remote-segment" aria-pressed="true">' in page


def poll(client: Client, slug: str, screen: str) -> int:
    return client.get(f"/live/{slug}?screen={screen}").status_code


def test_two_open_screens_are_counted_and_named_in_the_answers(ada: Client) -> None:
    story = make_story("counted", posts=3, live=True)
    post = posts_repo.list_published(story.id, 10)[2]
    screens = Client()
    assert poll(screens, "counted", "screenaaaa1") == 200
    assert poll(screens, "counted", "screenbbbb2") == 200
    assert poll(screens, "counted", "screenaaaa1") == 200  # the same screen again

    assert live.connected_screens(story.id) == 2
    page = ada.get(f"/studio/stories/{story.id}/remote").content.decode()
    assert 'data-remote-screens="2">2 screens connected<' in page

    status, body = command(ada, story, command="pause", control_version=control_version(story))
    assert (status, body["message"]) == (200, "All 2 screens paused.")
    _, body = command(ada, story, command="spotlight", post=str(post.id),
                      control_version=control_version(story))
    assert body["message"] == f"Spotlight: ‘{post.text[:40].rsplit(' ', 1)[0]}…’ by " \
                              f"{post.author.name}, on all 2 screens."
    page = ada.get(f"/studio/stories/{story.id}/remote").content.decode()
    assert "remote-card remote-spot" in page and post.author.name in page


def test_a_screen_silent_for_a_minute_is_no_longer_counted() -> None:
    story = make_story("quiet", live=True)
    now = time.time()
    live.screens.seen(str(story.id), "oldscreen1", now - live.SCREEN_WINDOW - 1)
    live.screens.seen(str(story.id), "newscreen1", now - 5)
    assert live.connected_screens(story.id, now) == 1
    assert live.screens.snapshot(now) == {str(story.id): {"newscreen1": now - 5}}


def test_screens_of_every_worker_are_counted_once(tmp_path: Path) -> None:
    story = make_story("workers", live=True)
    now = time.time()
    live.screens.seen(str(story.id), "sharedscreen", now - 2)
    live.screens.seen(str(story.id), "onlyhere1", now - 2)
    # Another worker's snapshot: one screen it shares with us (polls land on either).
    # A live process stands for that worker (a dead one's snapshot is retired).
    other = {"id": "other-worker", "pid": os.getppid(),
             "started": metrics.process_start(os.getppid()),
             "counters": {}, "histograms": {}, "gauges": {},
             "screens": {str(story.id): {"sharedscreen": now - 1, "onlythere1": now - 3},
                         "someotherstory": {"x" * 10: now}}}
    (tmp_path / "other-worker.json").write_text(json.dumps(other))
    with override_settings(METRICS_DIR=str(tmp_path)):
        assert live.connected_screens(story.id, now) == 3


def test_screens_seen_by_other_instances_are_counted_once_from_the_database() -> None:
    story = make_story("venue", live=True)
    now = time.time()
    live.screens.seen(str(story.id), "sharedscreen", now - 2)
    live.screens.seen(str(story.id), "onlyhere1", now - 2)
    # What each instance's publisher writes every PUBLISH_INTERVAL: this one's own
    # round, and another instance's, behind another load balancer target.
    screens_repo.publish(live.screens.process, live.screens.snapshot(now))
    screens_repo.publish("other-instance", {
        str(story.id): {"sharedscreen": now - 1, "onlythere1": now - 3,
                        "longgone1": now - live.SCREEN_WINDOW - 5},
        "not-an-id": {"x" * 10: now}})
    assert live.connected_screens(story.id, now) == 3
    stored = mongo.database()["screens"].find_one({"_id": f"other-instance:{story.id}"})
    assert stored is not None and stored["story_id"] == story.id
    assert set(stored["seen"]) == {"sharedscreen", "onlythere1", "longgone1"}
    # The first screen a process sees starts its publisher.
    assert live.screens._publisher is not None and live.screens._publisher.is_alive()


def test_the_version_endpoint_accepts_a_screen_id_and_nothing_else() -> None:
    story = make_story("strict", live=True)
    client = Client()
    answer = client.get("/live/strict?screen=abcdefgh12")
    assert answer.status_code == 200 and json.loads(answer.content)["slug"] == "strict"
    assert answer["Cache-Control"] == "public, max-age=1, stale-if-error=60"
    assert "Set-Cookie" not in answer
    for query in ("screen=short", "screen=" + "a" * 33, "screen=abc$defgh", "screen=abcdefgh&v=1",
                  "v=1"):
        response = client.get(f"/live/strict?{query}")
        assert response.status_code == 400, query
    assert live.connected_screens(story.id) == 1


def test_the_fast_path_counts_a_screen_from_the_cached_entry_without_django() -> None:
    story_id = "6b0f00000000000000000001"
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60)
    cache.get("/live/show", lambda: live._json(200, {"slug": "show", "version": 3},
                                               story_id=story_id, version=3))
    django = Downstream()
    app = FastPath(django, cache)

    status, _, body = call(app, "/live/show", b"screen=phonescreen1")
    assert status == 200 and json.loads(body)["version"] == 3
    assert call(app, "/live/show", b"screen=tvscreen0002")[0] == 200
    assert call(app, "/live/show")[0] == 200
    assert django.paths == []
    assert live.screens.snapshot()[story_id].keys() == {"phonescreen1", "tvscreen0002"}
    # Anything else in the query is Django's to refuse, and nothing is counted.
    assert call(app, "/live/show", b"screen=bad!")[2] == b"django"
    assert call(app, "/live/show", b"screen=phonescreen1&x=1")[2] == b"django"
    assert len(live.screens.snapshot()[story_id]) == 2


def test_what_a_browser_can_make_us_remember_is_bounded() -> None:
    now = time.time()
    for n in range(live.SCREENS_PER_STORY + 50):
        live.screens.seen("story", f"screen{n:06d}", now)
    assert len(live.screens.snapshot(now)["story"]) == live.SCREENS_PER_STORY
    live.screens.seen("story", "latecomer1", now + live.SCREEN_WINDOW + 1)
    assert live.screens.snapshot(now + live.SCREEN_WINDOW + 1) == {
        "story": {"latecomer1": now + live.SCREEN_WINDOW + 1}}


def test_a_failing_source_shows_on_the_remote_with_a_link_to_sources(ada: Client) -> None:
    story = make_story("failing-show", posts=1, live=True)
    added = sources.add(Source(story_id=story.id, kind="rss", label="feed", interval=60.0,
                               settings={"url": "https://www.exmaple.com/feed.xml"}))
    assert sources.save(added, failures=5, paused_since=added.next_run_at,
                        last_error="The address www.exmaple.com could not be found.")
    page = ada.get(f"/studio/stories/{story.id}/remote").content.decode()
    assert (f'<a href="/studio/stories/{story.id}/sources">Sources: 1 paused; press Retry on '
            "the Sources page.</a>") in page
