"""The response cache: expiry, single flight, stale-if-error, bounds, ETags, codings."""

from __future__ import annotations

import gzip
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import brotli
import pytest

from samembed.embed.cache import (
    HANDOFF_GRACE,
    Breaker,
    Entry,
    ResponseCache,
    preferred_encoding,
)
from samembed.embed.snapshots import SnapshotStore
from samembed.exceptions import DatabaseUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def page(body: bytes = b"<p>" + b"x" * 2000 + b"</p>") -> Entry:
    return Entry.build(200, [(b"content-type", b"text/html")], body)


def counting(calls: list[int], body: bytes = b"x" * 600) -> Callable[[], Entry]:
    def render() -> Entry:
        calls.append(1)
        return page(body)

    return render


def test_it_serves_a_fresh_entry_without_rendering_again() -> None:
    clock = Clock()
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=100, clock=clock)
    renders: list[int] = []
    cache.get("k", counting(renders))
    clock.now += 9.9
    cache.get("k", counting(renders))
    assert renders == [1]
    assert cache.peek("k") is not None


def test_it_renders_again_after_the_ttl() -> None:
    clock = Clock()
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=100, clock=clock,
                          revalidate_wait=5)
    cache.get("k", lambda: page(b"old" * 300))
    clock.now += 10
    assert cache.peek("k") is None
    assert cache.get("k", lambda: page(b"new" * 300)).body == b"new" * 300


def test_an_expired_entry_sends_one_request_on_and_serves_its_copy_to_the_rest() -> None:
    clock = Clock()
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=100, clock=clock)
    old = cache.get("k", lambda: page(b"old" * 300))
    clock.now += 10
    # The first request after the expiry goes on to render; those that arrive
    # before its render has started keep getting the copy, not a trip of their own.
    assert cache.peek("k") is None
    clock.now += 0.05
    assert [cache.peek("k") for _ in range(100)] == [old] * 100
    # A request sent on that never started a render: after the grace, another goes.
    clock.now += HANDOFF_GRACE
    assert cache.peek("k") is None
    assert cache.peek("k") is old
    # An edit expires it anew: the next request renders, whatever went on before.
    cache.invalidate(lambda e: True)
    assert cache.peek("k") is None
    assert cache.get("k", lambda: page(b"new" * 300)).body == b"new" * 300
    assert cache.peek("k") is not None and cache.peek("k") is not old


def test_concurrent_misses_of_one_key_render_once() -> None:
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=100)
    calls: list[int] = []
    gate = threading.Event()

    def render() -> Entry:
        calls.append(1)
        gate.wait(2)
        return page()

    results: list[Entry] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", render)))
               for _ in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(calls) == 1
    assert len(results) == 20 and len({id(r) for r in results}) == 1


def test_it_serves_the_last_good_copy_marked_stale_while_the_database_fails() -> None:
    clock = Clock()
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600, clock=clock,
                          revalidate_wait=5)
    cache.get("k", lambda: page(b"good" * 300))
    clock.now += 11

    def failing() -> Entry:
        raise DatabaseUnavailable("down")

    entry = cache.get("k", failing)
    assert entry.body == b"good" * 300 and entry.stale
    status, headers, _ = entry.respond(b"", None, False)
    assert (b"x-samembed-cache", b"stale") in headers and status == 200
    # Once the database is back, the next request revalidates (in the background:
    # this key's last render failed, so it does not wait) and the fresh copy follows.
    assert cache.get("k", lambda: page(b"back" * 300)) is entry
    assert cache.wait("k", 5)
    fresh = cache.peek("k")
    assert fresh is not None and fresh.body == b"back" * 300 and not fresh.stale


def test_a_reader_with_a_copy_never_waits_for_a_failing_database() -> None:
    cache = ResponseCache(ttl=0.01, max_bytes=10**6, stale_if_error=3600)
    cache.get("k", lambda: page(b"good" * 300))
    time.sleep(0.02)  # past the TTL (the real clock: the revalidation runs in a thread)
    calls: list[int] = []
    release = threading.Event()

    def hanging() -> Entry:
        # A database that does not answer: the read deadline, then the error.
        calls.append(1)
        release.wait(5)
        raise DatabaseUnavailable("timed out")

    try:
        for _ in range(20):
            started = time.monotonic()
            entry = cache.get("k", hanging)
            assert time.monotonic() - started < 1.0
            assert entry.body == b"good" * 300
        assert calls == [1]  # one revalidation per key, however many readers
    finally:
        release.set()
    assert cache.wait("k", 5)
    again = cache.get("k", hanging)  # its last render failed: no waiting at all
    assert again.stale and again.body == b"good" * 300


