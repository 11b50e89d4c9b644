"""The MongoClient of this process, created lazily (after gunicorn's fork), and a
second one that never retries a write, for the counters (`at_most_once`).

Only `samembed.repositories` calls `database()` and `at_most_once()`. The clients
speak the Stable API v1 in strict mode, so code that works against the embedded
SecantusDB keeps working on MongoDB 7/8. Every operation has a deadline
(`MONGODB_TIMEOUT_MS`); reads on the embed path use shorter ones so that a slow
or absent database turns into a stale copy quickly instead of a hung worker.

The URI is parsed once per process, with the client: a `mongodb+srv://` URI costs a
DNS lookup when it is parsed, so `database()`, called by every repository function,
hands out the same handle instead of parsing it again.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.server_api import ServerApi

_lock = threading.Lock()
# retry_writes -> (pid, client, database) of the process that made them: a client
# inherited across fork() shares sockets with the parent, so every process that
# touches the database makes its own.
_made: dict[bool, tuple[int, MongoClient, Database]] = {}


def _new_client(retry_writes: bool) -> MongoClient:
    timeout = settings.MONGODB_READ_TIMEOUT_MS
    return MongoClient(
        settings.MONGODB_URI,
        server_api=ServerApi("1", strict=True, deprecation_errors=True),
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        # One deadline per operation, the wait for a pooled connection
        # included (a socket timeout leaves that wait unbounded when a
        # hung database holds every connection); `reading()` shortens it.
        timeoutMS=settings.MONGODB_TIMEOUT_MS,
        appname="samembed",
        tz_aware=True,
        connect=False,
        retryWrites=retry_writes,
    )


def _handles(retry_writes: bool = True) -> tuple[MongoClient, Database]:
    made = _made.get(retry_writes)
    if made is None or made[0] != os.getpid():
        with _lock:
            made = _made.get(retry_writes)
            if made is None or made[0] != os.getpid():
                made_client = _new_client(retry_writes)
                # The name in the URI, read from what the client parsed: no lookup.
                made = (os.getpid(), made_client,
                        made_client.get_default_database("samembed"))
                _made[retry_writes] = made
    return made[1], made[2]


def client() -> MongoClient:
    """This process's client (made on first use after a fork)."""
    return _handles()[0]


def database() -> Database:
    """The database the URI names (default `samembed`), as one handle per process."""
    return _handles()[1]


def at_most_once() -> Database:
    """The database through a client that never retries a write: for the counters'
    `$inc` flushes, which must not count twice.

    A write whose answer is lost is retried once by the driver. MongoDB recognises
    the retry (a replica set remembers each session's transaction numbers);
    SecantusDB does not yet, and applies it again. Losing one flush interval,
    counted as dropped, is what the counters promise instead.
    """
    return _handles(retry_writes=False)[1]


def close() -> None:
    """Drop this process's clients (tests that restart the database use it)."""
    with _lock:
        for _, made_client, _ in _made.values():
            made_client.close()
        _made.clear()
