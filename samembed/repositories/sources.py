"""The `sources` collection: where a story's posts come from, and how they are moderated.

Two kinds of document, both keyed to a story:

- a source (`kind` mastodon | bluesky | rss | push): its settings, the cursor
  the next fetch starts from, its schedule (`next_run_at`), and its health
  (consecutive failures, last error, paused since). The ingest loop claims due
  sources with a compare-and-set on `version`, so two loops never run one source.
  A `push` source holds the SHA-256 of the story's push API token. Access tokens
  and app passwords in settings are stored sealed (`samembed.vault`): sealed on
  every write, opened on every read, so nothing above this module sees a sealed one.
- the story's moderation rules (`kind` "rules", one per story).

Rules live here rather than in the story so an editor tuning moderation and a
producer editing the story never conflict, and rule changes do not expire caches.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from samembed import vault
from samembed.repositories.common import collection, session

COLLECTION = "sources"
KINDS = ("mastodon", "bluesky", "rss", "push", "rules")
PAUSE_AFTER_FAILURES = 5

INDEXES = [
    # The ingest loop's query: enabled, unpaused sources by due time.
    IndexModel([("active", ASCENDING), ("next_run_at", ASCENDING)], name="due"),
    IndexModel([("story_id", ASCENDING), ("kind", ASCENDING)], name="story_kind"),
    # One rules document and one push token per story.
    IndexModel([("story_id", ASCENDING), ("singleton", ASCENDING)], name="story_singleton",
               unique=True, partialFilterExpression={"singleton": {"$type": "string"}}),
]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["story_id", "kind", "version", "created_at"],
        "properties": {
            "story_id": {"bsonType": "objectId"},
            "kind": {"enum": list(KINDS)},
            "settings": {"bsonType": "object"},
            "cursor": {"bsonType": "object"},
            "label": {"bsonType": "string", "maxLength": 300},
            "interval": {"bsonType": ["int", "long", "double"], "minimum": 10},
            "active": {"bsonType": "bool"},
            "enabled": {"bsonType": "bool"},
            "failures": {"bsonType": ["int", "long"], "minimum": 0},
            "version": {"bsonType": ["int", "long"], "minimum": 1},
        },
    }
}


@dataclass(frozen=True)
class Source:
    story_id: ObjectId
    kind: str
    settings: dict[str, Any]
    label: str
    interval: float = 120.0
    enabled: bool = True
    cursor: dict[str, Any] = field(default_factory=dict)
    next_run_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    paused_since: datetime | None = None
    last_run_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_report: dict[str, int] = field(default_factory=dict)
    version: int = 1
    id: ObjectId | None = None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None


@dataclass(frozen=True)
class Rules:
    """A story's moderation rules; the defaults hold everything for review."""

    auto_approve: bool = False
    blocked_words: tuple[str, ...] = ()
    blocked_accounts: tuple[str, ...] = ()
    allowed_accounts: tuple[str, ...] = ()
    skip_replies: bool = True
    skip_reposts: bool = True
    hold_sensitive: bool = True
    languages: tuple[str, ...] = ()
    daily_cap: int = 0  # per source; 0: no cap
    version: int = 0  # 0: never saved


_SOURCE_FIELDS = ("settings", "label", "interval", "enabled", "cursor", "next_run_at",
                  "failures", "last_error", "paused_since", "last_run_at", "last_ok_at",
                  "last_report")


def _to_source(doc: dict[str, Any]) -> Source:
    fields = {k: doc[k] for k in _SOURCE_FIELDS if doc.get(k) is not None}
    if "settings" in fields:
        fields["settings"] = vault.opened_settings(fields["settings"], doc["_id"])
    return Source(story_id=doc["story_id"], kind=doc["kind"], id=doc["_id"],
                  version=doc["version"], **fields)


def _object_id(key: str) -> ObjectId | None:
    try:
        return ObjectId(key)
    except (InvalidId, TypeError):
        return None


# ---- sources ---------------------------------------------------------------------


def add(source: Source) -> Source:
    now = datetime.now(UTC)
    doc = {"story_id": source.story_id, "kind": source.kind,
           "settings": vault.sealed_settings(source.settings),
           "label": source.label, "interval": source.interval, "enabled": source.enabled,
           "active": source.enabled, "cursor": {}, "next_run_at": now, "failures": 0,
           "version": 1, "created_at": now}
    result = collection(COLLECTION, durable=True).insert_one(doc, session=session())
    return replace(source, id=result.inserted_id, version=1, cursor={}, next_run_at=now,
                   failures=0)


def get(key: str) -> Source | None:
    oid = _object_id(key)
    doc = collection(COLLECTION).find_one({"_id": oid, "kind": {"$ne": "rules"}}) if oid else None
    return _to_source(doc) if doc else None


def for_story(story_id: ObjectId) -> list[Source]:
    cursor = collection(COLLECTION).find(
        {"story_id": story_id, "kind": {"$in": ["mastodon", "bluesky", "rss"]}}).sort("_id")
    return [_to_source(doc) for doc in cursor]


