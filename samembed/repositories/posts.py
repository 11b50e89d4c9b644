"""The `posts` collection: the social posts a story is made of.

Order in an embed is (pinned first, then `rank` ascending). A post's rank
defaults to minus its posting time, so without manual ordering the newest comes
first; editors reorder by giving a post a rank between its new neighbours. One
compound index serves the embed's query, so a cold render costs one index scan.

Identity is (story, source, external_id), unique: collecting the same post
twice updates it instead of duplicating it, and one post can be in several
stories. `fingerprint` is a digest of what the source said, so a repeat that
changed nothing costs no write.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId, json_util
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError

from samembed.repositories.common import collection, reading, session

COLLECTION = "posts"
DUPLICATE_KEY = 11000

SOURCES = ("mastodon", "bluesky", "rss", "push", "import", "manual")
STATES = ("pending", "approved", "rejected")
ENTITY_KINDS = ("url", "hashtag", "mention")
MEDIA_TYPES = ("image", "video")
TEXT_MAX = 10_000
# A content warning is a label ("Spoilers: the final"), not a second body.
WARNING_MAX = 500

INDEXES = [
    IndexModel([("story_id", ASCENDING), ("source", ASCENDING), ("external_id", ASCENDING)],
               name="story_source_external_id_unique", unique=True),
    # The embed's order with `_id` as its tie-breaker, so a page's keyset query
    # (`list_page`) is one range scan of it; the studio's lists use its prefix.
    IndexModel(
        [("story_id", ASCENDING), ("state", ASCENDING), ("pinned", DESCENDING),
         ("rank", ASCENDING), ("_id", ASCENDING)],
        name="story_state_order_id",
    ),
    # A source's recent posts: its daily cap and the ids it rechecks for edits/deletions.
    # Not partial: a partial index serves only queries that repeat its filter, and
    # the embedded server scanned the whole collection for these (0.45 s at 25,000).
    IndexModel([("source_id", ASCENDING), ("collected_at", DESCENDING)],
               name="source_collected_at"),
    # Avatars already copied, by the URL they came from: an author's next post reuses it.
    IndexModel([("author.avatar_source", ASCENDING)], name="author_avatar_source"),
    # The ingest loop's work list of pushed and imported posts whose media are not
    # copied yet, in the order they fall due.
    IndexModel([("media_pending", ASCENDING), ("media_retry_at", ASCENDING)],
               name="media_pending_due", partialFilterExpression={"media_pending": True}),
]
# Dropped by ensure_indexes: one post could not be in two stories; two partial
# indexes the queries could not use; the work list before it had an order; the
# order index before it had `_id`.
OBSOLETE_INDEXES = ["source_external_id_unique", "source_collected", "avatar_source",
                    "media_pending", "story_state_order"]

_STRING = {"bsonType": "string"}
_OPT_STRING = {"bsonType": ["string", "null"]}

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["story_id", "source", "external_id", "author", "text", "entities",
                     "media", "posted_at", "collected_at", "state", "pinned",
                     "highlighted", "rank", "version"],
        "properties": {
            "story_id": {"bsonType": "objectId"},
            "source": {"enum": list(SOURCES)},
            "external_id": {"bsonType": "string", "minLength": 1, "maxLength": 500},
            "author": {
                "bsonType": "object",
                "required": ["name"],
                "properties": {"name": _STRING, "handle": _OPT_STRING,
                               "avatar_url": _OPT_STRING, "avatar_source": _OPT_STRING,
                               "profile_url": _OPT_STRING},
            },
            "text": {"bsonType": "string", "maxLength": TEXT_MAX},
            "entities": {
                "bsonType": "array",
                "items": {
                    "bsonType": "object",
                    "required": ["kind", "start", "end", "href"],
                    "properties": {"kind": {"enum": list(ENTITY_KINDS)},
                                   "start": {"bsonType": "int", "minimum": 0},
                                   "end": {"bsonType": "int", "minimum": 0},
                                   "href": _STRING},
                },
            },
            "media": {
                "bsonType": "array",
                "items": {
                    "bsonType": "object",
                    "required": ["type", "url"],
                    "properties": {"type": {"enum": list(MEDIA_TYPES)}, "url": _STRING,
                                   "width": {"bsonType": ["int", "null"]},
                                   "height": {"bsonType": ["int", "null"]},
                                   "alt": _STRING, "source_url": _OPT_STRING,
                                   "play_url": _OPT_STRING, "loop": {"bsonType": "bool"}},
                },
            },
            "permalink": _OPT_STRING,
            "lang": _OPT_STRING,
            "posted_at": {"bsonType": "date"},
            "collected_at": {"bsonType": "date"},
            "state": {"enum": list(STATES)},
            "pinned": {"bsonType": "bool"},
            "highlighted": {"bsonType": "bool"},
            "rank": {"bsonType": "double"},
            # An editor's caption and alt texts, shown instead of the source's,
            # which stay in `text`, `entities` and `media` (ingestion refreshes those).
            "caption": {"bsonType": ["string", "null"], "maxLength": TEXT_MAX},
            "caption_entities": {"bsonType": ["array", "null"]},
            "alt_overrides": {"bsonType": ["array", "null"],
                              "items": {"bsonType": ["string", "null"]}},
            "source_id": {"bsonType": ["objectId", "null"]},
            "reason": _OPT_STRING,
            "fingerprint": _OPT_STRING,
            "media_pending": {"bsonType": "bool"},
            # The ingest loop's copy of pending media: failed attempts so far, when
            # to try again, and why the last attempt failed (shown in the studio).
            "media_attempts": {"bsonType": ["int", "long"], "minimum": 0},
            "media_retry_at": {"bsonType": ["date", "null"]},
            "media_error": _OPT_STRING,
            # Marked at the source (Mastodon's sensitive and spoiler_text, Bluesky's
            # labels, the push API): embeds hide the body behind the warning.
            "sensitive": {"bsonType": "bool"},
            "content_warning": {"bsonType": "string", "maxLength": WARNING_MAX},
            # The editor's choice to show a warned post on big screens anyway.
            "show_on_screens": {"bsonType": "bool"},
            "version": {"bsonType": ["int", "long"], "minimum": 1},
        },
    }
}


@dataclass(frozen=True)
class Author:
    name: str
    handle: str | None = None
    avatar_url: str | None = None
    profile_url: str | None = None
    # Where a stored avatar ("media:<key>") was copied from.
    avatar_source: str | None = None


@dataclass(frozen=True)
class Entity:
    """A link inside `Post.text`, by code point offsets [start, end)."""

    kind: str
    start: int
    end: int
    href: str


@dataclass(frozen=True)
class Media:
    type: str
    url: str
    width: int | None = None
    height: int | None = None
    alt: str = ""
    # Where a stored image ("media:<key>") was copied from; the URL to copy when pending.
    source_url: str | None = None
    # A video's playable file at the source (http(s)), when the source gives one;
    # `url` is then its still. `loop`: a GIF-like clip, shown muted and looping.
    play_url: str | None = None
    loop: bool = False


@dataclass(frozen=True)
class Post:
    story_id: ObjectId
    source: str
    external_id: str
    author: Author
    text: str
    posted_at: datetime
    entities: tuple[Entity, ...] = ()
    media: tuple[Media, ...] = ()
    permalink: str | None = None
    lang: str | None = None
    state: str = "pending"
    pinned: bool = False
    highlighted: bool = False
    rank: float | None = None
    collected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = 1
    id: ObjectId | None = None
    # Set only when an editor changed what is shown: the source's own words.
    original_text: str | None = None
    original_alts: tuple[str, ...] = ()
    # Ingestion: the source document it came from, why moderation put it in its
    # state, a digest of the source's content, media still to copy.
    source_id: ObjectId | None = None
    reason: str | None = None
    fingerprint: str | None = None
    media_pending: bool = False
    media_attempts: int = 0
    media_retry_at: datetime | None = None
    media_error: str | None = None
    sensitive: bool = False
    content_warning: str = ""
    show_on_screens: bool = False

    @property
    def sort_rank(self) -> float:
        return self.rank if self.rank is not None else -self.posted_at.timestamp()


def _entities(raw: list[dict[str, Any]]) -> tuple[Entity, ...]:
    return tuple(Entity(e["kind"], e["start"], e["end"], e["href"]) for e in raw)


def _to_post(doc: dict[str, Any]) -> Post:
    """The post as shown: an editor's caption and alt texts replace the source's."""
    author = doc["author"]
    caption = doc.get("caption")
    overrides = doc.get("alt_overrides") or []
    media = tuple(
        Media(m["type"], m["url"], m.get("width"), m.get("height"),
              (overrides[i] if i < len(overrides) and overrides[i] is not None
               else m.get("alt", "")), m.get("source_url"), m.get("play_url"),
              m.get("loop", False))
        for i, m in enumerate(doc.get("media", ()))
    )
    return Post(
        id=doc["_id"],
        story_id=doc["story_id"],
        source=doc["source"],
        external_id=doc["external_id"],
        author=Author(name=author["name"], handle=author.get("handle"),
                      avatar_url=author.get("avatar_url"),
                      profile_url=author.get("profile_url"),
                      avatar_source=author.get("avatar_source")),
        text=caption if caption is not None else doc["text"],
        entities=_entities((doc.get("caption_entities") or []) if caption is not None
                           else doc.get("entities", [])),
        media=media,
        original_text=doc["text"] if caption is not None else None,
        original_alts=(tuple(m.get("alt", "") for m in doc.get("media", ()))
                       if any(o is not None for o in overrides) else ()),
        permalink=doc.get("permalink"),
        lang=doc.get("lang"),
        posted_at=doc["posted_at"],
        collected_at=doc["collected_at"],
        state=doc["state"],
        pinned=doc["pinned"],
        highlighted=doc["highlighted"],
        rank=doc["rank"],
        version=doc["version"],
        source_id=doc.get("source_id"),
        reason=doc.get("reason"),
        fingerprint=doc.get("fingerprint"),
        media_pending=doc.get("media_pending", False),
        media_attempts=doc.get("media_attempts", 0),
        media_retry_at=doc.get("media_retry_at"),
        media_error=doc.get("media_error"),
        sensitive=doc.get("sensitive", False),
        content_warning=doc.get("content_warning", ""),
        show_on_screens=doc.get("show_on_screens", False),
    )


def _to_doc(post: Post) -> dict[str, Any]:
    return {
        "story_id": post.story_id,
        "source": post.source,
        "external_id": post.external_id,
        "author": {"name": post.author.name, "handle": post.author.handle,
                   "avatar_url": post.author.avatar_url,
                   "avatar_source": post.author.avatar_source,
                   "profile_url": post.author.profile_url},
        "text": post.text,
        "entities": [{"kind": e.kind, "start": e.start, "end": e.end, "href": e.href}
                     for e in post.entities],
        "media": [media_doc(m) for m in post.media],
        "permalink": post.permalink,
        "lang": post.lang,
        "posted_at": post.posted_at,
        "collected_at": post.collected_at,
        "state": post.state,
        "pinned": post.pinned,
        "highlighted": post.highlighted,
        "rank": float(post.sort_rank),
        "source_id": post.source_id,
        "reason": post.reason,
        "fingerprint": post.fingerprint,
        "media_pending": post.media_pending,
        # New content starts its copy afresh.
        "media_attempts": post.media_attempts,
        "media_retry_at": post.media_retry_at,
        "media_error": post.media_error,
        "sensitive": post.sensitive,
        "content_warning": post.content_warning,
        "show_on_screens": post.show_on_screens,
    }


def media_doc(m: Media) -> dict[str, Any]:
    """One media item as stored."""
    return {"type": m.type, "url": m.url, "width": m.width, "height": m.height,
            "alt": m.alt, "source_url": m.source_url, "play_url": m.play_url, "loop": m.loop}


def _copied_media_only(post: Post) -> Post:
    # Media still waiting for the ingest loop's copy has no URL we can serve yet; a
    # video whose still could not be had (no source URL left to copy) is shown as one.
    if all(m.url for m in post.media):
        return post
    return replace(post, media=tuple(m for m in post.media
                                     if m.url or (m.type == "video" and not m.source_url)))


EMBED_ORDER = [("pinned", DESCENDING), ("rank", ASCENDING), ("_id", ASCENDING)]


def list_published(story_id: ObjectId, limit: int) -> list[Post]:
    """Approved posts of a story in embed order (pinned first, then rank)."""
    with reading():
        cursor = (
            collection(COLLECTION)
            .find({"story_id": story_id, "state": "approved"})
            .sort(EMBED_ORDER)
            .limit(limit)
        )
        return [_copied_media_only(_to_post(doc)) for doc in cursor]


def page_filter(story_id: ObjectId, after: tuple[bool, float, ObjectId] | None
                ) -> dict[str, Any]:
    """The query of a page starting after `after` = (pinned, rank, id) in embed order:
    one range of the order index, with no `$or` (which planners may answer with a
    collection scan). It can include a few posts at or before the position (ties of
    rank, and pinned posts when the page starts among them), which `list_page`
    skips as it reads."""
    query: dict[str, Any] = {"story_id": story_id, "state": "approved"}
    if after is not None and not after[0]:
        query["pinned"] = False
        query["rank"] = {"$gte": after[1]}
    return query


def _is_after(doc: dict[str, Any], after: tuple[bool, float, ObjectId]) -> bool:
    pinned, rank, last_id = after
    if doc["pinned"] != pinned:
        return pinned and not doc["pinned"]
    return doc["rank"] > rank or (doc["rank"] == rank and doc["_id"] > last_id)


def list_page(story_id: ObjectId, after: tuple[bool, float, ObjectId] | None,
              limit: int) -> tuple[list[Post], bool]:
    """One page of a story's approved posts in embed order, starting after the
    position `after` (pinned, rank, id; None: from the top), and whether more follow.

    The position need not be a post that still exists, so a page whose last post
    was deleted since still leads on. One query; a page that had to skip many
    ties reads further batches of the same cursor.
    """
    found: list[dict[str, Any]] = []
    with reading():
        cursor = (
            collection(COLLECTION)
            .find(page_filter(story_id, after))
            .sort(EMBED_ORDER)
            .batch_size(limit + 2)
        )
        if after is None:
            # Nothing to skip on the first page: the server stops at the one post that
            # tells whether more follow and closes the cursor itself (no killCursors
            # round trip after the page).
            cursor = cursor.limit(limit + 1)
        try:
            for doc in cursor:
                if after is None or _is_after(doc, after):
                    found.append(doc)
                    if len(found) > limit:
                        break
        finally:
            cursor.close()
    return [_copied_media_only(_to_post(doc)) for doc in found[:limit]], len(found) > limit


EDITORIAL = ("state", "pinned", "highlighted", "rank", "reason", "show_on_screens")


def upsert(post: Post, keep: tuple[str, ...] = EDITORIAL) -> bool:
    """Store a collected post by (story, source, external_id); True if it was new.

    On a repeat, the content is refreshed but the fields in `keep` (by default
    the editorial ones an editor may have changed) are kept.
    """
    doc = _to_doc(post)
    editorial = {k: doc.pop(k) for k in keep}
    doc.pop("collected_at")
    result = collection(COLLECTION, durable=True).update_one(
        {"story_id": post.story_id, "source": post.source, "external_id": post.external_id},
        {"$set": doc, "$setOnInsert": {**editorial, "collected_at": post.collected_at},
         "$inc": {"version": 1}},
        upsert=True)
    return result.upserted_id is not None


def insert_new(batch: list[Post]) -> list[bool]:
    """Insert posts believed new in one round trip (one journal flush for the batch).

    True where inserted; False where a concurrent run stored the same post first
    (the unique index refused it).
    """
    if not batch:
        return []
    docs = [{**_to_doc(post), "version": 1} for post in batch]
    try:
        collection(COLLECTION, durable=True).insert_many(docs, ordered=False)
    except BulkWriteError as e:
        duplicates = {err["index"] for err in e.details.get("writeErrors", [])
                      if err.get("code") == DUPLICATE_KEY}
        if len(duplicates) != len(e.details.get("writeErrors", [])):
            raise
        return [i not in duplicates for i in range(len(batch))]
    return [True] * len(batch)


def by_external_ids(story_id: ObjectId, source: str, external_ids: list[str]) -> dict[str, Post]:
    """The story's posts from `source` among `external_ids`, in one query."""
    cursor = collection(COLLECTION).find(
        {"story_id": story_id, "source": source, "external_id": {"$in": external_ids}})
    return {doc["external_id"]: _to_post(doc) for doc in cursor}


