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
_client: MongoClient | None = None
_database: Database | None = None
_pid: int | None = None
_once_client: MongoClient | None = None
_once_database: Database | None = None
_once_pid: int | None = None


def _new_client(retry_writes: bool = True) -> MongoClient:
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


def client() -> MongoClient:
    """This process's client (made on first use after a fork)."""
    global _client, _database, _pid
    # A client inherited across fork() shares sockets with the parent: make a new
    # one in every process that touches the database.
    if _client is None or _pid != os.getpid():
        with _lock:
            if _client is None or _pid != os.getpid():
                _client = _new_client()
                # The name in the URI, read from what the client parsed: no lookup.
                _database = _client.get_default_database("samembed")
                _pid = os.getpid()
    return _client


def at_most_once() -> Database:
    """The database through a client that never retries a write: for the counters'
    `$inc` flushes, which must not count twice.

    A write whose answer is lost is retried once by the driver. MongoDB recognises
    the retry (a replica set remembers each session's transaction numbers);
    SecantusDB does not yet, and applies it again. Losing one flush interval,
    counted as dropped, is what the counters promise instead.
    """
    global _once_client, _once_database, _once_pid
    handle = _once_database
    if handle is None or _once_pid != os.getpid():
        with _lock:
            if _once_database is None or _once_pid != os.getpid():
                _once_client = _new_client(retry_writes=False)
                _once_database = _once_client.get_default_database("samembed")
                _once_pid = os.getpid()
            handle = _once_database
    return handle


def database() -> Database:
    """The database the URI names (default `samembed`), as one handle per process."""
    handle = _database
    if handle is None or _pid != os.getpid():
        handle = client().get_default_database("samembed")
    return handle


def close() -> None:
    """Drop this process's clients (tests that restart the database use it)."""
    global _client, _database, _once_client, _once_database
    with _lock:
        for made in (_client, _once_client):
            if made is not None:
                made.close()
        _client = _database = _once_client = _once_database = None
