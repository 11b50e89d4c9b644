"""The `flag_counts` collection: the flags' guardrail counts of every instance.

Each web worker counts exposures, errors and render time per flag and variant in
memory (`samembed.embed.guard`) and, every FLAGS_FLUSH_INTERVAL seconds, writes
what it counted since its last write as one unordered `bulk_write` of `$inc`
upserts here: one document per (flag, variant, BUCKET_SECONDS of wall time), so
workers and instances that flush within one bucket meet in one document. The
guard (`manage.py flags guard`) sums the buckets of a window across all of them.

    {_id: "grid-v2|on|1796212800", key: "grid-v2", variant: "on", t: <bucket start>,
     n: {exposure: 812, server_error: 0, client_error: 3, render: 4,
         render_seconds: 0.061}}

Bounded: at most FLAGS_MAX flags x their variants x one document a bucket, and a
TTL index removes buckets after RETENTION_DAYS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne

from samembed.repositories.common import collection, reading

COLLECTION = "flag_counts"
BUCKET_SECONDS = 10
RETENTION_DAYS = 8
KINDS = ("exposure", "server_error", "client_error", "render", "render_seconds")
# What one window may read: a day of buckets for a flag of ten variants and more.
READ_MAX = 200_000

INDEXES = [
    IndexModel([("key", ASCENDING), ("t", ASCENDING)], name="key_time"),
    IndexModel([("t", ASCENDING)], name="time_expire",
               expireAfterSeconds=RETENTION_DAYS * 86400),
]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["key", "variant", "t", "n"],
        "properties": {
            "key": {"bsonType": "string", "maxLength": 64},
            "variant": {"bsonType": "string", "maxLength": 32},
            "t": {"bsonType": "date"},
            "n": {"bsonType": "object"},
        },
    }
}

Counts = dict[str, dict[str, dict[str, float]]]  # flag -> variant -> kind -> count
Series = dict[str, dict[str, dict[str, list[float]]]]  # ... -> kind -> one count a step


def bucket_of(when: datetime) -> datetime:
    """The start of the bucket `when` falls in."""
    seconds = int(when.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(seconds, UTC)


def increments(deltas: Mapping[tuple[str, str], Mapping[str, float]],
               at: datetime) -> list[UpdateOne]:
    """The `$inc` upserts that add `deltas` ((flag, variant) -> kind -> amount) to
    the bucket of `at`."""
    start = bucket_of(at)
    ops = []
    for (key, variant), kinds in deltas.items():
        inc = {f"n.{k}": v for k, v in kinds.items() if v and k in KINDS}
        if inc:
            ops.append(UpdateOne(
                {"_id": f"{key}|{variant}|{int(start.timestamp())}"},
                {"$inc": inc, "$setOnInsert": {"key": key, "variant": variant, "t": start}},
                upsert=True))
    return ops


def apply(ops: list[UpdateOne]) -> None:
    """Write one flush: a single unordered bulk write."""
    if ops:
        # Never retried: a retry the database applies again would count twice.
        collection(COLLECTION, once=True).bulk_write(ops, ordered=False)


def window(keys: Iterable[str], since: datetime) -> Counts:
    """Every instance's counts of these flags from the bucket holding `since` on."""
    wanted = sorted(set(keys))
    found: Counts = {}
    if not wanted:
        return found
    with reading():
        docs = collection(COLLECTION).find(
            {"key": {"$in": wanted}, "t": {"$gte": bucket_of(since)}},
            {"_id": 0, "key": 1, "variant": 1, "n": 1}).limit(READ_MAX)
        for doc in docs:
            cell = found.setdefault(doc["key"], {}).setdefault(
                doc["variant"], dict.fromkeys(KINDS, 0.0))
            for kind, value in (doc.get("n") or {}).items():
                if kind in cell and isinstance(value, int | float):
                    cell[kind] += float(value)
    return found


def series(keys: Iterable[str], seconds: float, steps: int,
           now: datetime | None = None) -> tuple[list[datetime], Series]:
    """Every instance's counts of these flags over the last `seconds`, in `steps`
    equal steps (for the studio's charts): the steps' starts, and per flag, per
    variant, per kind, one value a step."""
    wanted = sorted(set(keys))
    now = now or datetime.now(UTC)
    width = max(BUCKET_SECONDS, int(seconds) // steps // BUCKET_SECONDS * BUCKET_SECONDS)
    end = bucket_of(now) + timedelta(seconds=BUCKET_SECONDS)
    start = end - timedelta(seconds=width * steps)
    starts = [start + timedelta(seconds=width * i) for i in range(steps)]
    found: Series = {}
    if not wanted:
        return starts, found
    with reading():
        docs = collection(COLLECTION).find(
            {"key": {"$in": wanted}, "t": {"$gte": start}},
            {"_id": 0, "key": 1, "variant": 1, "t": 1, "n": 1}).limit(READ_MAX)
        for doc in docs:
            t = doc["t"] if doc["t"].tzinfo else doc["t"].replace(tzinfo=UTC)
            i = int((t - start).total_seconds()) // width
            if not 0 <= i < steps:
                continue
            cells = found.setdefault(doc["key"], {}).setdefault(
                doc["variant"], {k: [0.0] * steps for k in KINDS})
            for kind, value in (doc.get("n") or {}).items():
                if kind in cells and isinstance(value, int | float):
                    cells[kind][i] += float(value)
    return starts, found


def since_each(starts: Mapping[str, datetime]) -> Counts:
    """Each flag's counts from its own start (the time its current step began)."""
    found: Counts = {}
    for key, start in starts.items():
        found.update(window([key], start))
    return found


def recent(keys: Iterable[str], seconds: float) -> Counts:
    """Every instance's counts of the last `seconds`."""
    return window(keys, datetime.now(UTC) - timedelta(seconds=seconds))