def test_the_breaker_stops_asking_a_failing_database_and_probes_after_its_back_off() -> None:
    clock = Clock()
    breaker = Breaker(failures=3, backoff=1.0, clock=clock)
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600, clock=clock,
                          breaker=breaker)
    for key in ("a", "b", "c", "d"):
        cache.get(key, lambda: page(b"good" * 300))
    clock.now += 11
    calls: list[str] = []

    def failing() -> Entry:
        calls.append("render")
        raise DatabaseUnavailable("down")

    for key in ("a", "b", "c"):
        cache.get(key, failing)
        assert cache.wait(key, 5)
    assert calls == ["render"] * 3 and breaker.state == "open"
    # Open: copies are served as they are, misses fail at once, nothing is asked.
    assert cache.get("d", failing).stale
    peeked = cache.peek("d")
    assert peeked is not None and peeked.stale
    with pytest.raises(DatabaseUnavailable):
        cache.get("never-seen", failing)
    assert calls == ["render"] * 3
    # After the back-off, one probe; while it runs nobody else asks.
    clock.now += 1.0
    assert breaker.state == "half-open"
    probing, release = threading.Event(), threading.Event()

    def probe() -> Entry:
        calls.append("probe")
        probing.set()
        release.wait(5)
        return page(b"back" * 300)

    cache.get("a", probe)
    assert probing.wait(5)
    cache.get("b", failing)
    with pytest.raises(DatabaseUnavailable):
        cache.get("never-seen", failing)
    release.set()
    assert cache.wait("a", 5)
    assert calls == ["render"] * 3 + ["probe"] and breaker.state == "closed"
    assert cache.get("never-seen", lambda: page(b"new" * 300)).body == b"new" * 300


def test_a_reader_with_no_copy_does_not_wait_on_the_breakers_probe() -> None:
    breaker = Breaker(failures=1, backoff=0.0)
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600, breaker=breaker,
                          revalidate_wait=0.05)
    breaker.failure()  # open, and its back-off already over: the next render probes
    release = threading.Event()

    def hanging() -> Entry:
        release.wait(5)
        raise DatabaseUnavailable("timed out")

    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            cache.get("k", hanging)
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
    assert cache.wait("k", 5) and breaker.state == "half-open"


def test_a_render_that_spans_an_invalidation_is_not_stored_as_fresh() -> None:
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600)
    rendering, release = threading.Event(), threading.Event()

    def slow_read_of_the_old_version() -> Entry:
        rendering.set()
        release.wait(5)
        return page(b"old" * 300)

    reader = threading.Thread(target=cache.get, args=("k", slow_read_of_the_old_version))
    reader.start()
    assert rendering.wait(5)
    # The version watch sees the edit while the render is still running.
    cache.invalidate(lambda entry: True)
    release.set()
    reader.join(5)
    assert cache.peek("k") is None  # not served as fresh for a whole TTL
    assert cache.get("k", lambda: page(b"new" * 300)).body == b"new" * 300


def test_a_new_worker_serves_the_copy_another_worker_saved(tmp_path: Path) -> None:
    first = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600,
                          snapshots=SnapshotStore(tmp_path), revalidate_wait=5)
    published = Entry.build(200, [(b"content-type", b"text/html")], b"story" * 300,
                            story_id="s1", version=3)
    first.get("/e/demo", lambda: published)
    first.get("/e/demo?limit=5", lambda: Entry.build(200, [], b"page", story_id="s1"))
    first.get("/e/gone", lambda: Entry.build(404, [], b"not found"))

    def failing() -> Entry:
        raise DatabaseUnavailable("down")

    fresh = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600,
                          snapshots=SnapshotStore(tmp_path))
    copy = fresh.get("/e/demo", failing)
    assert copy.stale and copy.body == published.body and copy.etag == published.etag
    assert (copy.status, copy.headers, copy.story_id, copy.version) == (
        200, published.headers, "s1", 3)
    for key in ("/e/demo?limit=5", "/e/gone"):  # only published first pages are kept
        with pytest.raises(DatabaseUnavailable):
            fresh.get(key, failing)
    # Unpublished: the next render of that key removes its copy.
    first.invalidate(lambda entry: True)
    first.get("/e/demo", lambda: Entry.build(404, [], b"not found"))
    with pytest.raises(DatabaseUnavailable):
        ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600,
                      snapshots=SnapshotStore(tmp_path)).get("/e/demo", failing)


