"""The one ingest pipeline: checked, deduplicated, moderated, stored.

    Collected posts (a source's fetch, a push batch, an import file)
      -> check (ids, dates, lengths, link schemes; a bad post is skipped and
         reported, the rest of the batch goes on)
      -> dedupe on (story, source, external_id) with one query per batch; a
         repeat whose fingerprint is unchanged costs nothing
      -> media: reused when already copied, copied now (ingest loop) or marked
         pending for the loop (push API and import, which answer quickly)
      -> moderation rules (`rules.verdict`; block lists also on edits)
      -> posts collection -> story version bump when the embed changes

Sources clean their network's format first; nothing here trusts them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from samembed.ingest import rules as moderation
from samembed.ingest.model import Collected, CollectedMedia
from samembed.media import collect
from samembed.repositories import posts, sources, stories
from samembed.repositories.common import Id
from samembed.repositories.posts import (
    EDITORIAL,
    TEXT_MAX,
    WARNING_MAX,
    Author,
    Media,
    Post,
    media_doc,
)
from samembed.repositories.sources import Rules

log = logging.getLogger(__name__)

EXTERNAL_ID_MAX = 500
NAME_MAX = 200
ALT_MAX = 1500
MEDIA_MAX = 10
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LINK_SCHEMES = ("http", "https", "mailto")
STATE_COUNTERS = {"approved": "approved", "pending": "held", "rejected": "rejected"}


class Invalid(ValueError):
    """A collected post that cannot be stored; the message says which field and why."""


@dataclass
class Report:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    approved: int = 0
    held: int = 0
    rejected: int = 0
    capped: int = 0
    deleted: int = 0
    media_failed: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        values = asdict(self)
        values["invalid"] = len(self.invalid)
        return values


def _http_url(value: str | None, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    if not value:
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme.lower() in schemes and (
        parts.netloc or parts.scheme == "mailto") else None


def check(post: Collected) -> Collected:
    """The post fit to store (text clamped, bad links dropped), or Invalid."""
    if not isinstance(post.external_id, str) or not 0 < len(post.external_id) <= EXTERNAL_ID_MAX \
            or not post.external_id.isprintable():
        raise Invalid(f"id must be 1 to {EXTERNAL_ID_MAX} printable characters")
    if not post.author_name.strip() or len(post.author_name) > NAME_MAX:
        raise Invalid(f"the author's name must be 1 to {NAME_MAX} characters")
    if post.posted_at.tzinfo is None:
        raise Invalid("the date has no time zone")
    if not EARLIEST <= post.posted_at <= datetime.now(UTC) + timedelta(days=1):
        raise Invalid(f"the date {post.posted_at.isoformat()} is not plausible")
    text = post.text[:TEXT_MAX]
    entities = tuple(
        e for e in post.entities
        if e.kind in posts.ENTITY_KINDS and 0 <= e.start < e.end <= len(text)
        and _http_url(e.href, LINK_SCHEMES))
    media = tuple(
        replace(m, alt=m.alt[:ALT_MAX], type=m.type if m.type in posts.MEDIA_TYPES else "image",
                play_url=_http_url(m.play_url) if m.type == "video" else None,
                loop=bool(m.loop) and m.type == "video")
        for m in post.media[:MEDIA_MAX]
        if _http_url(m.url) or (m.type == "video" and not m.url and _http_url(m.play_url)))
    return replace(post, text=text, entities=entities, media=media,
                   author_name=post.author_name.strip(),
                   permalink=_http_url(post.permalink), author_url=_http_url(post.author_url),
                   avatar_url=_http_url(post.avatar_url),
                   lang=(post.lang or "")[:35] or None,
                   sensitive=bool(post.sensitive or post.content_warning),
                   content_warning=" ".join(post.content_warning.split())[:WARNING_MAX])


def fingerprint(post: Collected) -> str:
    content = asdict(post)
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _copy(url: str) -> collect.Copied | None:
    try:
        return collect.copy(url)
    except collect.CopyFailed as e:
        log.warning("media copy failed for %s: %s", url, e)
        return None


class _Media:
    """Media for one post: reuse what an earlier copy stored, copy or defer the rest."""

    def __init__(self, existing: Post | None, copy_now: bool,
                 copies: dict[str, collect.Copied | None],
                 avatars: dict[str, str] | None = None) -> None:
        self.known = {m.source_url: m for m in (existing.media if existing else ())
                      if m.source_url and m.url.startswith("media:")}
        self.copy_now = copy_now
        self.pending = False
        self._copies = copies
        self._avatars = avatars or {}

    def _copy(self, url: str) -> collect.Copied | None:
        # Shared by a batch: one author's avatar on twenty posts is fetched once.
        if url not in self._copies:
            self._copies[url] = _copy(url)
        return self._copies[url]

    def item(self, m: CollectedMedia) -> Media | None:
        known = self.known.get(m.url)
        if known:
            return Media(m.type, known.url, known.width, known.height, m.alt, m.url,
                         m.play_url, m.loop)
        if m.url and not self.copy_now:
            self.pending = True
            return Media(m.type, "", m.width, m.height, m.alt, m.url, m.play_url, m.loop)
        copied = self._copy(m.url) if m.url else None
        if copied is None:
            # A video is still a video without its still: the embed shows a placeholder.
            return (Media(m.type, "", m.width, m.height, m.alt, None, m.play_url, m.loop)
                    if m.type == "video" else None)
        return Media(m.type, copied.url, copied.width, copied.height, m.alt, m.url,
                     m.play_url, m.loop)

    def avatar_url(self, source: str | None) -> str | None:
        if not source:
            return None
        if source in self._avatars:  # copied before, for this post or another
            return self._avatars[source]
        if not self.copy_now:
            self.pending = True
            return None
        copied = self._copy(source)
        return copied.url if copied else None


def _build(story_id: Id, kind: str, source_id: Id | None, c: Collected,
           verdict: moderation.Verdict, existing: Post | None, copy_now: bool,
           copies: dict[str, collect.Copied | None], avatars: dict[str, str]) -> Post:
    media = _Media(existing, copy_now, copies, avatars)
    items = [media.item(m) for m in c.media]
    avatar = media.avatar_url(c.avatar_url)
    return Post(
        story_id=story_id, source=kind, external_id=c.external_id,
        author=Author(c.author_name, c.author_handle, avatar, c.author_url, c.avatar_url),
        text=c.text, posted_at=c.posted_at, entities=tuple(c.entities),
        media=tuple(m for m in items if m is not None), permalink=c.permalink, lang=c.lang,
        state=verdict.state, reason=verdict.reason, source_id=source_id,
        fingerprint=fingerprint(c), media_pending=media.pending,
        sensitive=c.sensitive, content_warning=c.content_warning)


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def store(story_id: Id, kind: str, batch: Iterable[Collected], *,
          source_id: Id | None = None, rules: Rules | None = None,
          deleted: Iterable[str] = (), copy_now: bool = True) -> Report:
    """Run collected posts through the pipeline into the story; returns what happened."""
    report = Report()
    rules = rules or sources.rules(story_id)
    checked: dict[str, Collected] = {}
    for raw in batch:
        try:
            post = check(raw)
        except Invalid as e:
            report.invalid.append((str(raw.external_id)[:100], str(e)))
            continue
        checked[post.external_id] = post  # a batch repeating an id keeps the last
    existing = posts.by_external_ids(story_id, kind, list(checked)) if checked else {}
    room = None
    if rules.daily_cap and source_id is not None:
        room = rules.daily_cap - posts.count_collected_since(
            source_id, _start_of_day(datetime.now(UTC)))
    embed_changed = False
    copies: dict[str, collect.Copied | None] = {}
    avatars = posts.stored_avatars(sorted({c.avatar_url for c in checked.values()
                                           if c.avatar_url}))
    inserts: list[Post] = []
    for c in sorted(checked.values(), key=lambda p: p.posted_at):
        before = existing.get(c.external_id)
        if before is not None:
            if before.fingerprint == fingerprint(c):
                report.unchanged += 1
                continue
            block = moderation.blocked(rules, c)
            verdict = block or moderation.Verdict(before.state, before.reason or "")
            keep = tuple(k for k in EDITORIAL if k not in ("state", "reason")) if block \
                else EDITORIAL
            posts.upsert(_build(story_id, kind, source_id, c, verdict, before, copy_now, copies,
                                avatars), keep=keep)
            report.updated += 1
            embed_changed |= before.state == "approved"
            continue
        if room is not None and room <= 0:
            report.capped += 1
            continue
        room = room - 1 if room is not None else None
        inserts.append(_build(story_id, kind, source_id, c, moderation.verdict(rules, c), None,
                              copy_now, copies, avatars))
    # New posts in one round trip: a journaled write per post would be the cost.
    for inserted, new in zip(inserts, posts.insert_new(inserts), strict=True):
        if new:  # False only when a concurrent run stored it first
            report.new += 1
            counter = STATE_COUNTERS[inserted.state]
            setattr(report, counter, getattr(report, counter) + 1)
            embed_changed |= inserted.state == "approved"
    report.media_failed = sum(copied is None for copied in copies.values())
    gone = posts.mark_deleted(story_id, kind, list(deleted))
    report.deleted = len(gone)
    embed_changed |= "approved" in gone
    if embed_changed:
        stories.bump_version(story_id)
    return report


def copy_pending(limit: int = 20) -> int:
    """Copy the media of pushed and imported posts (the ingest loop calls this)."""
    done = 0
    for post in posts.with_pending_media(limit):
        media = _Media(None, copy_now=True, copies={})
        # Post.media shows an editor's alt texts; the stored ones stay the source's.
        alts = post.original_alts or tuple(m.alt for m in post.media)
        items = [replace(m, alt=alt) if m.url else
                 media.item(CollectedMedia(m.source_url or "", alt, m.type,
                                           play_url=m.play_url, loop=m.loop))
                 for m, alt in zip(post.media, alts, strict=True)]
        avatar = post.author.avatar_url or media.avatar_url(post.author.avatar_source)
        changes = {
            "media": [media_doc(m) for m in items if m],
            "author.avatar_url": avatar,
            "media_pending": False,
        }
        if posts.update(post, changes):
            done += 1
            if post.state == "approved":
                stories.bump_version(post.story_id)
    return done

