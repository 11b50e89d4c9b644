"""The repositories over the wire against the embedded MongoDB."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from pymongo.errors import DuplicateKeyError, WriteError

from samembed import mongo
from samembed.exceptions import SlugTaken
from samembed.repositories import ensure_indexes
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from tests.factories import make_post, make_story

pytestmark = pytest.mark.usefixtures("mongo_db")


def test_ensure_indexes_can_run_again() -> None:
    first = ensure_indexes()
    assert ensure_indexes() == first
    names = {ix["name"] for ix in mongo.database()["stories"].list_indexes()}
    assert {"slug_unique", "previous_slugs_unique"} <= names


def test_a_slug_belongs_to_one_story() -> None:
    make_story("taken")
    with pytest.raises(SlugTaken):
        make_story("taken")


def test_an_old_slug_stays_with_its_story() -> None:
    first = make_story("first")
    assert stories_repo.update(first, {"slug": "renamed"})
    found = stories_repo.get_by_slug("first")
    assert found is not None and found.slug == "renamed" and found.previous_slugs == ("first",)
    # No second story can hold the same previous slug.
    other = make_story("other")
    assert stories_repo.update(other, {"slug": "first-again"})
    raw = mongo.database()["stories"]
    with pytest.raises(DuplicateKeyError):
        raw.update_one({"slug": "first-again"}, {"$push": {"previous_slugs": "first"}})


def test_a_stale_version_does_not_overwrite() -> None:
    story = make_story("cas")
    assert stories_repo.update(story, {"title": "First editor"})
    assert not stories_repo.update(story, {"title": "Second editor"})
    current = stories_repo.get_by_slug("cas")
    assert current is not None and current.title == "First editor" and current.version == 2


def test_the_validator_refuses_malformed_documents() -> None:
    raw = mongo.database()["stories"]
    now = datetime.now(UTC)
    good = {"slug": "v", "title": "t", "status": "published", "default_template": "list",
            "theme": {"accent": "#112233", "font": "system", "mode": "auto"}, "live": False,
            "version": 1, "previous_slugs": [], "created_at": now, "updated_at": now}
    for bad in ({"status": "public"}, {"slug": ""}, {"theme": {"accent": "red"}},
                {"default_template": "fancy"}, {"version": 0}):
        with pytest.raises(WriteError):
            raw.insert_one({**good, **bad})
    raw.insert_one(good)


def test_collecting_a_post_twice_keeps_one_and_the_editors_choices() -> None:
    story = make_story("dedupe")
    post = make_post(story, 1, state="pending")
    mongo.database()["posts"].update_one({"external_id": post.external_id},
                                         {"$set": {"state": "approved", "pinned": True}})
    assert posts_repo.upsert(post) is False
    stored = posts_repo.list_published(story.id, 10)
    assert len(stored) == 1 and stored[0].pinned and stored[0].state == "approved"


def test_posts_come_in_embed_order() -> None:
    story = make_story("ordered")
    for n in (3, 1, 2):
        make_post(story, n)
    make_post(story, 9, pinned=True)
    order = [p.external_id for p in posts_repo.list_published(story.id, 10)]
    assert order == ["ordered-9", "ordered-1", "ordered-2", "ordered-3"]
    assert len(posts_repo.list_published(story.id, 2)) == 2


def test_a_change_of_analytics_retention_changes_the_rollups_ttl_index(settings: Any) -> None:
    def expiry() -> int:
        found = mongo.database()["stats_hourly"].index_information()["hour_expire"]
        return int(found["expireAfterSeconds"])

    kept = settings.ANALYTICS_RETENTION_DAYS
    assert expiry() == kept * 86400
    try:
        settings.ANALYTICS_RETENTION_DAYS = 30
        call_command("ensure_indexes", stdout=io.StringIO())  # as a deploy runs it
        assert expiry() == 30 * 86400
        call_command("ensure_indexes", stdout=io.StringIO())  # and again: nothing to do
        assert expiry() == 30 * 86400
    finally:
        settings.ANALYTICS_RETENTION_DAYS = kept
        ensure_indexes()
    assert expiry() == kept * 86400
