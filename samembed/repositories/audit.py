"""The `audit` collection: every editorial action, who, when, and before → after.

Appended to, never changed. Conflicting saves are recorded too (outcome
"conflict"), so the trail shows both editors' attempts. An applied entry is
written in the same transaction as the change it describes (`applied`), so a
crash between the two writes can neither lose it nor leave one for a change
that was never made. Feature flags belong to no story: their entries have
`story_id` null and the flag's key in `flag` (`record_flag`, `for_flag`), so a
story's trail never shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from samembed.repositories.common import atomically, collection, session

T = TypeVar("T")

COLLECTION = "audit"
OUTCOMES = ("applied", "conflict")

INDEXES = [
    IndexModel([("story_id", ASCENDING), ("at", DESCENDING)], name="story_at"),
    IndexModel([("flag", ASCENDING), ("at", DESCENDING)], name="flag_at",
               partialFilterExpression={"flag": {"$type": "string"}}),
]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["story_id", "actor", "action", "at", "outcome", "changes"],
        "properties": {
            "story_id": {"bsonType": ["objectId", "null"]},
            "flag": {"bsonType": "string"},
            "actor": {"bsonType": "string"},
            "action": {"bsonType": "string"},
            "at": {"bsonType": "date"},
            "outcome": {"enum": list(OUTCOMES)},
            "base_version": {"bsonType": ["int", "long", "null"]},
            "version": {"bsonType": ["int", "long", "null"]},
            "post_id": {"bsonType": ["objectId", "null"]},
            "changes": {"bsonType": "object"},
        },
    }
}


@dataclass(frozen=True)
class AuditEntry:
    story_id: ObjectId | None
    actor: str
    action: str
    at: datetime
    outcome: str
    changes: dict[str, dict[str, Any]]
    base_version: int | None = None
    version: int | None = None
    post_id: ObjectId | None = None


def _entry(story_id: ObjectId | None, actor: str, action: str, changes: dict[str, tuple[Any, Any]],
           outcome: str, base_version: int | None, version: int | None,
           post_id: ObjectId | None) -> dict[str, Any]:
    return {
        "story_id": story_id,
        "actor": actor,
        "action": action,
        "at": datetime.now(UTC),
        "outcome": outcome,
        # Field names come from our forms; stored as a list of pairs they could
        # hold dots or dollars safely, but as keys they stay readable.
        "changes": {field: {"before": before, "after": after}
                    for field, (before, after) in changes.items()},
        "base_version": base_version,
        "version": version,
        "post_id": post_id,
    }


def record_many(story_id: ObjectId, actor: str, action: str,
                changes: dict[ObjectId, dict[str, tuple[Any, Any]]],
                outcome: str = "applied") -> None:
    """One action on many posts (a bulk action), in one write."""
    if changes:
        collection(COLLECTION, durable=True).insert_many(
            [_entry(story_id, actor, action, c, outcome, None, None, post_id)
             for post_id, c in changes.items()], session=session())


def record(
    story_id: ObjectId,
    actor: str,
    action: str,
    changes: dict[str, tuple[Any, Any]],
    *,
    outcome: str = "applied",
    base_version: int | None = None,
    version: int | None = None,
    post_id: ObjectId | None = None,
) -> None:
    """Append one action; `changes` maps a field to (before, after)."""
    collection(COLLECTION, durable=True).insert_one(
        _entry(story_id, actor, action, changes, outcome, base_version, version, post_id),
        session=session())


def applied(write: Callable[[], T], story_id: ObjectId, actor: str, action: str,
            changes: dict[str, tuple[Any, Any]], **details: Any) -> T:
    """Run `write` and, when it changed something (a truthy result), `record` its entry,
    in one transaction; returns what `write` returned (falsy: a lost compare-and-set).

        saved = audit.applied(lambda: posts.update(post, c), story_id, who, "post.pin", ...)
    """
    def work() -> T:
        result = write()
        if result:
            record(story_id, actor, action, changes, **details)
        return result
    return atomically(work)


def for_story(story_id: ObjectId, limit: int = 200, since_version: int | None = None,
              post_id: ObjectId | None = None) -> list[AuditEntry]:
    """Newest first; with `since_version`, only story changes applied after that
    version; with `post_id`, only that post's."""
    query: dict[str, Any] = {"story_id": story_id}
    if since_version is not None:
        query.update(outcome="applied", version={"$gt": since_version})
    if post_id is not None:
        query["post_id"] = post_id
    cursor = collection(COLLECTION).find(query).sort("at", DESCENDING).limit(limit)
    return [
        AuditEntry(d["story_id"], d["actor"], d["action"], d["at"], d["outcome"],
                   d["changes"], d.get("base_version"), d.get("version"), d.get("post_id"))
        for d in cursor
    ]


def find(story_id: ObjectId, *, actor: str | None = None,
         actions: tuple[str, ...] | None = None, outcome: str | None = None,
         offset: int = 0, limit: int = 50) -> list[AuditEntry]:
    """A page of a story's trail, newest first, filtered by person, actions and outcome."""
    query: dict[str, Any] = {"story_id": story_id}
    if actor:
        query["actor"] = actor
    if actions:
        query["action"] = {"$in": list(actions)}
    if outcome:
        query["outcome"] = outcome
    cursor = (collection(COLLECTION).find(query).sort("at", DESCENDING)
              .skip(max(offset, 0)).limit(limit))
    return [
        AuditEntry(d["story_id"], d["actor"], d["action"], d["at"], d["outcome"],
                   d["changes"], d.get("base_version"), d.get("version"), d.get("post_id"))
        for d in cursor
    ]


def record_flag(key: str, actor: str, action: str, changes: dict[str, tuple[Any, Any]], *,
                outcome: str = "applied", base_version: int | None = None,
                version: int | None = None) -> None:
    """Append one change of feature flag `key` (no story: `story_id` is null)."""
    entry = _entry(None, actor, action, changes, outcome, base_version, version, None)
    entry["flag"] = key
    collection(COLLECTION, durable=True).insert_one(entry)


def for_flag(key: str, limit: int = 50) -> list[AuditEntry]:
    """A flag's trail, newest first."""
    cursor = collection(COLLECTION).find({"flag": key}).sort("at", DESCENDING).limit(limit)
    return [
        AuditEntry(d["story_id"], d["actor"], d["action"], d["at"], d["outcome"],
                   d["changes"], d.get("base_version"), d.get("version"), d.get("post_id"))
        for d in cursor
    ]


@dataclass(frozen=True)
class PostSummary:
    """What the trail shows of a post instead of its id: who wrote it and how it starts."""

    author: str
    text: str


def post_summaries(story_id: ObjectId, ids: list[ObjectId]) -> dict[ObjectId, PostSummary]:
    """The posts a page of the trail names, in one query (removed posts are absent)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    cursor = collection("posts").find(
        {"_id": {"$in": wanted}, "story_id": story_id},
        {"author.name": 1, "text": 1, "caption": 1})
    found: dict[ObjectId, PostSummary] = {}
    for doc in cursor:
        caption = doc.get("caption")
        author = doc.get("author") or {}
        found[doc["_id"]] = PostSummary(str(author.get("name") or ""),
                                        str(caption if caption is not None
                                            else doc.get("text") or ""))
    return found
