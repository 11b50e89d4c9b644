"""The one MongoClient of this process, created lazily (after gunicorn's fork).

Only `samembed.repositories` calls `database()`. The client speaks the Stable API
v1 in strict mode, so code that works against the embedded SecantusDB keeps
working on MongoDB 7/8. Reads on the embed path use short timeouts so that a slow
or absent database turns into a stale copy quickly instead of a hung worker.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.server_api import ServerApi
from pymongo.uri_parser import parse_uri

_lock = threading.Lock()
_client: MongoClient | None = None
_pid: int | None = None


def client() -> MongoClient:
    global _client, _pid
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
                    socketTimeoutMS=max(timeout, 5000),
                    appname="samembed",
                    tz_aware=True,
                    connect=False,
                )
                _pid = os.getpid()
    return _client


def database() -> Database:
    name = parse_uri(settings.MONGODB_URI).get("database") or "samembed"
    return client()[name]


def close() -> None:
    """Drop this process's client (tests that restart the database use it)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None
