"""Helpers shared by the repository modules."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pymongo
from bson import ObjectId
from django.conf import settings
from dns.exception import DNSException
from pymongo import WriteConcern
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import ConfigurationError, ConnectionFailure, ExecutionTimeout, PyMongoError

from samembed.exceptions import DatabaseUnavailable
from samembed.mongo import at_most_once, client, database

# Document ids, for code outside this package that passes them around.
Id = ObjectId

# Editorial writes must survive a crash of the database server.
DURABLE = WriteConcern("majority", j=True)


T = TypeVar("T")

# The transaction the repository calls of this context join (see `atomically`).
_session: contextvars.ContextVar[ClientSession | None] = contextvars.ContextVar(
    "samembed_mongo_session", default=None)
# A transaction that lost a write conflict to another one is run again whole; a
# database that keeps refusing is the caller's error, not a loop.
TRANSACTION_ATTEMPTS = 5


def session() -> ClientSession | None:
    """The session of the transaction in progress here (pass it to every operation)."""
    return _session.get()


class _Nothing(Exception):
    """Leaves a transaction whose work wrote nothing, carrying the work's result."""

    def __init__(self, result: object) -> None:
        super().__init__()
        self.result = result


def atomically(work: Callable[[], T]) -> T:
    """Run `work` in one multi-document transaction: every repository write it makes
    (the change and its audit record) is committed together or not at all. A falsy
    result (a lost compare-and-set, a duplicate refused) aborts it: an error the work
    caught has already doomed the transaction on the server, so it is never committed.

    SecantusDB is a single-node replica set and MongoDB 7/8 runs as a replica set,
    so both support transactions. `work` may run more than once (a transient write
    conflict aborts and retries it), so it must do nothing but repository calls.
    Nested calls join the outer transaction.

        saved = atomically(lambda: posts.update(post, c) and audit.record(...))
    """
    if _session.get() is not None:
        return work()
    for attempt in range(TRANSACTION_ATTEMPTS):
        with client().start_session() as s:
            token = _session.set(s)
            try:
                with s.start_transaction(write_concern=DURABLE):
                    result = work()
                    if not result:
                        raise _Nothing(result)
                    return result
            except _Nothing as nothing:
                return nothing.result  # type: ignore[return-value]
            except PyMongoError as e:
                transient = e.has_error_label("TransientTransactionError")
                if not transient or is_unavailable(e) or attempt == TRANSACTION_ATTEMPTS - 1:
                    raise
            finally:
                _session.reset(token)
    raise AssertionError("unreachable")  # pragma: no cover


def collection(name: str, durable: bool = False, once: bool = False) -> Collection:
    """A collection of the database; `once`: through the client that never retries a
    write (`$inc` counters, which a retry applied twice would inflate)."""
    coll = (at_most_once() if once else database())[name]
    return coll.with_options(write_concern=DURABLE) if durable else coll


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached in time (transient):
    for callers outside this package, which never see pymongo's classes."""
    if isinstance(error, DatabaseUnavailable | ConnectionFailure) or _dns_failed(error):
        return True
    # ServerSelectionTimeoutError, NetworkTimeout, ExecutionTimeout, a WTimeoutError…
    return isinstance(error, PyMongoError) and error.timeout


def _dns_failed(error: BaseException) -> bool:
    # A `mongodb+srv://` URI is resolved on first use; pymongo reports a failed lookup
    # as a configuration error, but the name server may answer a moment later.
    return isinstance(error, ConfigurationError) and isinstance(error.__cause__, DNSException)


@contextmanager
def reading() -> Iterator[None]:
    """A read on the embed path: short deadline, failures as DatabaseUnavailable."""
    try:
        with pymongo.timeout(settings.MONGODB_READ_TIMEOUT_MS / 1000):
            yield
    except (ConnectionFailure, ExecutionTimeout) as e:
        raise DatabaseUnavailable(str(e)) from e
    except ConfigurationError as e:
        if not _dns_failed(e):
            raise
        raise DatabaseUnavailable(f"the database's name did not resolve: {e}") from e
