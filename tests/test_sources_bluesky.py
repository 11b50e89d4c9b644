"""The Bluesky source against a fake AppView and PDS over real HTTP (no database needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from samembed.ingest.model import SourceError
from samembed.ingest.sources import REGISTRY, bluesky
from samembed.ingest.sources.bluesky import BlueskySource, facets_to_entities
from samembed.repositories.posts import Entity
from tests.fakes.base import Reply
from tests.fakes.bluesky import FakeBluesky

SOURCE = BlueskySource(first_run_pages=2, catch_up_pages=2, page_size=3, deadline=3.0)
TAG = "app.bsky.richtext.facet#tag"
LINK = "app.bsky.richtext.facet#link"
MENTION = "app.bsky.richtext.facet#mention"


@pytest.fixture(autouse=True)
def no_cached_sessions() -> Iterator[None]:
    bluesky._SESSIONS.clear()
    yield
    bluesky._SESSIONS.clear()


def author_settings(fake: FakeBluesky, actor: str = "alice.test") -> dict[str, Any]:
    return SOURCE.clean_settings({"actor": actor, "appview": fake.appview_url,
                                  "pds": fake.pds_url})


def search_settings(fake: FakeBluesky, query: str = "tea") -> dict[str, Any]:
    fake.set_app_password("alice.test", "abcd-efgh-ijkl-mnop")
    return SOURCE.clean_settings({"mode": "search", "query": query, "identifier": "alice.test",
                                  "app_password": "abcd-efgh-ijkl-mnop",
                                  "appview": fake.appview_url, "pds": fake.pds_url})


def ids(batch: Any) -> list[str]:
    return [post.external_id for post in batch.posts]


def test_it_is_registered_with_bluesky_hosts_as_defaults() -> None:
    settings = REGISTRY["bluesky"].clean_settings({"actor": "@Alice.bsky.social"})
    assert settings["actor"] == "alice.bsky.social"
    assert (settings["appview"], settings["pds"]) == \
        ("https://public.api.bsky.app", "https://bsky.social")


def test_it_accepts_dids_and_profile_urls() -> None:
    did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    assert SOURCE.clean_settings({"actor": did})["actor"] == did
    assert SOURCE.clean_settings({"actor": "https://bsky.app/profile/bob.test"})["actor"] == \
        "bob.test"


@pytest.mark.parametrize(("raw", "message"), [
    ({"actor": "not a handle"}, "not a Bluesky handle or DID"),
    ({"mode": "search", "query": "tea"}, "Searching Bluesky needs a Bluesky account"),
    ({"mode": "search", "query": ""}, "Enter the words"),
    ({"actor": "a.test", "identifier": "a.test"}, "both the account"),
    ({"mode": "everything"}, "Choose author"),
])
def test_it_refuses_bad_settings_with_a_readable_message(raw: dict[str, str],
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SOURCE.clean_settings(raw)


def test_facets_byte_offsets_become_code_point_offsets() -> None:
    text = "Café ☕ #tea with @bob.test see example.com/x 👩‍👩‍👧"
    raw = text.encode()

    def facet(part: str, feature: dict[str, Any]) -> dict[str, Any]:
        return FakeBluesky.facet(text, part, feature)

    facets = [facet("#tea", {"$type": TAG, "tag": "tea"}),
              facet("@bob.test", {"$type": MENTION, "did": "did:plc:" + "b" * 24}),
              facet("example.com/x", {"$type": LINK, "uri": "https://example.com/x/long"}),
              facet("👩‍👩‍👧", {"$type": LINK, "uri": "javascript:alert(1)"}),
              {"index": {"byteStart": 1, "byteEnd": 4}, "features": [{"$type": TAG, "tag": "x"}]},
              {"index": {"byteStart": 0, "byteEnd": len(raw) + 5},
               "features": [{"$type": TAG, "tag": "y"}]}]

    out, entities = facets_to_entities(text, facets)

    assert out == text
    assert [(e.kind, out[e.start:e.end], e.href) for e in entities] == [
        ("hashtag", "#tea", "https://bsky.app/hashtag/tea"),
        ("mention", "@bob.test", "https://bsky.app/profile/did:plc:" + "b" * 24),
        ("url", "example.com/x", "https://example.com/x/long")]


def test_facets_mid_character_are_dropped_and_text_kept() -> None:
    text, entities = facets_to_entities("é tea", [
        {"index": {"byteStart": 1, "byteEnd": 6}, "features": [{"$type": TAG, "tag": "t"}]}])
    assert (text, entities) == ("é tea", [])


def test_it_reads_an_author_feed(fake_bluesky: FakeBluesky) -> None:
    text = "Tea ☕ time #tea"
    parent = fake_bluesky.post("first", author="bob.test")
    uri = fake_bluesky.post(text, images=["A teapot", "Cups"], labels=("nudity",),
                            facets=[FakeBluesky.facet(text, "#tea", {"$type": TAG,
                                                                     "tag": "tea"})],
                            reply_to=parent, langs=["en", "fr"])

    batch = SOURCE.fetch(author_settings(fake_bluesky), {}, [])

    assert ids(batch) == [uri]
    post = batch.posts[0]
    rkey = uri.rsplit("/", 1)[1]
    assert post.text == text
    assert post.entities == (Entity("hashtag", 11, 15, "https://bsky.app/hashtag/tea"),)
    assert (post.author_name, post.author_handle, post.author_url) == \
        ("Alice", "@alice.test", "https://bsky.app/profile/alice.test")
    assert post.permalink == f"https://bsky.app/profile/alice.test/post/{rkey}"
    assert post.posted_at == datetime(2026, 11, 1, 12, 2, tzinfo=UTC)
    assert [(m.url.rsplit("/", 1)[1], m.alt, m.width, m.type) for m in post.media] == [
        ("bafkimg0@jpeg", "A teapot", 1200, "image"), ("bafkimg1@jpeg", "Cups", 1200, "image")]
    assert "/img/feed_fullsize/" in post.media[0].url
    assert (post.is_reply, post.is_repost, post.sensitive, post.content_warning, post.lang) == \
        (True, False, True, "Nudity", "en")
    request = fake_bluesky.requests[0]
    assert request.path == "/xrpc/app.bsky.feed.getAuthorFeed"
    assert request.headers["host"] == "appview.bsky.test"
    assert (request.arg("actor"), request.arg("limit")) == ("alice.test", "3")
    assert "authorization" not in request.headers


def test_reposts_quotes_with_media_and_videos(fake_bluesky: FakeBluesky) -> None:
    original = fake_bluesky.post("by alice")
    fake_bluesky.repost(original, by="bob.test")
    quote = fake_bluesky.post("look", author="bob.test", with_record=original, images=["Pic"])
    video = fake_bluesky.post("clip", author="bob.test", video=True)

    batch = SOURCE.fetch(author_settings(fake_bluesky, "bob.test"), {}, [])

    by_id = {post.external_id: post for post in batch.posts}
    assert list(by_id) == [video, quote, original]
    assert by_id[original].is_repost and by_id[original].author_handle == "@alice.test"
    assert [m.alt for m in by_id[quote].media] == ["Pic"]
    assert [(m.type, m.url.endswith("thumbnail.jpg")) for m in by_id[video].media] == \
        [("video", True)]


def test_it_does_not_deliver_a_post_twice_and_picks_up_new_ones(
        fake_bluesky: FakeBluesky) -> None:
    first = fake_bluesky.post("one")
    settings = author_settings(fake_bluesky)
    batch = SOURCE.fetch(settings, {}, [])
    assert ids(batch) == [first]

    again = SOURCE.fetch(settings, batch.cursor, [])
    assert again.posts == []

    second = fake_bluesky.post("two")
    later = SOURCE.fetch(settings, again.cursor, [])
    assert ids(later) == [second]


def test_paging_follows_the_cursor_and_stops_at_known_posts_or_the_bound(
        fake_bluesky: FakeBluesky) -> None:
    settings = author_settings(fake_bluesky)
    old = [fake_bluesky.post(f"old {n}") for n in range(10)]
    first = SOURCE.fetch(settings, {}, [])
    assert ids(first) == list(reversed(old))[:6]  # two pages of three
    assert fake_bluesky.requests[1].arg("cursor") is not None

    new = [fake_bluesky.post(f"new {n}") for n in range(4)]
    before = len(fake_bluesky.requests)
    later = SOURCE.fetch(settings, first.cursor, [])
    assert ids(later) == list(reversed(new))
    assert len(fake_bluesky.requests) - before == 2  # stopped on meeting a known post


def test_search_signs_in_with_the_app_password_and_reuses_the_session(
        fake_bluesky: FakeBluesky) -> None:
    match = fake_bluesky.post("green tea")
    fake_bluesky.post("coffee")
    settings = search_settings(fake_bluesky)

    batch = SOURCE.fetch(settings, {}, [])
    again = SOURCE.fetch(settings, batch.cursor, [])

    assert ids(batch) == [match] and again.posts == []
    assert fake_bluesky.paths() == ["/xrpc/com.atproto.server.createSession",
                                    "/xrpc/app.bsky.feed.searchPosts",
                                    "/xrpc/app.bsky.feed.searchPosts"]
    session, search = fake_bluesky.requests[0], fake_bluesky.requests[1]
    assert session.method == "POST" and session.headers["host"] == "pds.bsky.test"
    assert json.loads(session.body) == {"identifier": "alice.test",
                                        "password": "abcd-efgh-ijkl-mnop"}
    assert search.headers["authorization"].startswith("Bearer ")
    assert (search.arg("q"), search.arg("sort")) == ("tea", "latest")
    assert fake_bluesky.requests[2].arg("since") == batch.cursor["latest"]


def test_search_signs_in_again_when_the_session_expired(fake_bluesky: FakeBluesky) -> None:
    settings = search_settings(fake_bluesky)
    SOURCE.fetch(settings, {}, [])
    fake_bluesky.expire_sessions()
    fake_bluesky.post("tea again")

    batch = SOURCE.fetch(settings, {}, [])

    assert [p.text for p in batch.posts] == ["tea again"]
    assert fake_bluesky.paths().count("/xrpc/com.atproto.server.createSession") == 2


def test_search_with_a_wrong_app_password_is_refused_clearly(fake_bluesky: FakeBluesky) -> None:
    settings = search_settings(fake_bluesky)
    fake_bluesky.set_app_password("alice.test", "another-password")
    with pytest.raises(SourceError, match="refused the handle or app password of alice.test"):
        SOURCE.fetch(settings, {}, [])


def test_search_without_credentials_is_refused_clearly(fake_bluesky: FakeBluesky) -> None:
    settings = {**search_settings(fake_bluesky), "identifier": "", "app_password": ""}
    with pytest.raises(SourceError, match="Searching Bluesky needs a Bluesky account"):
        SOURCE.fetch(settings, {}, [])
    assert fake_bluesky.requests == []


def test_recheck_reports_deleted_posts(fake_bluesky: FakeBluesky) -> None:
    kept = fake_bluesky.post("kept")
    gone = fake_bluesky.post("gone")
    settings = author_settings(fake_bluesky)
    batch = SOURCE.fetch(settings, {}, [])
    fake_bluesky.delete(gone)

    later = SOURCE.fetch(settings, batch.cursor, [kept, gone, "https://not.an/at-uri"])

    assert later.deleted == [gone]
    request = fake_bluesky.requests[-1]
    assert request.path == "/xrpc/app.bsky.feed.getPosts"
    assert request.query["uris"] == [kept, gone]


def test_recheck_asks_for_at_most_25(fake_bluesky: FakeBluesky) -> None:
    uris = [fake_bluesky.post(f"p{n}") for n in range(30)]
    batch = SOURCE.fetch(author_settings(fake_bluesky), {"latest": "9999"}, uris)
    assert batch.deleted == []
    assert len(fake_bluesky.requests[-1].query["uris"]) == 25


def test_an_unknown_account_is_named(fake_bluesky: FakeBluesky) -> None:
    with pytest.raises(SourceError, match=r"Bluesky \(appview.bsky.test\) has no account "
                                          "nobody.test"):
        SOURCE.fetch(author_settings(fake_bluesky, "nobody.test"), {}, [])


def test_no_requests_left_reports_a_wait_and_makes_no_request_before_it(
        fake_bluesky: FakeBluesky) -> None:
    for n in range(5):
        fake_bluesky.post(f"p{n}")
    fake_bluesky.rate_limit(remaining=0, reset_in=200)
    settings = author_settings(fake_bluesky)

    batch = SOURCE.fetch(settings, {}, [])

    assert len(batch.posts) == 3 and len(fake_bluesky.requests) == 1
    assert batch.wait is not None and 190 < batch.wait <= 200
    early = SOURCE.fetch(settings, batch.cursor, [])
    assert early.posts == [] and early.wait is not None
    assert len(fake_bluesky.requests) == 1


def test_a_429_is_a_wait_not_a_failure(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.throttle(retry_after="45")
    batch = SOURCE.fetch(author_settings(fake_bluesky), {"latest": "x"}, [])
    assert (batch.posts, batch.wait, batch.cursor["latest"]) == ([], 45, "x")


def test_malformed_json_is_refused_clearly(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.reply_next(Reply(200, b'{"feed": [', {"Content-Type": "application/json"}))
    with pytest.raises(SourceError, match=r"appview.bsky.test\) answered with something that "
                                          "is not JSON"):
        SOURCE.fetch(author_settings(fake_bluesky), {}, [])


def test_posts_with_bad_dates_fall_back_to_the_indexing_time(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.post("when?", created_at="not a date")
    post = SOURCE.fetch(author_settings(fake_bluesky), {}, []).posts[0]
    assert post.posted_at == datetime(2026, 11, 1, 12, 1, tzinfo=UTC)


def test_text_is_plain_and_controls_are_removed(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.post("  <script>alert(1)</script>\x00 hi  ")
    post = SOURCE.fetch(author_settings(fake_bluesky), {}, []).posts[0]
    # Bluesky text is plain: kept as text (the embed escapes it), never read as markup.
    assert post.text == "<script>alert(1)</script>  hi"
    assert post.entities == ()


def test_an_appview_that_wants_a_session_is_reported_plainly(fake_bluesky: FakeBluesky) -> None:
    fake_bluesky.reply_next(Reply(401, b'{"error": "AuthMissing", "message": "Authentication '
                                       b'Required"}', {"Content-Type": "application/json"}))
    with pytest.raises(SourceError, match=r"Bluesky asked for a signed-in account \(Authentication "
                                          r"Required\)"):
        SOURCE.fetch(author_settings(fake_bluesky), {}, [])
