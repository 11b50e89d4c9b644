"""The Mastodon source against a fake instance over real HTTP (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from samembed import outbound
from samembed.ingest.model import SourceError
from samembed.ingest.sources import REGISTRY
from samembed.ingest.sources.mastodon import MastodonSource
from samembed.repositories.posts import Entity
from tests.fakes.base import Reply
from tests.fakes.mastodon import FakeMastodon

SOURCE = MastodonSource(first_run_pages=2, catch_up_pages=2, page_size=3, deadline=3.0)
TEA = ('<p>Time for <a href="http://mastodon.test/tags/tea" class="mention hashtag" '
       'rel="tag">#<span>tea</span></a> with <span class="h-card"><a '
       'href="https://other.test/@bob" class="u-url mention">@<span>bob</span></a></span></p>')


def tag_settings(fake: FakeMastodon, **extra: str) -> dict[str, Any]:
    return SOURCE.clean_settings({"instance": fake.base, "mode": "hashtag", "tag": "#tea",
                                  **extra})


def ids(batch: Any) -> list[str]:
    return [post.external_id for post in batch.posts]


def test_it_is_registered() -> None:
    assert REGISTRY["mastodon"].kind == "mastodon"


def test_it_cleans_settings() -> None:
    assert SOURCE.clean_settings({"instance": "Mastodon.Social", "tag": "tea"}) == {
        "instance": "https://mastodon.social", "mode": "hashtag", "tag": "tea", "token": ""}
    assert SOURCE.clean_settings({"instance": "https://m.test/about", "mode": "account",
                                  "account": "@Ada@Example.Social"})["account"] == \
        "Ada@example.social"
    assert SOURCE.clean_settings({"instance": "http://m.test", "tag": "a"})["instance"] == \
        "http://m.test"


@pytest.mark.parametrize(("raw", "message"), [
    ({"instance": ""}, "Enter the instance"),
    ({"instance": "ftp://m.test"}, "http or https"),
    ({"instance": "https://m.test:8443"}, "standard port"),
    ({"instance": "not a host"}, "not a host name"),
    ({"instance": "m.test", "tag": "two words"}, "Enter a hashtag"),
    ({"instance": "m.test", "mode": "account", "account": "@a@b@c"}, "@user@instance"),
    ({"instance": "m.test", "mode": "firehose"}, "Choose hashtag or account"),
])
def test_it_refuses_bad_settings_with_a_readable_message(raw: dict[str, str],
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SOURCE.clean_settings(raw)


def test_it_reads_a_hashtag_timeline_as_plain_text_with_entities(
        fake_mastodon: FakeMastodon) -> None:
    status = fake_mastodon.post(TEA, tags=["tea"], media=[
        {"type": "image", "description": "A teapot"}, {"type": "gifv"},
        {"type": "audio"}])
    fake_mastodon.post("<p>coffee</p>", tags=["coffee"])

    batch = SOURCE.fetch(tag_settings(fake_mastodon), {}, [])

    assert ids(batch) == [f"{status['id']}@mastodon.test"]
    post = batch.posts[0]
    assert post.text == "Time for #tea with @bob"
    assert post.entities == (Entity("hashtag", 9, 13, "http://mastodon.test/tags/tea"),
                             Entity("mention", 19, 23, "https://other.test/@bob"))
    assert post.author_name == "Ada Lovelace"
    assert post.author_handle == "@ada@mastodon.test"
    assert post.author_url == "https://mastodon.test/@ada"
    assert post.avatar_url == "https://files.mastodon.test/avatars/ada-static.png"
    assert post.permalink == status["url"]
    assert post.posted_at == datetime(2026, 11, 1, 12, 1, tzinfo=UTC)
    assert post.lang == "en"
    assert [(m.type, m.url, m.alt, m.width) for m in post.media] == [
        ("image", "https://files.mastodon.test/media-0.jpg", "A teapot", 1600),
        ("video", "https://files.mastodon.test/media-1-small.jpg", "", 640)]
    assert (post.is_reply, post.is_repost, post.sensitive, post.edited_at) == \
        (False, False, False, None)
    assert batch.cursor["newest_id"] == status["id"]
    assert batch.wait is None and batch.deleted == [] and batch.skipped == []
    assert fake_mastodon.paths() == ["/api/v1/timelines/tag/tea"]
    assert fake_mastodon.requests[0].arg("limit") == "3"


def test_it_maps_replies_content_warnings_and_reblogs(fake_mastodon: FakeMastodon) -> None:
    original = fake_mastodon.post("<p>original</p>", tags=["tea"])
    reply = fake_mastodon.post("<p>a reply</p>", in_reply_to_id=original["id"],
                               spoiler_text="spoilers", language="fr")
    reblog = fake_mastodon.post("", reblog_of=original["id"], account="ada")

    batch = SOURCE.fetch(SOURCE.clean_settings({"instance": fake_mastodon.base,
                                                "mode": "account", "account": "@ada"}), {}, [])

    by_id = {post.external_id: post for post in batch.posts}
    shared = by_id[f"{reblog['id']}@mastodon.test"]
    assert (shared.is_repost, shared.text, shared.permalink) == \
        (True, "original", original["url"])
    answer = by_id[f"{reply['id']}@mastodon.test"]
    assert (answer.is_reply, answer.sensitive, answer.content_warning, answer.lang) == \
        (True, True, "spoilers", "fr")
    assert fake_mastodon.paths()[0] == "/api/v1/accounts/lookup"
    assert fake_mastodon.requests[0].arg("acct") == "ada"
    assert fake_mastodon.paths()[1] == "/api/v1/accounts/1/statuses"
    assert batch.cursor["account_id"] == "1"


def test_it_names_an_unknown_account(fake_mastodon: FakeMastodon) -> None:
    settings = SOURCE.clean_settings({"instance": fake_mastodon.base, "mode": "account",
                                      "account": "@nobody"})
    with pytest.raises(SourceError, match="^mastodon.test answered 404: there is no account "
                                          "@nobody there"):
        SOURCE.fetch(settings, {}, [])


def test_a_missing_hashtag_timeline_is_named(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.reply_next(Reply(404, b'{"error": "Record not found"}',
                                   {"Content-Type": "application/json"}))
    with pytest.raises(SourceError, match=r"^The instance mastodon.test answered 404 for #tea: "
                                          r"no such hashtag timeline\.$"):
        SOURCE.fetch(tag_settings(fake_mastodon), {}, [])


def test_it_does_not_deliver_a_post_twice_and_picks_up_new_ones(
        fake_mastodon: FakeMastodon) -> None:
    first = fake_mastodon.post("<p>one</p>", tags=["tea"])
    settings = tag_settings(fake_mastodon)
    batch = SOURCE.fetch(settings, {}, [])
    assert ids(batch) == [f"{first['id']}@mastodon.test"]

    again = SOURCE.fetch(settings, batch.cursor, [])
    assert again.posts == []
    assert fake_mastodon.requests[-1].arg("min_id") == first["id"]

    second = fake_mastodon.post("<p>two</p>", tags=["tea"])
    later = SOURCE.fetch(settings, again.cursor, [])
    assert ids(later) == [f"{second['id']}@mastodon.test"]
    assert later.cursor["newest_id"] == second["id"]


def test_the_first_run_follows_next_links_for_a_bounded_number_of_pages(
        fake_mastodon: FakeMastodon) -> None:
    posted = [fake_mastodon.post(f"<p>{n}</p>", tags=["tea"])["id"] for n in range(10)]

    batch = SOURCE.fetch(tag_settings(fake_mastodon), {}, [])

    # Two pages of three, newest first; the four oldest are left to history.
    assert ids(batch) == [f"{i}@mastodon.test" for i in reversed(posted[4:])]
    assert len(fake_mastodon.requests) == 2
    assert fake_mastodon.requests[1].arg("max_id") == posted[7]
    assert batch.cursor["newest_id"] == posted[9]


def test_catching_up_follows_prev_links_and_resumes_where_the_bound_stopped(
        fake_mastodon: FakeMastodon) -> None:
    settings = tag_settings(fake_mastodon)
    fake_mastodon.post("<p>seen</p>", tags=["tea"])
    start = SOURCE.fetch(settings, {}, [])
    posted = [fake_mastodon.post(f"<p>{n}</p>", tags=["tea"])["id"] for n in range(8)]

    first = SOURCE.fetch(settings, start.cursor, [])
    second = SOURCE.fetch(settings, first.cursor, [])

    # Oldest pages first, so a run cut short leaves no gap: the next continues.
    assert sorted(ids(first) + ids(second)) == sorted(f"{i}@mastodon.test" for i in posted)
    assert set(ids(first)).isdisjoint(ids(second))
    assert first.cursor["newest_id"] == posted[5]
    assert second.cursor["newest_id"] == posted[7]
    assert [r.arg("min_id") for r in fake_mastodon.requests[1:4]] == \
        [start.cursor["newest_id"], posted[2], posted[5]]


def test_it_does_not_follow_pagination_links_to_other_hosts(
        fake_mastodon: FakeMastodon) -> None:
    for n in range(6):
        fake_mastodon.post(f"<p>{n}</p>", tags=["tea"])
    fake_mastodon.link_host = "feeds.test"

    batch = SOURCE.fetch(tag_settings(fake_mastodon), {}, [])

    assert len(batch.posts) == 3
    assert len(fake_mastodon.requests) == 1


def test_recheck_reports_edits_and_deletions(fake_mastodon: FakeMastodon) -> None:
    kept = fake_mastodon.post("<p>kept</p>", tags=["tea"])
    edited = fake_mastodon.post("<p>before</p>", tags=["tea"])
    gone = fake_mastodon.post("<p>gone</p>", tags=["tea"])
    settings = tag_settings(fake_mastodon)
    batch = SOURCE.fetch(settings, {}, [])
    fake_mastodon.edit(edited["id"], "<p>after</p>")
    fake_mastodon.delete(gone["id"])

    recheck = [f"{s['id']}@mastodon.test" for s in (kept, edited, gone)]
    recheck += ["123@elsewhere.test", "../../admin@mastodon.test"]
    later = SOURCE.fetch(settings, batch.cursor, recheck)

    assert later.deleted == [f"{gone['id']}@mastodon.test"]
    assert [(p.external_id, p.text) for p in later.posts] == [
        (f"{edited['id']}@mastodon.test", "after")]
    assert later.posts[0].edited_at is not None
    status_paths = [p for p in fake_mastodon.paths() if p.startswith("/api/v1/statuses/")]
    assert status_paths == [f"/api/v1/statuses/{s['id']}" for s in (kept, edited, gone)]


def test_recheck_is_bounded(fake_mastodon: FakeMastodon) -> None:
    source = MastodonSource(recheck_max=2)
    settings = tag_settings(fake_mastodon)
    source.fetch(settings, {"newest_id": "1"}, [f"{n}@mastodon.test" for n in range(5)])
    assert len([p for p in fake_mastodon.paths() if p.startswith("/api/v1/statuses/")]) == 2


def test_it_sends_the_access_token(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.require_token("s3cret")
    fake_mastodon.post("<p>hi</p>", tags=["tea"])

    batch = SOURCE.fetch(tag_settings(fake_mastodon, token="s3cret"), {}, [])

    assert len(batch.posts) == 1
    assert fake_mastodon.requests[0].headers["authorization"] == "Bearer s3cret"


def test_a_refused_token_is_reported_plainly(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.require_token("s3cret")
    with pytest.raises(SourceError, match=r"mastodon.test refused the access token for #tea"):
        SOURCE.fetch(tag_settings(fake_mastodon, token="wrong"), {}, [])


def test_no_requests_left_reports_a_wait_and_makes_no_request_before_it(
        fake_mastodon: FakeMastodon) -> None:
    for n in range(5):
        fake_mastodon.post(f"<p>{n}</p>", tags=["tea"])
    fake_mastodon.rate_limit(remaining=0, reset_in=120)
    settings = tag_settings(fake_mastodon)

    batch = SOURCE.fetch(settings, {}, ["1@mastodon.test"])

    # The page that came with "0 left" is delivered; no next page, no recheck.
    assert len(batch.posts) == 3
    assert batch.wait is not None and 100 < batch.wait <= 120
    assert len(fake_mastodon.requests) == 1

    early = SOURCE.fetch(settings, batch.cursor, [])
    assert early.posts == [] and early.wait is not None and early.wait > 100
    assert early.cursor["newest_id"] == batch.cursor["newest_id"]
    assert len(fake_mastodon.requests) == 1


def test_a_429_is_a_wait_not_a_failure(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.throttle(retry_after="30")

    batch = SOURCE.fetch(tag_settings(fake_mastodon), {"newest_id": "5"}, [])

    assert batch.posts == []
    assert batch.wait == 30
    assert batch.cursor["newest_id"] == "5"
    assert batch.cursor["not_before"] > 0


def test_a_429_without_retry_after_waits_until_the_reset(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.throttle(retry_after=None, reset_in=90)
    batch = SOURCE.fetch(tag_settings(fake_mastodon), {}, [])
    assert batch.wait is not None and 80 < batch.wait <= 90


def test_server_errors_surface_as_fetch_failed(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.fail_next(1, 503)
    with pytest.raises(outbound.FetchFailed) as caught:
        SOURCE.fetch(tag_settings(fake_mastodon), {}, [])
    assert caught.value.status == 503
    # The next run, with the instance back, works.
    assert SOURCE.fetch(tag_settings(fake_mastodon), {}, []).posts == []


def test_malformed_json_is_refused_clearly(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.reply_next(Reply(200, b"[{not json", {"Content-Type": "application/json"}))
    with pytest.raises(SourceError, match="mastodon.test answered with something that is "
                                          "not JSON"):
        SOURCE.fetch(tag_settings(fake_mastodon), {}, [])


def test_statuses_of_the_wrong_shape_are_skipped_not_fatal(fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.post("<p>fine</p>", tags=["tea"])
    fake_mastodon.post("<p>bad date</p>", tags=["tea"], created_at="yesterday")

    batch = SOURCE.fetch(tag_settings(fake_mastodon), {}, [])

    assert [p.text for p in batch.posts] == ["fine"]
    assert len(batch.skipped) == 1
    assert "creation date 'yesterday' is not a valid date" in batch.skipped[0]


def test_html_scripts_and_javascript_links_in_statuses_are_neutralised(
        fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.post('<p>hi<script>alert(1)</script> <a href="javascript:alert(1)">x</a> '
                       '<img src=x onerror=alert(1)><b>&lt;b&gt;</b></p>', tags=["tea"])
    post = SOURCE.fetch(tag_settings(fake_mastodon), {}, []).posts[0]
    assert post.text == "hi x <b>"
    assert post.entities == ()