def test_it_gives_up_the_stale_copy_after_the_stale_window() -> None:
    clock = Clock()
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60, clock=clock)
    cache.get("k", page)
    clock.now += 61

    def failing() -> Entry:
        raise DatabaseUnavailable("down")

    with pytest.raises(DatabaseUnavailable):
        cache.get("k", failing)


def test_it_raises_when_nothing_is_cached_and_the_database_fails() -> None:
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60)

    def failing() -> Entry:
        raise DatabaseUnavailable("down")

    with pytest.raises(DatabaseUnavailable):
        cache.get("k", failing)
    assert len(cache) == 0


def test_it_drops_least_recently_used_entries_beyond_its_byte_bound() -> None:
    cache = ResponseCache(ttl=10, max_bytes=20_000, stale_if_error=60)
    for n in range(30):
        cache.get(f"k{n}", counting([], bytes([65 + n % 26]) * 3000))
        cache.peek("k0")  # keep k0 in use
    assert cache.nbytes <= 20_000
    assert cache.peek("k0") is not None
    assert cache.peek("k1") is None
    assert cache.peek("k29") is not None


def test_an_invalidation_expires_every_match_while_hits_move_entries_meanwhile() -> None:
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=60)
    for n in range(20):
        cache.get(f"/e/s{n}", counting([]))

    def outdated(entry: Entry) -> bool:
        # What the fast path does on another thread between two of these calls.
        cache.peek("/e/s0")
        cache.peek("/e/s19")
        return True

    assert cache.invalidate(outdated) == 20
    assert [cache.peek(f"/e/s{n}") for n in range(20)] == [None] * 20


def test_a_remembered_answer_never_outlives_its_entry_whichever_entry_had_it_before() -> None:
    # One request's answer moves between entries when a flag changes its key; the
    # entry it moves to may later be dropped while fresh, and its key rendered anew.
    cache = ResponseCache(ttl=10, max_bytes=5_000, stale_if_error=60)  # two entries
    request = ("/e/demo", b"", b"host", b"br", "http")
    other = cache.get("/e/demo#flag=on", counting([], b"o" * 1_000))
    cache.remember(request, "/e/demo#flag=on", other, "from the flagged entry")
    first = cache.get("/e/demo", counting([], b"a" * 1_000))
    cache.remember(request, "/e/demo", first, "from the first render")
    assert cache.recall(request) == "from the first render"

    cache.get("/e/filler", counting([], b"f" * 1_000))
    cache.get("/e/filler2", counting([], b"g" * 1_000))  # drops both entries above
    assert cache.peek("/e/demo") is None
    cache.get("/e/demo", counting([], b"b" * 1_000))  # rendered anew

    assert cache.recall(request) is None
    assert cache.remembered() == 0


def test_ttl_zero_renders_every_time() -> None:
    cache = ResponseCache(ttl=0, max_bytes=10**6, stale_if_error=60)
    calls: list[int] = []
    for _ in range(3):
        cache.get("k", counting(calls))
    assert len(calls) == 3 and len(cache) == 0


def test_it_compresses_once_and_serves_by_accept_encoding() -> None:
    entry = page()
    _, headers, body = entry.respond(b"gzip, deflate, br", None, False)
    assert dict(headers)[b"content-encoding"] == b"br"
    assert brotli.decompress(body) == entry.body
    _, headers, body = entry.respond(b"gzip", None, False)
    assert dict(headers)[b"content-encoding"] == b"gzip" and gzip.decompress(body) == entry.body
    _, headers, body = entry.respond(b"", None, False)
    assert b"content-encoding" not in dict(headers) and body == entry.body
    assert dict(headers)[b"vary"] == b"Accept-Encoding"
    assert dict(headers)[b"content-length"] == str(len(entry.body)).encode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [(b"br;q=0, gzip", "gzip"), (b"*", "br"), (b"identity", ""), (b"gzip;q=0", ""),
     (b"gzip;q=bogus, br;q=0.5", "br"), (b"\xff\xfe garbage", "")],
)
def test_it_honours_accept_encoding_preferences(header: bytes, expected: str) -> None:
    assert preferred_encoding(header) == expected