def recent_external_ids(source_id: ObjectId, since: datetime, limit: int) -> list[str]:
    """External ids of a source's posts collected since `since`, newest first."""
    cursor = (collection(COLLECTION)
              .find({"source_id": source_id,
                     "collected_at": {"$gte": since}, "reason": {"$ne": DELETED_REASON}},
                    {"external_id": 1})
              .sort("collected_at", DESCENDING).limit(limit))
    return [doc["external_id"] for doc in cursor]


DELETED_REASON = "Deleted at the source."


def mark_deleted(story_id: ObjectId, source: str, external_ids: list[str]) -> list[str]:
    """Take posts deleted upstream out of the story; returns the states they had."""
    if not external_ids:
        return []
    query = {"story_id": story_id, "source": source, "external_id": {"$in": external_ids},
             "reason": {"$ne": DELETED_REASON}}
    coll = collection(COLLECTION, durable=True)
    states = [doc["state"] for doc in coll.find(query, {"state": 1})]
    coll.update_many(query, {"$set": {"state": "rejected", "reason": DELETED_REASON},
                             "$inc": {"version": 1}})
    return states


def stored_avatars(sources: list[str]) -> dict[str, str]:
    """Avatar URLs already copied ("media:<key>"), by the URL they were copied from."""
    if not sources:
        return {}
    cursor = collection(COLLECTION).find(
        {"author.avatar_source": {"$in": sources}, "author.avatar_url": {"$type": "string"}},
        {"author.avatar_source": 1, "author.avatar_url": 1}).limit(len(sources) * 4)
    return {doc["author"]["avatar_source"]: doc["author"]["avatar_url"] for doc in cursor
            if doc["author"]["avatar_url"].startswith("media:")}


