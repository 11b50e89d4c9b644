"""What a source hands the pipeline: posts as the source saw them, in plain text.

Sources turn their network's format (Mastodon's HTML, Bluesky's facets, feed
XML) into `Collected`: plain text plus entity offsets in code points, media
URLs with alt text, and the flags moderation rules look at. The pipeline
checks everything again; nothing from a source is trusted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from samembed.repositories.posts import Entity


@dataclass(frozen=True)
class CollectedMedia:
    url: str
    alt: str = ""
    type: str = "image"  # "image" or "video" (a video is kept as its preview image URL)
    width: int | None = None
    height: int | None = None
    # A video's playable file (`url` is its still); `loop`: a GIF-like clip.
    play_url: str | None = None
    loop: bool = False


@dataclass(frozen=True)
class Collected:
    external_id: str  # stable at the source: a status id, an at:// URI, a feed entry id
    author_name: str
    text: str
    posted_at: datetime  # timezone-aware
    entities: tuple[Entity, ...] = ()
    media: tuple[CollectedMedia, ...] = ()
    author_handle: str | None = None
    author_url: str | None = None
    avatar_url: str | None = None
    permalink: str | None = None
    lang: str | None = None
    edited_at: datetime | None = None
    is_reply: bool = False
    is_repost: bool = False
    sensitive: bool = False
    content_warning: str = ""


@dataclass
class Batch:
    """One fetch's result."""

    posts: list[Collected] = field(default_factory=list)
    # External ids the source says no longer exist (deleted upstream).
    deleted: list[str] = field(default_factory=list)
    # State for the next fetch (since ids, ETag, Last-Modified…), stored with the source.
    cursor: dict[str, Any] = field(default_factory=dict)
    # Seconds the source asks us to wait before the next fetch (rate limits), if any.
    wait: float | None = None
    # Items the source had to leave out (bad date, no id…), each with a reason an
    # editor can read; the rest of the batch is fine.
    skipped: list[str] = field(default_factory=list)


class SourceError(Exception):
    """A fetch failed in a way the editor should read (shown on the sources page).

    `permanent`: asking again cannot help (the account or feed is not there), so the
    runner pauses the source at once instead of backing off."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Source(Protocol):
    kind: str  # "mastodon", "bluesky", "rss"
    label: str  # shown in the studio

    def clean_settings(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate an editor's form input; ValueError with a readable message."""
        ...

    def fetch(self, settings: dict[str, Any], cursor: dict[str, Any],
              recheck: list[str]) -> Batch:
        """New and changed posts since `cursor`.

        `recheck` lists external ids collected recently; sources whose API can
        tell report the ones edited (in `posts`) or deleted (in `deleted`).
        A rate limit is not an error: report it as `Batch.wait`. Failures raise
        SourceError, or outbound.FetchFailed / outbound.Refused, and count
        towards pausing the source.
        """
        ...