def test_it_answers_304_to_a_matching_etag_of_any_coding() -> None:
    entry = page()
    _, headers, _ = entry.respond(b"gzip", None, False)
    gz_tag = dict(headers)[b"etag"]
    assert gz_tag.endswith(b'-gz"')
    tag = entry.etag or b""
    for sent in (tag, gz_tag, b"W/" + tag, b'"other", ' + tag, b"*"):
        status, headers, body = entry.respond(b"br", sent, False)
        assert status == 304 and body == b"" and b"content-type" not in dict(headers)


@pytest.mark.parametrize("garbage", [b'"nope"', b"garbage", b'""', b",,,", b"\xff" * 100])
def test_it_serves_the_body_when_if_none_match_does_not_match(garbage: bytes) -> None:
    entry = page()
    status, _, body = entry.respond(b"", garbage, False)
    assert status == 200 and body == entry.body


def test_head_gets_headers_and_no_body() -> None:
    entry = page()
    status, headers, body = entry.respond(b"", None, True)
    assert status == 200 and body == b""
    assert dict(headers)[b"content-length"] == str(len(entry.body)).encode()


def test_an_expired_entry_is_served_from_memory_while_its_replacement_renders() -> None:
    clock = Clock()
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600, clock=clock)
    cache.get("k", lambda: page(b"old" * 300))
    clock.now += 11
    assert cache.peek("k") is None  # nobody is rendering: the caller must
    rendering, release = threading.Event(), threading.Event()

    def slow() -> Entry:
        rendering.set()
        release.wait(5)
        return page(b"new" * 300)

    leader = threading.Thread(target=cache.get, args=("k", slow))
    leader.start()
    rendering.wait(5)
    during = cache.peek("k")
    assert during is not None and during.body == b"old" * 300
    assert cache.get("k", slow).body == b"old" * 300  # no second render, no queueing
    release.set()
    leader.join(5)
    assert cache.wait("k", 5)
    fresh = cache.peek("k")
    assert fresh is not None and fresh.body == b"new" * 300


def test_codings_are_made_once_on_first_demand() -> None:
    entry = page()
    assert entry.encoded == {}
    first = entry.respond(b"br", None, False)[2]
    assert set(entry.encoded) == {"br"}
    assert entry.respond(b"br", None, False)[2] is first


def test_the_snapshot_directory_keeps_to_its_byte_bound(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, max_bytes=10_000)
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600, snapshots=store)
    def published(body: bytes) -> Callable[[], Entry]:
        return lambda: Entry.build(200, [], body, story_id="s", version=1)

    for n in range(12):  # about 1.5 KB each: more than the bound holds
        cache.get(f"/e/story-{n}", published(bytes([65 + n]) * 1500))
        os.utime(store._path(f"/e/story-{n}"), (1000 + n, 1000 + n))  # rendered in order
    abandoned = tmp_path / ".tmp-crashed"
    abandoned.write_bytes(b"half a file")
    os.utime(abandoned, (1000, 1000))
    store.sweep()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 9_000  # under the bound
    assert ".tmp-crashed" not in kept
    # The least recently rendered went first; the newest are still there.
    assert not store._path("/e/story-0").exists()
    assert store._path("/e/story-11").exists() and store._path("/e/story-10").exists()
    # A copy another worker's sweep removed is written again on its next render.
    cache.invalidate(lambda entry: True)
    cache.get("/e/story-0", lambda: Entry.build(200, [], b"A" * 1500, story_id="s0", version=1))
    assert store.load("/e/story-0") is not None


def test_the_snapshot_directory_knows_each_storys_id_by_its_slug(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    cache = ResponseCache(ttl=10, max_bytes=10**6, stale_if_error=3600, snapshots=store)
    sid = "65f0c0ffee0000000000beef"
    # Whatever variant the key holds, the slug is the story's.
    cache.get("/e/harbour?template=grid#img-xlarge=on",
              lambda: Entry.build(200, [], b"x" * 600, story_id=sid, version=1))
    assert SnapshotStore(tmp_path).story_id("harbour") == sid  # another worker's view
    assert store.story_id("tide") is None
    # Ids of slugs no copy has been saved under for a month go with a sweep.
    (path,) = tmp_path.glob("*.id")
    os.utime(path, (1000, 1000))
    store.sweep()
    assert store.story_id("harbour") is None