def with_pending_media(limit: int, now: datetime) -> list[Post]:
    """Pushed or imported posts whose images are still to be copied and are due,
    the ones waiting longest first (a post that keeps failing waits its back-off,
    so it cannot stay first in line)."""
    cursor = (collection(COLLECTION)
              .find({"media_pending": True, "media_retry_at": {"$not": {"$gt": now}}})
              .sort("media_retry_at", ASCENDING)
              .limit(limit))
    return [_to_post(doc) for doc in cursor]


def count_collected_since(source_id: ObjectId, since: datetime) -> int:
    """Posts a source added since `since` (its daily cap), counted on a bounded range."""
    rows = list(collection(COLLECTION).aggregate([
        {"$match": {"source_id": source_id, "collected_at": {"$gte": since}}},
        {"$count": "n"},
    ]))
    return int(rows[0]["n"]) if rows else 0


# ---- studio ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What an editor narrowed the queue to; every part optional, all combined."""

    text: str = ""
    author: str = ""
    source: str = ""
    lang: str = ""
    media: bool | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return any((self.text, self.author, self.source, self.lang, self.reason,
                    self.media is not None))


def _contains(value: str) -> dict[str, Any]:
    # Escaped: the editor's words are matched literally, never as a pattern.
    return {"$regex": re.escape(value), "$options": "i"}


