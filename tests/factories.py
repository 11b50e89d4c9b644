"""Small builders for stories and posts stored through the repositories."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings

from samembed import mongo
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Author, Post
from samembed.repositories.stories import Story
from samembed.text import find_entities

if TYPE_CHECKING:
    from samembed.embedded_db import EmbeddedDB


def make_post(story: Story, n: int, **fields: object) -> Post:
    text = str(fields.pop("text", f"Post number {n} about #harbour with https://example.org/{n}"))
    values: dict[str, object] = {
        "story_id": story.id,
        "source": "mastodon",
        "external_id": f"{story.slug}-{n}",
        "author": Author(f"Author {n}", f"@author{n}@example.social", None,
                         f"https://example.social/@author{n}"),
        "text": text,
        "entities": tuple(find_entities(text, hashtag_url="https://example.social/tags/{tag}")),
        "permalink": f"https://example.social/@author{n}/{n}",
        "posted_at": datetime.now(UTC) - timedelta(minutes=n),
        "state": "approved",
    }
    values.update(fields)
    post = Post(**values)  # type: ignore[arg-type]
    posts_repo.upsert(post)
    return post


def make_story(slug: str, posts: int = 0, **fields: object) -> Story:
    fields.setdefault("status", "published")
    title = str(fields.pop("title", f"Story {slug}"))
    story = stories_repo.insert(slug=slug, title=title, **fields)  # type: ignore[arg-type]
    for n in range(posts):
        make_post(story, n)
    return story


@contextmanager
def using(db: EmbeddedDB) -> Iterator[None]:
    """This process's repositories on `db` for the block; the suite's database after."""
    previous = settings.MONGODB_URI
    settings.MONGODB_URI = db.uri
    mongo.close()
    try:
        yield
    finally:
        settings.MONGODB_URI = previous
        mongo.close()
