"""The ingest pipeline over the wire: dedupe, edits, deletions, caps, media copies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from samembed.ingest.model import Collected, CollectedMedia
from samembed.ingest.pipeline import store
from samembed.repositories import posts as posts_repo
from samembed.repositories import sources, stories
from samembed.repositories.sources import Rules, Source
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.image_host import ImageHost

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

AUTO = Rules(auto_approve=True)
NOW = datetime.now(UTC).replace(microsecond=0)


def collected(n: int, **fields: object) -> Collected:
    values: dict[str, object] = {
        "external_id": f"109{n}", "author_name": f"Author {n}",
        "author_handle": f"@a{n}@example.social", "text": f"Post {n} #harbour",
        "posted_at": NOW - timedelta(minutes=n)}
    return Collected(**{**values, **fields})  # type: ignore[arg-type]


@pytest.fixture
def story() -> Story:
    return make_story("collected")


def all_posts(story: Story) -> list[posts_repo.Post]:
    return [p for state in ("pending", "approved", "rejected")
            for p in posts_repo.list_for_studio(story.id, state, 0, 500)]


def test_new_posts_are_stored_and_repeats_cost_nothing(story: Story) -> None:
    first = store(story.id, "mastodon", [collected(1), collected(2)], rules=AUTO)
    again = store(story.id, "mastodon", [collected(1), collected(2)], rules=AUTO)

    assert (first.new, first.approved, again.new, again.unchanged) == (2, 2, 0, 2)
    assert sorted(p.external_id for p in all_posts(story)) == ["1091", "1092"]
    assert all(p.version == 1 for p in all_posts(story))


def test_the_same_post_can_be_collected_into_two_stories(story: Story) -> None:
    other = make_story("other")
    store(story.id, "mastodon", [collected(1)], rules=AUTO)
    store(other.id, "mastodon", [collected(1)], rules=AUTO)
    assert len(all_posts(story)) == len(all_posts(other)) == 1


def test_an_edit_refreshes_the_text_but_keeps_the_editors_decisions(story: Story) -> None:
    store(story.id, "mastodon", [collected(1)], rules=AUTO)
    post = all_posts(story)[0]
    assert posts_repo.update(post, {"pinned": True})
    before = stories.get(story.id)

    report = store(story.id, "mastodon", [collected(1, text="Post 1, edited")], rules=AUTO)

    edited = all_posts(story)[0]
    assert report.updated == 1 and edited.text == "Post 1, edited"
    assert (edited.state, edited.pinned) == ("approved", True)
    assert stories.get(story.id).version > before.version  # type: ignore[union-attr]


def test_an_edit_that_adds_a_blocked_word_takes_the_post_down(story: Story) -> None:
    rules = replace(AUTO, blocked_words=("scam",))
    store(story.id, "mastodon", [collected(1)], rules=rules)
    store(story.id, "mastodon", [collected(1, text="Now a scam link")], rules=rules)
    post = all_posts(story)[0]
    assert (post.state, post.reason) == ("rejected", "Contains the blocked word “scam”.")


def test_posts_deleted_at_the_source_leave_the_embed(story: Story) -> None:
    store(story.id, "mastodon", [collected(1), collected(2)], rules=AUTO)
    version = stories.get(story.id).version  # type: ignore[union-attr]

    report = store(story.id, "mastodon", [], rules=AUTO, deleted=["1091", "unknown"])

    assert report.deleted == 1
    assert [p.external_id for p in posts_repo.list_published(story.id, 10)] == ["1092"]
    gone = next(p for p in all_posts(story) if p.external_id == "1091")
    assert (gone.state, gone.reason) == ("rejected", "Deleted at the source.")
    assert stories.get(story.id).version > version  # type: ignore[union-attr]


def test_invalid_posts_are_skipped_and_reported_the_rest_is_stored(story: Story) -> None:
    report = store(story.id, "rss", [
        collected(1, posted_at=datetime(1970, 1, 1, tzinfo=UTC)),
        collected(2, external_id=""),
        collected(3, author_name="  "),
        collected(4, text="x" * 20_000),
        collected(5, permalink="javascript:alert(1)", avatar_url="data:image/png;base64,AA",
                  media=(CollectedMedia("file:///etc/passwd"),)),
    ], rules=AUTO)

    assert [reason for _, reason in report.invalid] == [
        "the date 1970-01-01T00:00:00+00:00 is not plausible",
        "id must be 1 to 500 printable characters",
        "the author's name must be 1 to 200 characters"]
    kept = {p.external_id: p for p in all_posts(story)}
    assert sorted(kept) == ["1094", "1095"] and len(kept["1094"].text) == 10_000
    assert (kept["1095"].permalink, kept["1095"].author.avatar_url, kept["1095"].media) == (
        None, None, ())


def test_a_daily_cap_stops_a_flood_from_one_source(story: Story) -> None:
    source = sources.add(Source(story_id=story.id, kind="rss", settings={}, label="feed"))
    rules = replace(AUTO, daily_cap=3)
    first = store(story.id, "rss", [collected(n) for n in range(2)], source_id=source.id,
                  rules=rules)
    second = store(story.id, "rss", [collected(n) for n in range(2, 6)], source_id=source.id,
                   rules=rules)
    assert (first.new, second.new, second.capped) == (2, 1, 3)


def test_media_is_copied_once_and_reused_on_refresh(story: Story, image_host: ImageHost) -> None:
    post = collected(1, media=(CollectedMedia("http://images.test/a.jpg", "A kite"),
                               CollectedMedia("http://images.test/missing.jpg", "Gone")),
                     avatar_url="http://images.test/face.jpg")
    report = store(story.id, "mastodon", [post], rules=AUTO)
    store(story.id, "mastodon", [replace(post, text="Edited")], rules=AUTO)

    stored = all_posts(story)[0]
    assert report.media_failed == 1 and stored.text == "Edited"
    assert [(m.url[:6], m.alt, m.source_url) for m in stored.media] == [
        ("media:", "A kite", "http://images.test/a.jpg")]
    assert stored.author.avatar_url and stored.author.avatar_url.startswith("media:")
    # Copies are reused; a failed one is tried again when the post changes.
    assert sorted(image_host.paths) == ["/a.jpg", "/face.jpg", "/missing.jpg", "/missing.jpg"]


def test_a_post_stored_by_a_concurrent_run_is_not_counted_twice(story: Story) -> None:
    store(story.id, "mastodon", [collected(1)], rules=AUTO)
    already = all_posts(story)[0]
    fresh = replace(already, external_id="1099", id=None)
    assert posts_repo.insert_new([replace(already, id=None), fresh]) == [False, True]
    assert sorted(p.external_id for p in all_posts(story)) == ["1091", "1099"]


def test_an_authors_avatar_is_copied_once_across_runs_and_stories(
    story: Story, image_host: ImageHost
) -> None:
    other = make_story("elsewhere")
    face = "http://images.test/face.jpg"
    store(story.id, "mastodon", [collected(1, avatar_url=face)], rules=AUTO)
    store(story.id, "mastodon", [collected(2, avatar_url=face)], rules=AUTO)
    store(other.id, "bluesky", [collected(3, avatar_url=face)], rules=AUTO)

    avatars = {p.author.avatar_url for p in all_posts(story) + all_posts(other)}
    assert len(avatars) == 1 and next(iter(avatars)).startswith("media:")  # type: ignore[union-attr]
    assert image_host.paths == ["/face.jpg"]