def for_stories(story_ids: list[ObjectId]) -> dict[ObjectId, list[Source]]:
    """The polled sources of several stories (a page of the story list), in one query."""
    found: dict[ObjectId, list[Source]] = {i: [] for i in story_ids}
    if story_ids:
        for doc in collection(COLLECTION).find(
                {"story_id": {"$in": story_ids},
                 "kind": {"$in": ["mastodon", "bluesky", "rss"]}}).sort("_id"):
            found[doc["story_id"]].append(_to_source(doc))
    return found


def due(now: datetime, limit: int) -> list[Source]:
    cursor = (collection(COLLECTION)
              .find({"active": True, "next_run_at": {"$lte": now}})
              .sort("next_run_at", ASCENDING).limit(limit))
    return [_to_source(doc) for doc in cursor]


def next_due() -> datetime | None:
    doc = (collection(COLLECTION).find({"active": True}, {"next_run_at": 1})
           .sort("next_run_at", ASCENDING).limit(1))
    first = next(iter(doc), None)
    return first["next_run_at"].replace(tzinfo=UTC) if first else None


def save(source: Source, **changes: Any) -> Source | None:
    """Compare-and-set on `version`; the updated source, or None if it changed meanwhile."""
    updated = replace(source, **changes, version=source.version + 1)
    fields = {k: getattr(updated, k) for k in _SOURCE_FIELDS}
    fields["active"] = updated.enabled and updated.paused_since is None
    fields["settings"] = vault.sealed_settings(updated.settings)
    result = collection(COLLECTION, durable=True).update_one(
        {"_id": source.id, "version": source.version},
        {"$set": fields, "$inc": {"version": 1}}, session=session())
    return updated if result.modified_count == 1 else None


def remove(source: Source) -> bool:
    result = collection(COLLECTION, durable=True).delete_one(
        {"_id": source.id, "version": source.version}, session=session())
    return result.deleted_count == 1


def reseal_secrets() -> tuple[int, int]:
    """Seal every source's secrets with the current key (after a rotation, or values
    stored before encryption): (sources resealed, sources with a secret no key opens)."""
    resealed = unreadable = 0
    coll = collection(COLLECTION, durable=True)
    for doc in coll.find({"kind": {"$in": ["mastodon", "bluesky", "rss"]}},
                         {"settings": 1, "version": 1}):
        stored = doc.get("settings") or {}
        if all(vault.is_current(stored.get(k)) for k in vault.SECRET_FIELDS if k in stored):
            continue
        try:
            plain = {k: vault.open_secret(v) if k in vault.SECRET_FIELDS and isinstance(v, str)
                     else v for k, v in stored.items()}
        except vault.Unreadable:
            unreadable += 1
            continue
        # A compare-and-set: a source the ingest loop saved meanwhile is sealed anew by
        # that save already.
        result = coll.update_one({"_id": doc["_id"], "version": doc["version"]},
                                 {"$set": {"settings": vault.sealed_settings(plain)}})
        resealed += result.modified_count
    return resealed, unreadable


# ---- rules -----------------------------------------------------------------------


def rules(story_id: ObjectId) -> Rules:
    doc = collection(COLLECTION).find_one({"story_id": story_id, "singleton": "rules"})
    if doc is None:
        return Rules()
    values: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in doc.get("settings", {}).items()
        if k in Rules.__dataclass_fields__ and k != "version"}
    return Rules(**values, version=doc["version"])


def save_rules(story_id: ObjectId, new: Rules, seen_version: int) -> bool:
    """Store rules if they are still at `seen_version` (0: never saved); False: conflict."""
    values = {k: list(v) if isinstance(v, tuple) else v
              for k, v in asdict(new).items() if k != "version"}
    coll = collection(COLLECTION, durable=True)
    if seen_version == 0:
        try:
            coll.insert_one({"story_id": story_id, "kind": "rules", "singleton": "rules",
                             "settings": values, "version": 1,
                             "created_at": datetime.now(UTC)}, session=session())
        except DuplicateKeyError:
            return False
        return True
    result = coll.update_one(
        {"story_id": story_id, "singleton": "rules", "version": seen_version},
        {"$set": {"settings": values}, "$inc": {"version": 1}}, session=session())
    return result.modified_count == 1


# ---- push tokens -----------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_push_token(story_id: ObjectId, token: str) -> None:
    """Replace the story's push API token (only its digest is stored)."""
    collection(COLLECTION, durable=True).update_one(
        {"story_id": story_id, "singleton": "push"},
        {"$set": {"settings": {"token_sha256": _digest(token)}, "label": "Push API",
                  "created_at": datetime.now(UTC)},
         "$setOnInsert": {"kind": "push"}, "$inc": {"version": 1}},
        upsert=True, session=session())


def revoke_push_token(story_id: ObjectId) -> None:
    collection(COLLECTION, durable=True).delete_one({"story_id": story_id, "singleton": "push"},
                                                    session=session())


def push_source(story_id: ObjectId) -> Source | None:
    doc = collection(COLLECTION).find_one({"story_id": story_id, "singleton": "push"})
    return _to_source(doc) if doc else None


def push_token_matches(source: Source, token: str) -> bool:
    return hmac.compare_digest(source.settings.get("token_sha256", ""), _digest(token))
