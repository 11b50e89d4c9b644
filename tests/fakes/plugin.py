"""pytest fixtures for the fake upstreams, registered in tests/conftest.py's `pytest_plugins`.

Each fixture starts its fake on 127.0.0.1, pins the fake's host names to it with
`OUTBOUND_RESOLVE` (so sources fetch `http://mastodon.test/...` through the real
outbound client, guard and limits included), and on teardown stops the server
and drops the pooled client that knew the pins.

    def test_it_reads_a_hashtag(fake_mastodon):
        fake_mastodon.post("<p>hi</p>", tags=["tea"])
        batch = SOURCE.fetch({"instance": fake_mastodon.base, ...}, {}, [])
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import pytest
from django.conf import settings

from samembed import outbound
from tests.fakes.base import FakeServer
from tests.fakes.bluesky import FakeBluesky
from tests.fakes.feeds import FakeFeeds
from tests.fakes.mastodon import FakeMastodon

F = TypeVar("F", bound=FakeServer)


def _serve(fake: F, hosts: list[str]) -> Iterator[F]:
    before = settings.OUTBOUND_RESOLVE
    settings.OUTBOUND_RESOLVE = {**before,
                                 **{(host, 80): ("127.0.0.1", fake.port) for host in hosts}}
    outbound.reset()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
        settings.OUTBOUND_RESOLVE = before
        outbound.reset()


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    """A Mastodon instance at http://mastodon.test with the account @ada."""
    fake = FakeMastodon()
    yield from _serve(fake, [fake.host])


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    """Bluesky's AppView at http://appview.bsky.test and a PDS at http://pds.bsky.test."""
    fake = FakeBluesky()
    yield from _serve(fake, [fake.appview_host, fake.pds_host])


@pytest.fixture
def fake_feeds() -> Iterator[FakeFeeds]:
    """A web server for feeds at http://feeds.test (and http://other.feeds.test)."""
    fake = FakeFeeds()
    yield from _serve(fake, [fake.host, fake.other_host])