def _queue_query(story_id: ObjectId, state: str, f: QueueFilter | None) -> dict[str, Any]:
    # Always inside one story's state: the story_state_order_id index bounds the scan.
    query: dict[str, Any] = {"story_id": story_id, "state": state}
    if not f:
        return query
    if f.text:
        query["$or"] = [{"text": _contains(f.text)}, {"caption": _contains(f.text)}]
    if f.author:
        query["$and"] = [{"$or": [{"author.name": _contains(f.author)},
                                  {"author.handle": _contains(f.author)}]}]
    if f.source:
        query["source"] = f.source
    if f.lang:
        query["lang"] = {"$regex": "^" + re.escape(f.lang) + "(-|$)", "$options": "i"}
    if f.media is not None:
        query["media.0"] = {"$exists": f.media}
    if f.reason:
        query["reason"] = _contains(f.reason)
    return query


def list_for_studio(story_id: ObjectId, state: str, offset: int, limit: int,
                    filters: QueueFilter | None = None) -> list[Post]:
    """One page of a story's posts in one state, in embed order (the same index),
    narrowed by `filters`."""
    cursor = (
        collection(COLLECTION)
        .find(_queue_query(story_id, state, filters))
        .sort([("pinned", DESCENDING), ("rank", ASCENDING)])
        .skip(offset)
        .limit(limit)
    )
    return [_to_post(doc) for doc in cursor]


