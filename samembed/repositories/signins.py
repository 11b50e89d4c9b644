"""The `signin_attempts` collection: the studio sign-in throttle's counters.

Write path, before any password is checked: one document per account and client
address, holding the attempts of the current window. An attempt is reserved with
one atomic `$inc` before the password check (an `update_one` upsert, retried only
when it lost the insert race and so counted nothing: each attempt counts once), so
parallel attempts can never all pass the check: however many arrive at once, at
most `allowed` of them see a count within the limit. A successful sign-in deletes
the document; a TTL index removes the rest when their window ends.

    >>> reserve("ada", "203.0.113.7", allowed=5, window=timedelta(minutes=15))
    Reservation(granted=True, retry_after=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from samembed.exceptions import DatabaseUnavailable
from samembed.repositories.common import collection

COLLECTION = "signin_attempts"
_UPSERT_TRIES = 5

INDEXES = [
    # The server deletes a window's counter once `expires` has passed.
    IndexModel([("expires", ASCENDING)], name="expires_ttl", expireAfterSeconds=0),
]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["_id", "count", "started", "expires"],
        "properties": {
            "_id": {
                "bsonType": "object",
                "required": ["account", "address"],
                "properties": {"account": {"bsonType": "string"},
                               "address": {"bsonType": "string"}},
            },
            "count": {"bsonType": ["int", "long"]},
            "started": {"bsonType": "date"},
            "expires": {"bsonType": "date"},
        },
    }
}


@dataclass(frozen=True)
class Reservation:
    """Whether this attempt may check a password, and else the seconds to wait."""

    granted: bool
    retry_after: int


def _key(account: str, address: str) -> dict[str, str]:
    # A fixed field order: the _id is compared as a whole document.
    return {"account": account, "address": address}


def reserve(account: str, address: str, allowed: int, window: timedelta,
            now: datetime | None = None) -> Reservation:
    """Count one sign-in attempt for (account, address) and say whether it may proceed."""
    now = now or datetime.now(UTC)
    coll = collection(COLLECTION)
    key = _key(account, address)
    # A window that has ended starts again, as a compare-and-set on its start, so
    # two attempts crossing the boundary cannot both reset it after counting.
    coll.update_one({"_id": key, "started": {"$lte": now - window}},
                    {"$set": {"count": 0, "started": now, "expires": now + window}})
    update = {"$inc": {"count": 1},
              "$setOnInsert": {"started": now, "expires": now + window}}
    counted = False
    for _ in range(_UPSERT_TRIES):
        try:
            result = coll.update_one({"_id": key}, update, upsert=True)
        except DuplicateKeyError:
            # Another attempt inserted the counter first: it exists now, count on it.
            continue
        counted = result.matched_count == 1 or result.upserted_id is not None
        if counted:
            break
    # Read after counting: the count seen is at least this attempt's own, so of
    # parallel attempts only the first `allowed` can see one within the limit.
    doc = coll.find_one({"_id": key}, {"count": 1, "started": 1}) if counted else None
    if doc is None:
        raise DatabaseUnavailable("the sign-in counter could not be updated")
    if doc["count"] <= allowed:
        return Reservation(True, 0)
    started = doc["started"]
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return Reservation(False, max(1, int((started + window - now).total_seconds())))


def forget(account: str, address: str) -> None:
    """Clear the counter of (account, address): its owner has signed in."""
    collection(COLLECTION).delete_one({"_id": _key(account, address)})
