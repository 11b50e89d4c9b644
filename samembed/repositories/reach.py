"""The `stats_reach` collection: unique readers per story and day (reach path).

`stats_reach` holds one HyperLogLog sketch per (story, UTC day) as 16,384 bytes
of registers (`samembed.analytics.hll`). Each process's flush merges its own
sketch in by compare-and-set on `version` (read, register-wise maximum, write
if nobody wrote in between), so the stored sketch is the union of every
process's readers. No hash, address or user agent is ever stored.

The key of the viewer hash folded in is the day's salt (`salts.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import Binary, ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from samembed.analytics.hll import M, merge_registers
from samembed.repositories.common import collection

COLLECTION = "stats_reach"
CAS_ATTEMPTS = 8

INDEXES = [IndexModel([("story_id", ASCENDING), ("day", ASCENDING)], name="story_day")]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["story_id", "day", "registers", "version"],
        "properties": {
            "story_id": {"bsonType": "objectId"},
            "day": {"bsonType": "date"},
            "registers": {"bsonType": "binData"},
            "version": {"bsonType": ["int", "long"], "minimum": 1},
        },
    }
}


def day_of(now: datetime) -> datetime:
    """The UTC day `now` falls in, as midnight."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def merge(story_id: str, day: datetime, registers: bytes) -> bool:
    """Merge a process's sketch into the stored one; False if others kept winning."""
    coll = collection(COLLECTION)
    key = f"{story_id}|{day:%Y%m%d}"
    for _ in range(CAS_ATTEMPTS):
        doc = coll.find_one({"_id": key})
        if doc is None:
            try:
                coll.insert_one({"_id": key, "story_id": ObjectId(story_id), "day": day,
                                 "registers": Binary(registers), "version": 1})
                return True
            except DuplicateKeyError:
                continue
        merged = merge_registers(bytes(doc["registers"]), registers)
        done = coll.update_one({"_id": key, "version": doc["version"]},
                               {"$set": {"registers": Binary(merged)},
                                "$inc": {"version": 1}})
        if done.modified_count:
            return True
    return False


def sketches(story_id: ObjectId, since: datetime) -> dict[datetime, bytes]:
    """The story's stored sketches by day, from `since`'s day on."""
    found = collection(COLLECTION).find({"story_id": story_id, "day": {"$gte": day_of(since)}})
    return {d["day"].astimezone(UTC): bytes(d["registers"]) for d in found
            if len(d["registers"]) == M}