def count_matching(story_id: ObjectId, state: str, filters: QueueFilter | None,
                   cap: int) -> int:
    """How many posts of one state match `filters` (counted up to `cap`)."""
    rows = list(collection(COLLECTION).aggregate([
        {"$match": _queue_query(story_id, state, filters)},
        {"$limit": cap},
        {"$count": "n"},
    ]))
    return int(rows[0]["n"]) if rows else 0


def refs_matching(story_id: ObjectId, state: str, filters: QueueFilter | None,
                  cap: int) -> list[tuple[ObjectId, int]]:
    """(id, version) of the posts matching `filters`, for a bulk action on them all."""
    cursor = collection(COLLECTION).find(_queue_query(story_id, state, filters),
                                         {"version": 1}).limit(cap)
    return [(doc["_id"], doc["version"]) for doc in cursor]


def update_many(story_id: ObjectId, refs: list[tuple[ObjectId, int]],
                changes: dict[str, Any]) -> list[Post]:
    """A bulk action as one write: each post changes only if still at the version
    the editor saw (a compare-and-set each). Returns the posts it changed, as they
    were before."""
    if not refs:
        return []
    wanted = dict(refs)
    before = {doc["_id"]: _to_post(doc) for doc in collection(COLLECTION).find(
        {"story_id": story_id, "_id": {"$in": list(wanted)}}, session=session())}
    guards = [{"_id": key, "version": version} for key, version in refs
              if key in before and before[key].version == version]
    if not guards:
        return []
    collection(COLLECTION, durable=True).update_many(
        {"story_id": story_id, "$or": guards}, {"$set": changes, "$inc": {"version": 1}},
        session=session())
    # Which ones we changed: those now one version past what the editor saw.
    after = collection(COLLECTION).find(
        {"story_id": story_id, "_id": {"$in": [g["_id"] for g in guards]}},
        {"version": 1, **{k: 1 for k in changes}}, session=session())
    return [before[doc["_id"]] for doc in after
            if doc["version"] == wanted[doc["_id"]] + 1
            and all(doc.get(k) == v for k, v in changes.items())]


