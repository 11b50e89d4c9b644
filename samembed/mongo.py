"""The one MongoClient of this process, created lazily (after gunicorn's fork).

Only `samembed.repositories` calls `database()`. The client speaks the Stable API
v1 in strict mode, so code that works against the embedded SecantusDB keeps
working on MongoDB 7/8. Every operation has a deadline
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


def client() -> MongoClient:
    """This process's client (made on first use after a fork)."""
    global _client, _database, _pid
    # A client inherited across fork() shares sockets with the parent: make a new
    # one in every process that touches the database.
    if _client is None or _pid != os.getpid():
        with _lock:
            if _client is None or _pid != os.getpid():
                timeout = settings.MONGODB_READ_TIMEOUT_MS
                _client = MongoClient(
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
                )
                # The name in the URI, read from what the client parsed: no lookup.
                _database = _client.get_default_database("samembed")
                _pid = os.getpid()
    return _client


def database() -> Database:
    """The database the URI names (default `samembed`), as one handle per process."""
    handle = _database
    if handle is None or _pid != os.getpid():
        handle = client().get_default_database("samembed")
    return handle


def close() -> None:
    """Drop this process's client (tests that restart the database use it)."""
    global _client, _database
    with _lock:
        if _client is not None:
            _client.close()
        _client = _database = None
