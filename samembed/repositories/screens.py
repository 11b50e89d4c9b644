"""The `screens` collection: which big screens each instance has seen, for the remote.

Screens say who they are on some of their `/live/` polls; each process keeps
them in memory (`samembed.embed.live.Screens`) and, every PUBLISH_INTERVAL,
writes what it saw to one document per (process, story) here. The producer's
remote counts the distinct screens of a story across every instance from these
documents: a few writes per process per interval, never one per poll. Old
documents expire by a TTL index.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne

from samembed.repositories.common import collection, reading

COLLECTION = "screens"
# Documents of a process that stopped go away by themselves after this long.
EXPIRE_SECONDS = 600

INDEXES = [
    IndexModel([("story_id", ASCENDING), ("at", DESCENDING)], name="story_at"),
    IndexModel([("at", ASCENDING)], name="at_expire", expireAfterSeconds=EXPIRE_SECONDS),
]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["story_id", "process", "seen", "at"],
        "properties": {
            "story_id": {"bsonType": "objectId"},
            "process": {"bsonType": "string", "maxLength": 64},
            "seen": {"bsonType": "object"},
            "at": {"bsonType": "date"},
        },
    }
}


def publish(process: str, seen: dict[str, dict[str, float]], now: datetime | None = None
            ) -> None:
    """Store what `process` saw: story id -> {screen id: unix time last seen}."""
    now = now or datetime.now(UTC)
    writes = [UpdateOne({"_id": f"{process}:{story_id}"},
                        {"$set": {"story_id": ObjectId(story_id), "process": process,
                                  "seen": ids, "at": now}}, upsert=True)
              for story_id, ids in seen.items() if ObjectId.is_valid(story_id)]
    if writes:
        collection(COLLECTION).bulk_write(writes, ordered=False)


def seen_since(story_id: str, since: float, window: timedelta) -> set[str]:
    """Screen ids of a story that any process saw at or after unix time `since`, from
    documents written within `window`."""
    if not ObjectId.is_valid(story_id):
        return set()
    fresh = datetime.now(UTC) - window
    ids: set[str] = set()
    with reading():
        for doc in collection(COLLECTION).find(
                {"story_id": ObjectId(story_id), "at": {"$gte": fresh}}, {"seen": 1}):
            ids.update(k for k, t in (doc.get("seen") or {}).items()
                       if isinstance(t, (int, float)) and t >= since)
    return ids