def snapshot(post: Post) -> str | None:
    """The stored document of a post as text (MongoDB extended JSON), so a removal
    can be undone exactly; None if it is gone."""
    doc = collection(COLLECTION).find_one({"_id": post.id})
    return json_util.dumps(doc) if doc else None


def restore(snapshot_text: str) -> Post | None:
    """Put back a removed post from its `snapshot` (undo); None if it exists again
    (restored already, or collected again from its source meanwhile)."""
    doc = json_util.loads(snapshot_text)
    try:
        collection(COLLECTION, durable=True).insert_one(doc, session=session())
    except DuplicateKeyError:
        return None
    return _to_post(doc)


def count_by_state(story_id: ObjectId) -> dict[str, int]:
    """Posts per state (an aggregation on the story's index range, not a full count)."""
    counts = {state: 0 for state in STATES}
    for row in collection(COLLECTION).aggregate([
        {"$match": {"story_id": story_id}},
        {"$group": {"_id": "$state", "n": {"$sum": 1}}},
    ]):
        counts[row["_id"]] = row["n"]
    return counts


def parse_key(key: str) -> ObjectId | None:
    """The id a post's hex key names, or None for anything else."""
    try:
        return ObjectId(key)
    except (InvalidId, TypeError):
        return None


def overview(story_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Per story of a page of the story list: posts per state and the first approved
    picture in embed order (`thumb`, a stored image or None), in one aggregation."""
    found: dict[ObjectId, dict[str, Any]] = {
        i: {"counts": {s: 0 for s in STATES}, "thumb": None} for i in story_ids}
    if not story_ids:
        return found
    for row in collection(COLLECTION).aggregate([
        {"$match": {"story_id": {"$in": story_ids}}},
        {"$group": {"_id": {"story": "$story_id", "state": "$state"}, "n": {"$sum": 1}}},
    ]):
        found[row["_id"]["story"]]["counts"][row["_id"]["state"]] = row["n"]
    for row in collection(COLLECTION).aggregate([
        {"$match": {"story_id": {"$in": story_ids}, "state": "approved",
                    "media.0.url": {"$regex": "^media:"}}},
        {"$sort": {"story_id": 1, "pinned": -1, "rank": 1}},
        {"$group": {"_id": "$story_id", "media": {"$first": "$media"}}},
    ]):
        found[row["_id"]]["thumb"] = row["media"][0]["url"]
    return found


def get_by_key(key: str) -> Post | None:
    """The post whose id is the hex string `key`, if any."""
    try:
        doc = collection(COLLECTION).find_one({"_id": ObjectId(key)})
    except (InvalidId, TypeError):
        return None
    return _to_post(doc) if doc else None


def update(post: Post, changes: dict[str, Any]) -> bool:
    """Apply `changes` if `post.version` is still current; False means a conflict."""
    result = collection(COLLECTION, durable=True).update_one(
        {"_id": post.id, "version": post.version},
        {"$set": changes, "$inc": {"version": 1}},
        session=session(),
    )
    return result.modified_count == 1


def set_caption(post: Post, caption: str | None, entities: list[Entity],
                alts: list[str | None]) -> bool:
    """Show `caption` and `alts` instead of the source's (None: back to the source's)."""
    return update(post, {
        "caption": caption,
        "caption_entities": [asdict(e) for e in entities] if caption is not None else None,
        "alt_overrides": alts if any(a is not None for a in alts) else None,
    })


def neighbours(post: Post, direction: str, count: int = 2) -> list[Post]:
    """Up to `count` posts next to `post` in embed order, nearest first, within its
    state and pin group ("up": towards the top, "down": towards the bottom)."""
    up = direction == "up"
    cursor = (
        collection(COLLECTION)
        .find({"story_id": post.story_id, "state": post.state, "pinned": post.pinned,
               "rank": {"$lt" if up else "$gt": post.sort_rank}})
        .sort("rank", DESCENDING if up else ASCENDING)
        .limit(count)
    )
    return [_to_post(doc) for doc in cursor]


def position(post: Post, rank: float) -> int:
    """Where `post` stands (1 = first) among its story's posts in its state, in embed
    order, once its rank is `rank`: two counts on the order index, no `$or`."""
    def count(query: dict[str, Any]) -> int:
        rows = list(collection(COLLECTION).aggregate([
            {"$match": {"story_id": post.story_id, "state": post.state, **query}},
            {"$count": "n"}]))
        return int(rows[0]["n"]) if rows else 0
    pinned_first = 0 if post.pinned else count({"pinned": True})
    return pinned_first + count({"pinned": post.pinned, "rank": {"$lt": rank},
                                 "_id": {"$ne": post.id}}) + 1


def rank_between(before: Post | None, after: Post | None) -> float:
    """A rank between two posts (either may be None: the start or the end)."""
    if before is not None and after is not None:
        return (before.sort_rank + after.sort_rank) / 2
    if before is not None:
        return before.sort_rank + 1.0
    if after is not None:
        return after.sort_rank - 1.0
    return 0.0


def insert(post: Post) -> Post:
    """Store a new post (a manual one); its external id must be new for its source."""
    doc = _to_doc(post)
    doc["version"] = 1
    result = collection(COLLECTION, durable=True).insert_one(doc, session=session())
    return _to_post({**doc, "_id": result.inserted_id})


def delete(post: Post) -> bool:
    """Remove a post if it is still at the version the editor saw."""
    result = collection(COLLECTION, durable=True).delete_one(
        {"_id": post.id, "version": post.version}, session=session())
    return result.deleted_count == 1


def ids_in_story(story_id: str, post_ids: set[str]) -> set[str]:
    """Which of `post_ids` (hex) are posts of the story (the event endpoint's check,
    once per flush for the ids a process has not seen yet)."""
    if not post_ids or not ObjectId.is_valid(story_id):
        return set()
    wanted = [ObjectId(p) for p in post_ids if ObjectId.is_valid(p)]
    found = collection(COLLECTION).find({"_id": {"$in": wanted}, "story_id": ObjectId(story_id)},
                                        {"_id": 1})
    return {str(d["_id"]) for d in found}
