"""Guardrail counts: exposures per variant on the fast path, client error beacons
(forged, oversized, floods) counted within bounds, server errors of a render."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import pytest
from django.core.management import call_command

from samembed import flags, metrics
from samembed.asgi import FastPath
from samembed.embed import guard
from samembed.embed.cache import Entry, ResponseCache
from samembed.flags import Snapshot
from samembed.repositories import audit
from samembed.repositories import flags as repo
from tests.test_fastpath import Downstream, call


@pytest.fixture(autouse=True)
def snapshot() -> Any:
    flags.affects_embed("grid-v2")
    flags.install(Snapshot.build([
        {"key": "grid-v2", "rollout": 10_000, "unit": "origin"},
        {"key": "hero", "rollout": 0},  # not an embed flag: never counted
    ]))
    metrics.fast.clear()
    metrics.app.clear()
    guard.flusher.clear()
    guard._recent.clear()
    yield
    flags.install(flags.EMPTY)
    metrics.fast.clear()
    metrics.app.clear()
    guard.flusher.clear()


def post(app: FastPath, body: bytes, client: str = "203.0.113.7",
         chunks: int = 1) -> int:
    sent: list[dict[str, Any]] = []
    parts = [body[i::chunks] for i in range(chunks)] if chunks > 1 else [body]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
                for i, p in enumerate(parts)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/flags/error", "query_string": b"",
             "headers": [(b"content-type", b"text/plain;charset=UTF-8")],
             "client": (client, 5555)}
    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


def counted(kind: str) -> dict[str, float]:
    return {k: v for k, v in metrics.fast.counts().items()
            if k.startswith(guard.NAME) and f'kind="{kind}"' in k}


def test_a_beacon_counts_the_variants_it_names_and_nothing_reaches_django() -> None:
    django = Downstream()
    app = FastPath(django, ResponseCache(10, 10**6, 60))
    assert post(app, b"grid-v2=on") == 204
    assert post(app, b"grid-v2=off", client="198.51.100.1") == 204
    assert counted("client_error") == {
        'samembed_flag_events_total{flag="grid-v2",kind="client_error",variant="on"}': 1.0,
        'samembed_flag_events_total{flag="grid-v2",kind="client_error",variant="off"}': 1.0}
    assert django.paths == []


def test_forged_beacons_make_no_series_and_oversized_ones_are_refused() -> None:
    app = FastPath(Downstream(), ResponseCache(10, 10**6, 60))
    for i in range(2000):
        assert post(app, f"grid-v2=v{i}&nope{i}=on&hero=on".encode(), client=f"10.0.{i}.1") \
            == 204
    assert counted("client_error") == {}
    assert post(app, b"grid-v2=on&" + b"x" * 600, chunks=3) == 413
    assert counted("client_error") == {}
    status, headers, _ = call(app, "/flags/error")
    assert status == 405 and headers[b"allow"] == b"POST"


def test_a_flood_from_one_address_counts_five_a_second() -> None:
    app = FastPath(Downstream(), ResponseCache(10, 10**6, 60))
    started = time.monotonic()
    for _ in range(10_000):
        post(app, b"grid-v2=on")
    seconds = time.monotonic() - started
    total = sum(counted("client_error").values())
    # Five in each second the flood touched, however many it sent.
    assert guard.BEACON_PER_ADDRESS <= total <= guard.BEACON_PER_ADDRESS * (int(seconds) + 2)
    assert len(guard._recent) == 1


def test_addresses_beyond_the_bound_are_forgotten_not_kept() -> None:
    for i in range(guard.ADDRESSES_MAX * 3):
        guard.allowed(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", now=1.0)
    assert len(guard._recent) <= guard.ADDRESSES_MAX


def test_every_embed_request_counts_an_exposure_of_its_variant() -> None:
    cache = ResponseCache(10, 10**6, 60)
    cache.get("/e/demo?template=grid#grid-v2=on",
              lambda: Entry.build(200, [], b"new grid"))
    app = FastPath(Downstream(), cache)
    for _ in range(3):
        assert call(app, "/e/demo", b"template=grid&o=abc")[2] == b"new grid"
    assert counted("exposure") == {
        'samembed_flag_events_total{flag="grid-v2",kind="exposure",variant="on"}': 3.0}


# ---- the guardrail's decision and its ramp-down ------------------------------------


def test_a_variant_worse_with_confidence_is_judged_worse_and_noise_is_not() -> None:
    assert guard.worse(90, 300, 1, 300)           # 30 % against 0.3 %
    assert not guard.worse(3, 300, 2, 300)        # 1 % against 0.7 %: noise
    assert not guard.worse(30, 100, 0, 100)       # too few exposures to say
    assert not guard.worse(12, 1000, 10, 1000)    # within the margin


def serve(on: int, off: int, errors_on: int, errors_off: int) -> None:
    """Exposures and client errors of grid-v2, as the fast path counts them."""
    for _ in range(on):
        guard.exposed({"grid-v2": "on"})
    for _ in range(off):
        guard.exposed({})
    for _ in range(errors_on):
        guard.report(b"grid-v2=on")
    for _ in range(errors_off):
        guard.report(b"grid-v2=off")


@pytest.mark.usefixtures("mongo_db")
def test_the_guard_ramps_a_broken_variant_back_to_its_last_step_and_says_why() -> None:
    flag = repo.create("grid-v2", "ada", unit="origin", percent="5")
    flag = repo.update(flag, "ada", percent="20")
    flags.refresh()
    # A template that throws for 30 % of its views; the old one almost never.
    serve(on=400, off=1600, errors_on=120, errors_off=2)
    out = io.StringIO()
    call_command("flags", "guard", "--once", stdout=out)
    stored = repo.get("grid-v2")
    assert stored is not None and stored.rollout == 500
    assert "client error rate 30.00% against 0.12% for off" in stored.guard_reason
    assert "guard: grid-v2 back to 5%" in out.getvalue()
    entry = audit.for_flag("grid-v2")[0]
    assert (entry.action, entry.actor) == ("flag.guard", "guardrail")
    assert entry.changes["rollout"] == {"before": 2000, "after": 500}


@pytest.mark.usefixtures("mongo_db")
def test_the_guard_leaves_a_healthy_variant_where_it_is() -> None:
    flag = repo.create("grid-v2", "ada", unit="origin", percent="5")
    repo.update(flag, "ada", percent="20")
    flags.refresh()
    serve(on=400, off=1600, errors_on=2, errors_off=9)
    out = io.StringIO()
    call_command("flags", "guard", "--once", stdout=out)
    stored = repo.get("grid-v2")
    assert stored is not None and stored.rollout == 2000 and stored.guard_reason == ""
    assert out.getvalue() == ""


def test_counts_scraped_from_an_instance_read_as_its_own() -> None:
    serve(on=5, off=7, errors_on=1, errors_off=0)
    text = metrics.exposition([metrics.snapshot()])
    assert guard.totals([guard.parse_exposition(text)])["grid-v2"] == \
        guard.totals([metrics.snapshot()])["grid-v2"]


def test_a_page_view_flag_is_drawn_on_every_hit_and_others_are_remembered() -> None:
    flags.install(Snapshot.build([{"key": "grid-v2", "rollout": 5000, "unit": "pageview"}]))
    drawn = {part for _ in range(200) if (part := guard.hit_part("demo", None))}
    # Each draw names the exposure of the variant it drew.
    assert all(('variant="on"' in series[0]) == bool(suffix) for suffix, series in drawn)
    assert {suffix for suffix, _ in drawn} == {"", "#grid-v2=on"}
    assert flags.installed().memo == {}
    flags.install(Snapshot.build([{"key": "grid-v2", "rollout": 5000, "unit": "origin"}]))
    first = guard.hit_part("demo", "abc")
    assert flags.installed().memo[("demo", "abc")] == first


def exposures() -> dict[str, float]:
    """Exposure counts of both registries: the fast path's and Django's."""
    found: dict[str, float] = {}
    for registry in (metrics.fast, metrics.app):
        for name, value in registry.counts().items():
            if name.startswith(guard.NAME) and 'kind="exposure"' in name:
                found[name] = found.get(name, 0.0) + value
    return found


@pytest.mark.django_db
@pytest.mark.usefixtures("mongo_db")
def test_each_embed_request_counts_one_exposure_whoever_answers_it() -> None:
    from samembed.asgi import application
    from samembed.embed.cache import response_cache
    from tests.factories import make_story

    make_story("demo", posts=2)
    repo.create("grid-v2", "ada", unit="origin", percent="100")
    flags.refresh()
    on = 'samembed_flag_events_total{flag="grid-v2",kind="exposure",variant="on"}'
    # A miss (Django renders), a hit (the fast path answers), the same again (the
    # answer the fast path remembered), a URL the fast path leaves to Django (an
    # extra parameter it does not know): four requests, four.
    for query, answered_by in ((b"template=grid&o=abc", "django"),
                               (b"template=grid&o=abc", "fast"),
                               (b"template=grid&o=abc", "fast"),
                               (b"o=abc&template=grid", "django")):
        before = (metrics.fast.counts().get(on, 0.0), metrics.app.counts().get(on, 0.0))
        status, _, body = call(application, "/e/demo", query)
        assert status == 200 and b'data-template-version="2"' in body, (query, status)
        after = (metrics.fast.counts().get(on, 0.0), metrics.app.counts().get(on, 0.0))
        assert [b - a for a, b in zip(before, after, strict=True)] == (
            [1.0, 0.0] if answered_by == "fast" else [0.0, 1.0]), query
    assert exposures() == {on: 4.0}
    assert any(k.endswith("#grid-v2=on") for k in response_cache()._entries)


def test_the_flusher_writes_the_sum_of_the_fast_paths_and_djangos_exposures() -> None:
    guard.exposed({"grid-v2": "on"})
    guard.exposed({"grid-v2": "on"}, metrics.app)
    guard.exposed({"grid-v2": "on"}, metrics.app)
    assert guard.flusher.pending() == {("grid-v2", "on"): {"exposure": 3.0}}
