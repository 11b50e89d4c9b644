"""Helpers shared by the repository modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymongo
from bson import ObjectId
from django.conf import settings
from pymongo import WriteConcern
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError

from samembed.exceptions import DatabaseUnavailable
from samembed.mongo import database

# Document ids, for code outside this package that passes them around.
Id = ObjectId

# Editorial writes must survive a crash of the database server.
DURABLE = WriteConcern("majority", j=True)


def collection(name: str, durable: bool = False) -> Collection:
    coll = database()[name]
    return coll.with_options(write_concern=DURABLE) if durable else coll


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached in time (transient):
    for callers outside this package, which never see pymongo's classes."""
    if isinstance(error, DatabaseUnavailable | ConnectionFailure):
        return True
    # ServerSelectionTimeoutError, NetworkTimeout, ExecutionTimeout, a WTimeoutError…
    return isinstance(error, PyMongoError) and error.timeout


@contextmanager
def reading() -> Iterator[None]:
    """A read on the embed path: short deadline, failures as DatabaseUnavailable."""
    try:
        with pymongo.timeout(settings.MONGODB_READ_TIMEOUT_MS / 1000):
            yield
    except (ConnectionFailure, ExecutionTimeout) as e:
        raise DatabaseUnavailable(str(e)) from e
