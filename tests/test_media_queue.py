"""The media copy queue: a bad URL or a failing host never stops the others.

Pushed and imported posts wait for the ingest loop to copy their images
(`pipeline.copy_pending`). Each post fails alone: permanent failures drop that
image with the reason kept, transient ones are retried with back-off and finally
parked, and the studio's queue says which.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

from samembed import outbound
from samembed.ingest import pipeline, runner
from samembed.ingest.model import Collected, CollectedMedia
from samembed.repositories import posts as posts_repo
from samembed.repositories import sources
from samembed.repositories.posts import Media, Post
from samembed.repositories.sources import Rules
from samembed.repositories.stories import Story
from tests.factories import make_post, make_story
from tests.image_host import ImageHost

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

TOKEN = "media-queue-token-0123456789"  # noqa: S105 - a test fixture
POISON = [
    "http://999.1.1.1/a.jpg",
    "http://0177.0.0.1/a.jpg",
    "http://[1.2.3.4]/a.jpg",
    "http://xn--/a.jpg",
    "http://ima\x00ges.test/a.jpg",
    "http://①.example/a.jpg",
    "http://" + "a" * 64 + ".example/a.jpg",
    "https://[::1/a.jpg",
]


@pytest.fixture
def story() -> Story:
    story = make_story("queue")
    sources.set_push_token(story.id, TOKEN)
    sources.save_rules(story.id, Rules(auto_approve=True), 0)
    return story


def waiting(story: Story, n: int, url: str) -> Post:
    """A post stored with its image still to copy, as the push API leaves it."""
    made = make_post(story, n)
    post = posts_repo.by_external_ids(story.id, made.source, [made.external_id])[made.external_id]
    changes = {"media": [{"type": "image", "url": "", "width": None, "height": None,
                          "alt": f"image {n}", "source_url": url}], "media_pending": True}
    assert posts_repo.update(post, changes)
    stored = posts_repo.get_by_key(str(post.id))
    assert stored is not None
    return stored


def current(post: Post) -> Post:
    stored = posts_repo.get_by_key(str(post.id))
    assert stored is not None
    return stored


@pytest.mark.parametrize("url", POISON)
def test_the_push_api_refuses_a_media_url_it_cannot_parse_and_names_the_field(
        story: Story, url: str) -> None:
    body = {"posts": [{"id": "1", "text": "Hi", "created_at": "2026-11-30T12:00:00Z",
                       "author": {"name": "Desk"}, "media": [{"url": url}]}]}
    response = Client().post("/api/v1/stories/queue/posts", json.dumps(body),
                             content_type="application/json",
                             headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 400
    error = response.json()["posts"][0]
    assert error["index"] == 0 and error["error"].startswith("media[0].url: ")
    assert posts_repo.list_for_studio(story.id, "approved", 0, 10) == []


def test_a_poison_url_first_in_line_does_not_stop_the_posts_behind_it(
        story: Story, image_host: ImageHost) -> None:
    # Stored before URLs were parsed on the way in: the case that stopped the loop.
    poisoned = [waiting(story, n, url) for n, url in enumerate(POISON)]
    good = [waiting(story, 100 + n, "http://images.test/kite.jpg") for n in range(30)]

    for _ in range(5):  # the ingest loop's rounds, 20 posts a round
        runner.run_once()

    for post in good:
        copied = current(post)
        assert not copied.media_pending and copied.media[0].url.startswith("media:")
        assert copied.media_error is None
    for post, url in zip(poisoned, POISON, strict=True):
        parked = current(post)
        assert not parked.media_pending and parked.media == ()
        assert repr(url) in (parked.media_error or ""), parked.media_error
    # Fetched once per round (20 posts), not once per post.
    assert set(image_host.paths) == {"/kite.jpg"} and len(image_host.paths) <= 3


def test_a_host_that_keeps_failing_is_retried_with_back_off_then_parked(
        story: Story, image_host: ImageHost, editor: User) -> None:
    post = waiting(story, 1, "http://images.test/status/503")
    behind = waiting(story, 2, "http://images.test/kite.jpg")
    now = datetime.now(UTC).replace(microsecond=0)

    assert pipeline.copy_pending(now=now) == 1  # the good one; the failing one waits
    first = current(post)
    assert first.media_pending and first.media_attempts == 1
    assert first.media_retry_at is not None
    wait = first.media_retry_at.replace(tzinfo=UTC) - now  # BSON dates keep milliseconds
    assert abs(wait - pipeline.MEDIA_BACKOFF) < timedelta(milliseconds=1)
    assert "503" in (first.media_error or "")
    assert current(behind).media[0].url.startswith("media:")

    assert pipeline.copy_pending(now=now + timedelta(seconds=5)) == 0  # not due yet
    assert current(post).media_attempts == 1

    when = now
    for attempt in range(2, pipeline.MEDIA_ATTEMPTS + 1):
        when += pipeline.MEDIA_BACKOFF_MAX
        pipeline.copy_pending(now=when)
        assert current(post).media_attempts == attempt
    parked = current(post)
    assert not parked.media_pending and parked.media_retry_at is None
    assert parked.media_error is not None and parked.media_error.startswith(
        f"Gave up after {pipeline.MEDIA_ATTEMPTS} attempts")
    assert image_host.paths.count("/status/503") == pipeline.MEDIA_ATTEMPTS

    client = Client()
    client.force_login(editor)
    page = client.get(f"/studio/stories/{story.id}/posts?state=approved").content.decode()
    assert "Some images could not be copied: Gave up after 6 attempts" in page


def test_a_missing_image_is_dropped_at_once_with_its_reason(
        story: Story, image_host: ImageHost) -> None:
    post = waiting(story, 1, "http://images.test/status/404")

    assert pipeline.copy_pending() == 1

    done = current(post)
    assert not done.media_pending and done.media == ()
    assert done.media_attempts == 0 and "404" in (done.media_error or "")


def test_a_polled_post_with_a_poison_url_is_stored_without_that_image(
        story: Story, image_host: ImageHost) -> None:
    collected = Collected(
        external_id="m1", author_name="Ada", text="Harbour lights",
        posted_at=datetime.now(UTC) - timedelta(minutes=1),
        media=tuple(CollectedMedia(url, "poison") for url in POISON)
        + (CollectedMedia("http://images.test/kite.jpg", "kite"),),
        avatar_url="http://999.1.1.1/avatar.jpg")

    report = pipeline.store(story.id, "mastodon", [collected])

    assert (report.new, report.invalid) == (1, [])
    stored = posts_repo.list_published(story.id, 10)[0]
    assert [m.alt for m in stored.media] == ["kite"]
    assert stored.author.avatar_url is None and stored.author.avatar_source is None
    assert image_host.paths == ["/kite.jpg"]


def test_a_new_version_of_a_post_starts_its_copy_afresh(story: Story) -> None:
    post = waiting(story, 1, "http://images.test/status/503")
    assert posts_repo.update(post, {"media_attempts": 4, "media_error": "503"})

    refreshed = replace(current(post), media=(Media("image", "", None, None, "new", "x"),),
                        media_attempts=0, media_error=None, media_pending=True)
    posts_repo.upsert(refreshed)

    again = current(post)
    assert again.media_attempts == 0 and again.media_error is None and again.media_pending


@pytest.mark.parametrize("url", POISON)
def test_the_fetcher_refuses_a_url_it_cannot_parse_before_connecting(url: str) -> None:
    with ImageHost({}) as host:
        fetcher = outbound.Fetcher(resolver=lambda name, port: ["93.184.216.34"],
                                   dialer=lambda address, port: ("127.0.0.1", host.port))
        try:
            with pytest.raises(outbound.Refused) as refused:
                fetcher.fetch(url)
        finally:
            fetcher.close()
    assert refused.value.permanent
    assert host.connections == 0
