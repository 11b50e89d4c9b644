"""The event endpoint (`POST /api/v1/events`): what it counts, refuses and writes.

Beacons go through the ASGI application as the fast path hands them over: it
answers what needs no parsing and queues the rest; each test's counter drains
and flushes when the test says so (as its thread would), into the real database.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from samembed import flags, metrics
from samembed.analytics import collect, tokens
from samembed.analytics.collect import Counter, Endpoint
from samembed.asgi import application
from samembed.embed import guard
from samembed.flags import Snapshot
from samembed.mongo import database
from samembed.repositories import salts as salts_repo
from samembed.repositories.stories import Story
from tests.factories import make_story

pytestmark = pytest.mark.usefixtures("mongo_db")

READER = b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"


def post(app: Any, body: bytes, address: str = "203.0.113.7", agent: bytes = READER,
         content_type: bytes = b"text/plain;charset=UTF-8", method: str = "POST",
         path: str = collect.PATH) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)] or [b""]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", content_type), (b"user-agent", agent)]
    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": headers, "client": (address, 50000)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def beacon(story: Story, events: list[list[Any]], view: str = "pv-0123456789abcdef",
           origin: str = "https://news.example", sent: int = 9000,
           token: str | None = None, **extra: Any) -> bytes:
    sid = str(story.id)
    return json.dumps({"k": token or tokens.sign(sid), "s": sid, "p": view, "o": origin,
                       "t": "grid", "n": sent, "e": events, **extra}).encode()


def first_post(story: Story) -> str:
    doc = database()["posts"].find_one({"story_id": story.id})
    assert doc is not None
    return str(doc["_id"])


def rollups(story: Story) -> list[dict[str, Any]]:
    return list(database()["stats_hourly"].find({"story_id": story.id}).sort("_id"))


def page_totals(story: Story) -> dict[str, int]:
    totals: dict[str, int] = {}
    for doc in rollups(story):
        if doc["kind"] == "page":
            for name, n in doc["n"].items():
                totals[name] = totals.get(name, 0) + n
    return totals


@pytest.fixture
def endpoint() -> Endpoint:
    counter = Counter()
    counter.refresh_salts()
    return Endpoint(counter, start=False)


def test_a_beacon_is_counted_into_hourly_rollups(endpoint: Endpoint) -> None:
    story = make_story("harbour", posts=2)
    post_id = first_post(story)
    status, body = post(endpoint, beacon(story, [
        ["load", None, 40], ["view", None, 1300], ["post_view", post_id, 2100],
        ["click", post_id, 4000], ["more", None, 5000], ["reveal", post_id, 6000]]))
    assert (status, body) == (204, b"")
    assert rollups(story) == []  # nothing written before the flush
    assert endpoint.counter.flush() == 6

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    page, post_doc = rollups(story)
    assert page["kind"] == "page" and page["origin"] == "https://news.example"
    assert page["template"] == "grid" and page["variant"] == ""
    assert page["hour"].astimezone(UTC) == hour
    assert page["n"] == {"load": 1, "view": 1, "click": 1, "more": 1, "reveal": 1}
    assert post_doc["kind"] == "post" and str(post_doc["post_id"]) == post_id
    assert post_doc["n"] == {"post_view": 1, "click": 1, "reveal": 1}
    # Nothing about the reader: no address, agent or hash in any document.
    stored = json.dumps([page, post_doc], default=str)
    assert "203.0.113.7" not in stored and "Mozilla" not in stored


def test_the_fast_path_hands_beacons_to_the_endpoint() -> None:
    story = make_story("harbour")
    status, body = post(application, beacon(story, [["load", None, 1]]))
    assert (status, body) == (204, b"")
    status, body = post(application, b"", method="GET")
    assert status == 405 and b"POST" in body


def _huge(story: Story) -> bytes:
    return beacon(story, [["load", None, 1]], pad="x" * (1024 * 1024))


def refusals() -> dict[str, float]:
    """Refused beacons by reason, over the registries of every thread."""
    found: dict[str, float] = {}
    for registry in (metrics.fast, metrics.app, metrics.threads):
        for key, n in registry.counters.items():
            if key.startswith("samembed_beacons_total{") and 'result="refused"' in key:
                reason = key.split('reason="', 1)[1].split('"', 1)[0]
                found[reason] = found.get(reason, 0) + n
    return found


@pytest.mark.parametrize(("make", "status", "message"), [
    (lambda s, o: b"", 400, b"empty"),
    (lambda s, o: b" \n", 400, b"empty"),
    (lambda s, o: _huge(s), 413, b"at most"),
])
def test_beacons_bad_before_parsing_are_refused_at_once_with_a_reason(
    endpoint: Endpoint, make: Any, status: int, message: bytes
) -> None:
    story, other = make_story("harbour"), make_story("other")
    got, body = post(endpoint, make(story, other))
    assert got == status and message in body, body
    assert len(endpoint.counter.queue) == 0  # nothing queued for the flush thread
    endpoint.counter.flush()
    assert rollups(story) == [] and rollups(other) == []


@pytest.mark.parametrize(("make", "reason"), [
    (lambda s, o: b"{not json", "not-json"),
    (lambda s, o: b"[1, 2]", "not-json"),
    (lambda s, o: beacon(s, [["hover", None, 1]]), "event-type"),
    # A story id from another story's frame: its token names that story.
    (lambda s, o: beacon(s, [["load", None, 1]], token=tokens.sign(str(o.id))), "story"),
    (lambda s, o: beacon(s, [["load", None, 1]], token="x.y.z"), "token"),
    # Timestamps in the future: an event after the beacon's own send time, or a
    # send time beyond what a page view can last.
    (lambda s, o: beacon(s, [["view", None, 99_000]], sent=9000), "future"),
    (lambda s, o: beacon(s, [["view", None, 1]], sent=collect.MAX_AGE_MS + 1), "time"),
    (lambda s, o: beacon(s, [["click", "not-an-id", 1]]), "post"),
    (lambda s, o: beacon(s, [["load", None, 1]], view="short"), "page-view"),
    (lambda s, o: beacon(s, []), "events"),
    (lambda s, o: beacon(s, [["load", None, 1]], x="grid-v2=on" * 100), "flags"),
])
def test_bad_beacons_are_refused_by_the_flush_thread_by_reason_and_count_nothing(
    endpoint: Endpoint, make: Any, reason: str
) -> None:
    story, other = make_story("harbour"), make_story("other")
    before = refusals().get(reason, 0)
    # Answered like any queued beacon: sendBeacon reads no answer, a forger learns nothing.
    assert post(endpoint, make(story, other)) == (204, b"")
    endpoint.counter.flush()
    assert rollups(story) == [] and rollups(other) == []
    assert refusals().get(reason, 0) == before + 1


def test_only_text_plain_is_accepted(endpoint: Endpoint) -> None:
    story = make_story("harbour")
    status, body = post(endpoint, beacon(story, [["load", None, 1]]),
                        content_type=b"application/json")
    assert status == 415 and b"text/plain" in body


def test_a_post_of_another_story_is_not_counted(endpoint: Endpoint) -> None:
    story, other = make_story("harbour", posts=1), make_story("other", posts=1)
    theirs = first_post(other)
    mine = first_post(story)
    before = refusals().get("post", 0)
    assert post(endpoint, beacon(story, [["click", theirs, 5], ["click", mine, 6]]))[0] == 204
    endpoint.counter.flush()
    posts = [d for d in rollups(story) if d["kind"] == "post"]
    assert [str(d["post_id"]) for d in posts] == [mine]
    assert page_totals(story) == {"click": 1}
    assert refusals()["post"] == before + 1
    # Remembered: the next beacon naming it is refused without asking the database.
    assert endpoint.counter.known_posts[(str(story.id), theirs)] is False


def test_a_replayed_beacon_counts_once(endpoint: Endpoint) -> None:
    story = make_story("harbour", posts=1)
    post_id = first_post(story)
    once = beacon(story, [["load", None, 1], ["view", None, 1100], ["click", post_id, 2000],
                          ["more", None, 2500]])
    for _ in range(5):
        assert post(endpoint, once)[0] == 204
    endpoint.counter.flush()
    for _ in range(5):  # and across flushes
        assert post(endpoint, once)[0] == 204
    endpoint.counter.flush()
    assert page_totals(story) == {"load": 1, "view": 1, "click": 1, "more": 1}
    # "more" is the one event a page view repeats: up to MORE_PER_VIEW pages of it.
    many = beacon(story, [["more", None, i] for i in range(50)], view="pv-other-page-view-01")
    post(endpoint, many)
    endpoint.counter.flush()
    assert page_totals(story)["more"] == 1 + collect.MORE_PER_VIEW


def test_one_address_is_limited_to_its_rate(endpoint: Endpoint,
                                            settings: Any) -> None:
    settings.ANALYTICS_RATE, settings.ANALYTICS_BURST = 0.01, 5
    story = make_story("harbour")
    answers = [post(endpoint, beacon(story, [["load", None, 1]], view=f"pv-rate-{i:012d}"))[0]
               for i in range(8)]
    assert answers == [204] * 5 + [429] * 3
    assert post(endpoint, beacon(story, [["load", None, 1]], view="pv-rate-other-addr"),
                address="198.51.100.1")[0] == 204
    endpoint.counter.flush()
    assert page_totals(story) == {"load": 6}


@pytest.mark.parametrize("agent", [
    b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    b"facebookexternalhit/1.1", b"Mozilla/5.0 HeadlessChrome/131.0", b"curl/8.5.0", b""])
def test_crawlers_and_scripts_are_ignored(endpoint: Endpoint, agent: bytes) -> None:
    story = make_story("harbour")
    assert post(endpoint, beacon(story, [["load", None, 1]]), agent=agent) == (204, b"")
    endpoint.counter.flush()
    assert rollups(story) == []


def test_crawlers_are_told_apart_however_many_agents_arrive(endpoint: Endpoint) -> None:
    story = make_story("harbour")
    # Ten thousand distinct agents, every tenth a crawler: the answers are remembered
    # per agent, in bounded memory, and stay right once the memory is full.
    for i in range(10_000):
        agent = f"Mozilla/5.0 (X11; Linux) Chrome/{i}".encode()
        if i % 10 == 0:
            agent = f"Mozilla/5.0 (compatible; Examplebot/{i})".encode()
        post(endpoint, beacon(story, [["load", None, 1]], view=f"pv-agents-{i:09d}"),
             agent=agent, address=f"10.1.{i >> 8}.{i & 255}")
    assert len(collect._bot_agents) <= collect.BOT_AGENTS_MAX
    endpoint.counter.flush()
    assert page_totals(story) == {"load": 9000}


def test_a_hundred_thousand_fake_origins_stay_bounded(endpoint: Endpoint,
                                                      settings: Any) -> None:
    settings.ANALYTICS_BURST = 10
    story = make_story("harbour")
    sent = 100_000
    started = time.monotonic()
    # A real site among the fakes: one beacon in twenty, busier than any fake.
    for i in range(sent):
        origin = f"https://fake{i}.example" if i % 20 else "https://news.example"
        address = f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}"
        status, _ = post(endpoint, beacon(story, [["load", None, 1]], view=f"pv-{i:016d}",
                                          origin=origin), address=address)
        assert status == 204
        if i == sent // 2:
            endpoint.counter.flush()
    endpoint.counter.drain()  # what the flush thread does between flushes
    tally = endpoint.counter.tally
    assert len(tally.pages[str(story.id)]) <= collect.ORIGINS_PER_STORY + 1
    assert len(endpoint.counter.limits._buckets) <= collect.ADDRESSES
    endpoint.counter.flush()
    docs = [d for d in rollups(story) if d["kind"] == "page"]
    assert len(docs) <= collect.ORIGINS_PER_HOUR + 1
    assert sum(d["n"]["load"] for d in docs) == sent  # every load is somewhere
    by_origin = {d["origin"]: d["n"]["load"] for d in docs}
    assert by_origin["https://news.example"] == sent // 20
    assert by_origin["other"] > sent // 2
    assert time.monotonic() - started < 120


def test_readers_fold_into_the_days_sketch_and_never_into_a_document(
    endpoint: Endpoint
) -> None:
    story = make_story("harbour")
    for i in range(300):
        post(endpoint, beacon(story, [["view", None, 1100]], view=f"pv-reach-{i:010d}"),
             address=f"192.0.2.{i % 150}", agent=READER + (b" A" if i >= 150 else b" B"))
    # The same readers again, on new page views: not new readers.
    for i in range(300):
        post(endpoint, beacon(story, [["view", None, 1100]], view=f"pv-again-{i:010d}"),
             address=f"192.0.2.{i % 150}", agent=READER + (b" A" if i >= 150 else b" B"))
    endpoint.counter.flush()
    from samembed.analytics.hll import estimate_registers
    (doc,) = database()["stats_reach"].find({"story_id": story.id})
    assert abs(estimate_registers(doc["registers"]) - 300) <= 6
    assert set(doc) == {"_id", "story_id", "day", "registers", "version"}


def test_sketches_of_two_processes_merge_into_their_union() -> None:
    story = make_story("harbour")
    a, b = Endpoint(Counter(), start=False), Endpoint(Counter(), start=False)
    for endpoint in (a, b):
        endpoint.counter.refresh_salts()
    for i in range(2000):  # a sees 0-1199, b sees 800-1999: 2000 in all
        for endpoint, seen in ((a, i < 1200), (b, i >= 800)):
            if seen:
                post(endpoint, beacon(story, [["view", None, 1100]], view=f"pv-m-{i:012d}"),
                     address=f"10.1.{i >> 8}.{i & 255}")
    a.counter.flush()
    b.counter.flush()
    from samembed.analytics.hll import estimate_registers
    (doc,) = database()["stats_reach"].find({"story_id": story.id})
    assert doc["version"] == 2
    assert abs(estimate_registers(doc["registers"]) - 2000) <= 40


def test_a_salt_per_day_is_deleted_after_48_hours() -> None:
    day = datetime(2020, 3, 1, tzinfo=UTC)
    first = salts_repo.salt(day)
    assert salts_repo.salt(day) == first and len(first) == 32
    assert salts_repo.salt(day + timedelta(days=1)) != first
    assert {"2020-03-01", "2020-03-02"} <= set(salts_repo.days())
    salts_repo.purge(day + timedelta(hours=47))
    assert {"2020-03-01", "2020-03-02"} <= set(salts_repo.days())
    salts_repo.purge(day + timedelta(hours=49))
    assert "2020-03-01" not in salts_repo.days() and "2020-03-02" in salts_repo.days()


@pytest.fixture
def flagged() -> Any:
    flags.affects_embed("grid-v2")
    flags.install(Snapshot.build([{"key": "grid-v2", "rollout": 10_000, "unit": "origin"}]))
    guard._recent.clear()
    yield
    flags.install(flags.EMPTY)


def client_errors() -> float:
    series = metrics.series(guard.NAME, flag="grid-v2", variant="on", kind="client_error")
    return metrics.fast.counters.get(series, 0.0)


def test_a_script_error_rides_in_the_page_views_one_beacon_and_counts_once(
    endpoint: Endpoint, flagged: None
) -> None:
    story = make_story("harbour")
    before = client_errors()
    one = beacon(story, [["load", None, 1], ["view", None, 1200]], x="grid-v2=on")
    assert post(endpoint, one) == (204, b"")
    assert post(endpoint, one) == (204, b"")  # replayed: the same page view
    # Alone, after the page view's events went out: still that view's one report.
    assert post(endpoint, beacon(story, [], x="grid-v2=on")) == (204, b"")
    endpoint.counter.flush()
    assert client_errors() == before + 1
    assert page_totals(story) == {"load": 1, "view": 1}
    # Forged variants make no series, as on /flags/error.
    post(endpoint, beacon(story, [["load", None, 1]], view="pv-forged-variant-01",
                          x="grid-v2=v9&nope=on"))
    endpoint.counter.flush()
    assert not [k for k in metrics.fast.counters if "v9" in k or "nope" in k]


def test_a_script_error_is_counted_on_the_event_loop_that_served_the_beacon(
    flagged: None
) -> None:
    # The guard's counters are the loop's alone: the flush thread hands reports back.
    story = make_story("harbour")
    endpoint = Endpoint(Counter(), start=False)
    loop = asyncio.new_event_loop()
    serving = threading.Thread(target=loop.run_forever, daemon=True)
    serving.start()
    busy, release = threading.Event(), threading.Event()
    try:
        before = client_errors()
        body = beacon(story, [["load", None, 1]], x="grid-v2=on")
        status = asyncio.run_coroutine_threadsafe(_call(endpoint, body), loop).result(10)
        assert status == 204

        def occupied() -> None:
            busy.set()
            release.wait(10)

        loop.call_soon_threadsafe(occupied)
        assert busy.wait(10)  # the loop is busy with something else now
        flusher = threading.Thread(target=endpoint.counter.flush)
        flusher.start()
        flusher.join(10)
        assert not flusher.is_alive()
        assert client_errors() == before  # waiting for the loop, not counted by the thread
        release.set()
        deadline = time.monotonic() + 10
        while client_errors() < before + 1:
            assert time.monotonic() < deadline, "the report never reached the loop"
            time.sleep(0.01)
    finally:
        release.set()
        loop.call_soon_threadsafe(loop.stop)
        serving.join(10)
        loop.close()


async def _call(app: Any, body: bytes) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": collect.PATH, "query_string": b"",
               "headers": [(b"content-type", b"text/plain"), (b"user-agent", READER)],
               "client": ("203.0.113.9", 5000)}, receive, send)
    return int(sent[0]["status"])


def test_the_flush_threads_counts_go_to_a_registry_no_count_of_which_is_lost(
    endpoint: Endpoint
) -> None:
    story = make_story("harbour")
    flushed = metrics.series("samembed_events_total", result="flushed")
    before_app = dict(metrics.app.counters)
    before = metrics.threads.counters.get(flushed, 0)
    post(endpoint, beacon(story, [["load", None, 1], ["view", None, 1100]]))
    endpoint.counter.flush()
    assert metrics.threads.counters[flushed] == before + 2
    assert metrics.app.counters == before_app  # Django's thread's registry: not written
    # Several threads writing one series at once, switching as often as they can.
    key = metrics.series("samembed_test_total", run=str(time.monotonic_ns()))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def write() -> None:
            for _ in range(50_000):
                metrics.threads.inc(key)

        writers = [threading.Thread(target=write) for _ in range(4)]
        for w in writers:
            w.start()
        for w in writers:
            w.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert metrics.threads.counters.pop(key) == 200_000


def test_the_queue_of_raw_beacons_stays_bounded(endpoint: Endpoint) -> None:
    story = make_story("harbour")
    padded = beacon(story, [["load", None, 1]], pad="x" * 15_000)
    full = metrics.series("samembed_beacons_total", result="refused", reason="queue-full")
    before = metrics.fast.counters.get(full, 0)
    room = collect.MAX_QUEUED_BYTES // len(padded)
    for i in range(room + 50):
        assert post(endpoint, padded, address=f"10.9.{i >> 8}.{i & 255}")[0] == 204
    counter = endpoint.counter
    assert len(counter.queue) == room
    assert sum(len(b) for b, *_ in counter.queue) <= collect.MAX_QUEUED_BYTES
    assert metrics.fast.counters[full] == before + 50
    counter.drain()  # taken: room again
    assert len(counter.queue) == 0
    assert post(endpoint, padded, address="10.8.0.1")[0] == 204
    assert len(counter.queue) == 1
