"""The `stats_salts` collection: the key of each day's viewer hash (reach path).

One random salt per UTC day, made by whichever process needs it first (a unique
`_id` settles a race), and deleted 48 hours after it was made (a TTL index, and
`purge` for databases whose TTL monitor runs late). The event endpoint keys its
hash of (address, user agent, story) with it; once a salt is gone, no one, us
included, can tell whether two days' readers were the same person.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Binary
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from samembed.repositories.common import collection

COLLECTION = "stats_salts"
SALT_SECONDS = 48 * 3600

INDEXES = [IndexModel([("at", ASCENDING)], name="at_expire", expireAfterSeconds=SALT_SECONDS)]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["salt", "at"],
        "properties": {"salt": {"bsonType": "binData"}, "at": {"bsonType": "date"}},
    }
}


def salt(day: datetime) -> bytes:
    """The salt of `day`, made now if no process made it yet."""
    key = day.strftime("%Y-%m-%d")
    coll = collection(COLLECTION, durable=True)
    doc = coll.find_one({"_id": key})
    if doc is not None:
        return bytes(doc["salt"])
    made = os.urandom(32)
    try:
        # Made at the start of its day: it outlives the day by one more, then goes.
        coll.insert_one({"_id": key, "salt": Binary(made), "at": day})
    except DuplicateKeyError:  # another process made it first: use theirs
        doc = coll.find_one({"_id": key})
        if doc is None:
            raise
        return bytes(doc["salt"])
    return made


def purge(now: datetime | None = None) -> int:
    """Delete salts older than 48 hours; how many went."""
    limit = (now or datetime.now(UTC)) - timedelta(seconds=SALT_SECONDS)
    return collection(COLLECTION).delete_many({"at": {"$lt": limit}}).deleted_count


def days() -> list[str]:
    """The days whose salt still exists (for tests and the docs' promise)."""
    return sorted(d["_id"] for d in collection(COLLECTION).find({}, {"_id": 1}))
