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

from samembed import outbound
from samembed.exceptions import Refused
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
# Pending media copies: attempts before a post is parked with its reason, and the
# back-off between them (doubling from the first, capped).
MEDIA_ATTEMPTS = 6
MEDIA_BACKOFF = timedelta(seconds=30)
MEDIA_BACKOFF_MAX = timedelta(hours=1)
MEDIA_ERROR_MAX = 500


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
    """`value` when it is a URL we can use, else None; web URLs go through the one
    parser the outbound client fetches with, so a post never carries one it can't read."""
    if not value:
        return None
    value = value.strip()
    if value[:7].lower() == "mailto:" and "mailto" in schemes:
        return value if len(value) <= outbound.URL_MAX and value.isprintable() else None
    try:
        return outbound.parse_url(value, tuple(s for s in schemes if s != "mailto"))
    except Refused:
        return None


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
    except Exception:  # noqa: BLE001 - one image must not fail its post, batch or source
        log.exception("media copy failed unexpectedly for %s", url)
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


def _reason(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    # Whatever the exception says, it must be storable.
    return text.encode("utf-8", "replace").decode("utf-8")[:MEDIA_ERROR_MAX]


def _copy_post_media(post: Post,
                     copies: dict[str, collect.Copied | Exception]) -> bool:
    """Copy one post's pending media; a permanent failure drops that image (with its
    reason kept), a transient one raises so the whole post is tried again later.
    `copies` is shared by a round: an image on many posts is fetched once."""
    dropped: list[str] = []

    def attempt(url: str) -> collect.Copied | None:
        if url not in copies:
            try:
                copies[url] = collect.copy(url)
            except collect.CopyFailed as e:
                copies[url] = e
        outcome = copies[url]
        if not isinstance(outcome, Exception):
            return outcome
        if not getattr(outcome, "permanent", False):
            raise outcome
        dropped.append(str(outcome))  # it names the URL
        return None

    # Post.media shows an editor's alt texts; the stored ones stay the source's.
    alts = post.original_alts or tuple(m.alt for m in post.media)
    items: list[Media] = []
    for m, alt in zip(post.media, alts, strict=True):
        if m.url:
            items.append(replace(m, alt=alt))
        elif m.source_url and (copied := attempt(m.source_url)) is not None:
            items.append(Media(m.type, copied.url, copied.width, copied.height, alt,
                               m.source_url, m.play_url, m.loop))
        elif m.type == "video":
            # A video is still a video without its still: the embed shows a placeholder.
            items.append(Media(m.type, "", m.width, m.height, alt, None, m.play_url, m.loop))
    avatar = post.author.avatar_url
    if not avatar and post.author.avatar_source:
        copied = attempt(post.author.avatar_source)
        avatar = copied.url if copied else None
    changes = {
        "media": [media_doc(m) for m in items],
        "author.avatar_url": avatar,
        "media_pending": False,
        "media_retry_at": None,
        "media_error": _reason(ValueError("; ".join(dropped))) if dropped else None,
    }
    if not posts.update(post, changes):
        return False  # an editor changed it meanwhile: the next round sees it again
    if post.state == "approved":
        stories.bump_version(post.story_id)
    return True


def _retry_later(post: Post, error: BaseException, now: datetime) -> None:
    attempts = post.media_attempts + 1
    reason = _reason(error)
    if attempts >= MEDIA_ATTEMPTS:
        log.warning("giving up on the media of post %s after %d attempts: %s",
                    post.id, attempts, reason)
        changes: dict[str, object] = {
            "media_pending": False, "media_attempts": attempts, "media_retry_at": None,
            "media_error": f"Gave up after {attempts} attempts: {reason}"[:MEDIA_ERROR_MAX]}
    else:
        wait = min(MEDIA_BACKOFF * 2 ** (attempts - 1), MEDIA_BACKOFF_MAX)
        changes = {"media_attempts": attempts, "media_retry_at": now + wait,
                   "media_error": reason}
    posts.update(post, changes)


def copy_pending(limit: int = 20, now: datetime | None = None) -> int:
    """Copy the media of pushed and imported posts (the ingest loop calls this).

    Each post fails alone: its error is recorded on it, it is tried again with
    back-off, and after MEDIA_ATTEMPTS it is parked with the reason, which the
    studio's queue shows. Returns how many posts were completed.
    """
    now = now or datetime.now(UTC)
    done = 0
    copies: dict[str, collect.Copied | Exception] = {}
    for post in posts.with_pending_media(limit, now):
        try:
            done += _copy_post_media(post, copies)
        except Exception as e:  # noqa: BLE001 - one post must never stop the others
            if not isinstance(e, collect.CopyFailed):
                log.exception("media copy of post %s failed", post.id)
            try:
                _retry_later(post, e, now)
            except Exception:  # noqa: BLE001 - recording the failure failed too
                log.exception("could not record the media failure of post %s", post.id)
    return done
