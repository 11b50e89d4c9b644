"""Counters' flushes are written at most once: a write whose answer is lost is not
retried, so the database can never apply it twice (analytics rollups, flags' counts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from django.conf import settings
from pymongo import UpdateOne
from pymongo.errors import PyMongoError

from samembed import mongo
from samembed.embedded_db import EmbeddedDB
from samembed.repositories import flag_counts, stats
from samembed.repositories.common import is_unavailable
from tests.servers import LostReplyProxy

pytestmark = pytest.mark.usefixtures("mongo_db")

HOUR = datetime(2026, 12, 3, 13, tzinfo=UTC)
STORY = ObjectId()


def _rollup_ops() -> list[UpdateOne]:
    return stats.increments({(str(STORY), HOUR, "https://news.example", "grid", ""):
                             [5] + [0] * (len(stats.PAGE_EVENTS) - 1)}, {})


def _rollup_loads() -> int:
    return sum(d["n"].get("load", 0) for d in mongo.database()[stats.COLLECTION].find(
        {"story_id": STORY}))


def _flag_ops() -> list[UpdateOne]:
    return flag_counts.increments({("hero", "on"): {"exposure": 5}}, HOUR)


def _flag_exposures() -> int:
    return sum(d["n"].get("exposure", 0)
               for d in mongo.database()[flag_counts.COLLECTION].find({"key": "hero"}))


@pytest.fixture(params=["rollups", "flag_counts"])
def counter(request: pytest.FixtureRequest, embedded_db: EmbeddedDB
            ) -> Iterator[tuple[Callable[[], None], Callable[[], int], LostReplyProxy]]:
    if request.param == "rollups":
        write, read, name = (lambda: stats.apply(_rollup_ops())), _rollup_loads, stats.COLLECTION
    else:
        write, read, name = ((lambda: flag_counts.apply(_flag_ops())), _flag_exposures,
                             flag_counts.COLLECTION)
    proxy = LostReplyProxy(embedded_db.port, name)
    real = settings.MONGODB_URI
    mongo.close()
    settings.MONGODB_URI = proxy.uri
    try:
        yield write, read, proxy
    finally:
        settings.MONGODB_URI = real
        mongo.close()
        proxy.stop()


def test_a_counter_flush_whose_answer_is_lost_is_stored_once_and_reported_as_failed(
    counter: tuple[Callable[[], None], Callable[[], int], LostReplyProxy],
) -> None:
    write, read, proxy = counter

    with pytest.raises(PyMongoError) as failure:
        write()

    # The flush is told it failed (the collector counts its events as dropped)...
    assert proxy.dropped.is_set() and is_unavailable(failure.value)
    # ...and the database holds it once: never retried into a second increment.
    assert read() == 5
    # The next flush goes through as usual.
    write()
    assert read() == 10
