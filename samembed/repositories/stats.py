"""The `stats_hourly` collection: event counts per story and hour (events path).

The event endpoint counts in memory (`samembed.analytics.collect`) and every
flush writes one `bulk_write` of `$inc` upserts here, one per distinct key it
counted: so many documents per story-hour as there were embedding origins,
templates and variants (`kind: "page"`), and posts (`kind: "post"`), never one
write per event. An `_id` built from the key makes the upsert idempotent in
shape (two processes upserting one key meet in one document). Rollups expire
after ANALYTICS_RETENTION_DAYS by a TTL index on `hour` (`ensure_indexes` applies a
change of the setting to the existing index).

    {_id: "<story>|2026120218|p|https://news.example|grid|", kind: "page",
     story_id, hour, origin: "https://news.example", template: "grid", variant: "",
     n: {load: 12, view: 9, click: 2, more: 1, reveal: 0}}
    {_id: "<story>|2026120218|q|<post>", kind: "post", story_id, hour, post_id,
     n: {post_view: 7, click: 1, reveal: 0}}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from django.conf import settings
from pymongo import ASCENDING, IndexModel, UpdateOne

from samembed.repositories.common import collection

COLLECTION = "stats_hourly"
PAGE_EVENTS = ("load", "view", "click", "more", "reveal")
POST_EVENTS = ("post_view", "click", "reveal")



def indexes() -> list[IndexModel]:
    """The collection's indexes, the TTL as ANALYTICS_RETENTION_DAYS says now:
    `ensure_indexes` changes an existing TTL index to it (collMod)."""
    return [
        IndexModel([("story_id", ASCENDING), ("hour", ASCENDING)], name="story_hour"),
        IndexModel([("hour", ASCENDING)], name="hour_expire",
                   expireAfterSeconds=int(settings.ANALYTICS_RETENTION_DAYS) * 86400),
    ]


VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["kind", "story_id", "hour", "n"],
        "properties": {
            "kind": {"enum": ["page", "post"]},
            "story_id": {"bsonType": "objectId"},
            "hour": {"bsonType": "date"},
            "origin": {"bsonType": "string", "maxLength": 300},
            "template": {"bsonType": "string", "maxLength": 20},
            "variant": {"bsonType": "string", "maxLength": 40},
            "post_id": {"bsonType": "objectId"},
            "n": {"bsonType": "object"},
        },
    }
}

# (story id, hour, origin, template, variant) -> counts in PAGE_EVENTS order
PageKey = tuple[str, datetime, str, str, str]
# (story id, hour, post id) -> counts in POST_EVENTS order
PostKey = tuple[str, datetime, str]


def _hour_id(hour: datetime) -> str:
    return hour.strftime("%Y%m%d%H")


def increments(pages: dict[PageKey, list[int]], posts: dict[PostKey, list[int]]
               ) -> list[UpdateOne]:
    """The `$inc` upserts of one flush."""
    ops = []
    for (story, hour, origin, template, variant), counts in pages.items():
        inc = {f"n.{e}": c for e, c in zip(PAGE_EVENTS, counts, strict=True) if c}
        if inc:
            ops.append(UpdateOne(
                {"_id": f"{story}|{_hour_id(hour)}|p|{origin}|{template}|{variant}"},
                {"$inc": inc, "$setOnInsert": {
                    "kind": "page", "story_id": ObjectId(story), "hour": hour,
                    "origin": origin, "template": template, "variant": variant}},
                upsert=True))
    for (story, hour, post), counts in posts.items():
        inc = {f"n.{e}": c for e, c in zip(POST_EVENTS, counts, strict=True) if c}
        if inc:
            ops.append(UpdateOne(
                {"_id": f"{story}|{_hour_id(hour)}|q|{post}"},
                {"$inc": inc, "$setOnInsert": {
                    "kind": "post", "story_id": ObjectId(story), "hour": hour,
                    "post_id": ObjectId(post)}},
                upsert=True))
    return ops


def apply(ops: list[UpdateOne]) -> None:
    """Write one flush: a single unordered bulk write."""
    if ops:
        # Never retried: a retry the database applies again would count twice.
        collection(COLLECTION, once=True).bulk_write(ops, ordered=False)


@dataclass(frozen=True)
class Rollup:
    """One stored rollup: a page key's or a post's counts in one hour."""

    kind: str  # "page" or "post"
    hour: datetime
    origin: str
    template: str
    variant: str
    post_id: str | None
    n: dict[str, int]


def rollups(story_id: ObjectId, since: datetime) -> Iterator[Rollup]:
    """The story's rollups of the hours from `since` on (by the story_hour index)."""
    for doc in collection(COLLECTION).find({"story_id": story_id, "hour": {"$gte": since}}):
        hour = doc["hour"]
        yield Rollup(doc["kind"], hour if hour.tzinfo else hour.replace(tzinfo=UTC),
                     doc.get("origin", ""), doc.get("template", ""), doc.get("variant", ""),
                     str(doc["post_id"]) if doc.get("post_id") else None,
                     {k: int(v) for k, v in doc["n"].items()})
