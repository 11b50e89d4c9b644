"""`manage.py load_demo`: the demo stories shipped in samembed/demo/, idempotently.

Stories are created once (an existing slug is left as an editor may have changed
it); posts are stored by (source, external_id), so running it again changes
nothing an editor did. Post times are relative to the story's creation, so the
demo looks recent on a fresh machine and stays stable across runs.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from samembed.management.base import DatabaseCommand
from samembed.media.images import normalise
from samembed.media.signing import STORED_PREFIX
from samembed.repositories import media, posts, stories
from samembed.repositories.posts import Author, Media, Post
from samembed.repositories.stories import Screen, Theme
from samembed.text import find_entities

DEMO_FILE = Path(settings.BASE_DIR) / "samembed" / "demo" / "stories.json"
DEMO_MEDIA = Path(settings.BASE_DIR) / "static" / "demo"


def _link_formats(source: str, profile_url: str | None) -> dict[str, str]:
    if source == "mastodon" and profile_url:
        host = urlsplit(profile_url).hostname
        return {"hashtag_url": f"https://{host}/tags/{{tag}}",
                "mention_url": f"https://{host}/@{{user}}"}
    if source == "bluesky":
        return {"hashtag_url": "https://bsky.app/hashtag/{tag}",
                "mention_url": "https://bsky.app/profile/{user}"}
    return {}


@cache
def _stored(file: str) -> tuple[str, int, int]:
    """The demo image in the media store, as every collected image is: re-encoded,
    served through /img/ at standard sizes."""
    image = normalise((DEMO_MEDIA / file).read_bytes())
    return STORED_PREFIX + media.put(image.data, image.content_type), image.width, image.height


def _media(file: str, alt: str, kind: str = "image") -> Media:
    url, width, height = _stored(file)
    return Media(kind, url, width, height, alt)


class Command(DatabaseCommand):
    help = "Load the demo stories (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for spec in json.loads(DEMO_FILE.read_text(encoding="utf-8")):
            story = stories.get_by_slug(spec["slug"])
            if story is None:
                story = stories.insert(
                    slug=spec["slug"], title=spec["title"], description=spec["description"],
                    status=spec["status"], default_template=spec["default_template"],
                    theme=Theme(**spec["theme"]), live=spec["live"],
                    screen=Screen(**spec["screen"]) if "screen" in spec else None,
                )
            created = 0
            for p in spec["posts"]:
                a = p["author"]
                avatar = _stored(a["avatar"])[0] if a.get("avatar") else None
                post = Post(
                    story_id=story.id,
                    source=p["source"],
                    external_id=p["external_id"],
                    author=Author(a["name"], a.get("handle"), avatar, a.get("profile_url")),
                    text=p["text"],
                    entities=tuple(find_entities(
                        p["text"], **_link_formats(p["source"], a.get("profile_url")))),
                    media=tuple(_media(m["file"], m.get("alt", ""), m.get("type", "image"))
                                for m in p["media"]),
                    permalink=p.get("permalink"),
                    lang=p.get("lang"),
                    posted_at=story.created_at - timedelta(minutes=p["minutes_ago"]),
                    state="approved",
                    pinned=p.get("pinned", False),
                    highlighted=p.get("highlighted", False),
                    sensitive=p.get("sensitive", False),
                    content_warning=p.get("content_warning", ""),
                )
                created += posts.upsert(post)
            if created:
                stories.bump_version(story.id)
            self.stdout.write(f"{story.slug}: {len(spec['posts'])} posts, {created} new")
