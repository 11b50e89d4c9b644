"""Persistence: the only package (with `samembed.mongo`) that imports pymongo.

One module per collection, each declaring its collection name, indexes and
`$jsonSchema` validator next to the functions that need them; documents cross
the boundary as frozen dataclasses. `ensure_indexes()` is run by
`manage.py ensure_indexes` (make run, the tests, deploys), never at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pymongo import IndexModel
from pymongo.errors import CollectionInvalid

from samembed.mongo import database
from samembed.repositories import (
    audit,
    flag_counts,
    flags,
    posts,
    reach,
    salts,
    screens,
    signins,
    sources,
    stats,
    stories,
)
from samembed.repositories.common import reading

MODULES: tuple[ModuleType, ...] = (stories, posts, audit, sources, screens, flags, flag_counts,
                                   signins, stats, reach, salts)


def ensure_indexes() -> list[str]:
    """Create collections, validators and indexes; safe to run any number of times."""
    db = database()
    done = []
    for module in MODULES:
        name = module.COLLECTION
        try:
            db.create_collection(name, validator=module.VALIDATOR, validationLevel="strict")
        except CollectionInvalid:
            db.command("collMod", name, validator=module.VALIDATOR, validationLevel="strict")
        for obsolete in getattr(module, "OBSOLETE_INDEXES", ()):
            if obsolete in db[name].index_information():
                db[name].drop_index(obsolete)
        wanted = module.indexes() if hasattr(module, "indexes") else module.INDEXES
        existing = db[name].index_information()
        for index in wanted:
            _retime(db, name, index, existing)
            done.append(f"{name}.{db[name].create_indexes([index])[0]}")
    return done


def _retime(db: Any, name: str, index: IndexModel, existing: Mapping[str, Any]) -> None:
    """A TTL index whose expiry changed (a setting did): changed in place by collMod,
    as creating it again with other options is refused."""
    spec = index.document
    seconds = spec.get("expireAfterSeconds")
    found = existing.get(spec["name"])
    if seconds is None or found is None or found.get("expireAfterSeconds") == seconds:
        return
    db.command("collMod", name, index={"name": spec["name"], "expireAfterSeconds": seconds})


def ping() -> None:
    """Raise DatabaseUnavailable unless the database answers within the read timeout."""
    with reading():
        database().command("ping")
