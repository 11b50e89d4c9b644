"""The RSS/Atom source against a fake web server over real HTTP (no database needed)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from samembed import outbound
from samembed.ingest.model import SourceError
from samembed.ingest.sources import REGISTRY
from samembed.ingest.sources.feeds import FeedSource
from samembed.repositories.posts import Entity
from tests.fakes.feeds import (
    FakeFeeds,
    atom,
    atom_entry,
    http_date,
    rss,
    rss_item,
    youtube,
)

SOURCE = FeedSource(deadline=2.0)
BILLION_LAUGHS = ('<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
                  '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]>')
EXTERNAL = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def settings_for(url: str) -> dict[str, Any]:
    return SOURCE.clean_settings({"url": url})


def fetch(url: str, cursor: dict[str, Any] | None = None) -> Any:
    return SOURCE.fetch(settings_for(url), cursor or {}, [])


def test_it_is_registered_as_rss() -> None:
    assert REGISTRY["rss"].clean_settings({"url": "example.org/feed"}) == \
        {"url": "https://example.org/feed"}


@pytest.mark.parametrize(("url", "message"), [
    ("", "Enter the feed's address"),
    ("file:///etc/passwd", "http or https"),
    ("https://example.org:8080/feed", "standard port"),
    ("https://user:pw@example.org/feed", "user name or password"),
])
def test_it_refuses_bad_addresses(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SOURCE.clean_settings({"url": url})


def test_it_reads_rss_items_with_html_and_images(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([
        rss_item("https://blog.test/posts/1", "Hello & welcome",
                 description='<p>Read <a href="/more">more</a> <b>now</b></p><script>x()</script>',
                 extra='<enclosure url="https://blog.test/a.jpg" type="image/jpeg" length="1"/>'
                       '<enclosure url="https://blog.test/a.mp3" type="audio/mpeg" length="1"/>'
                       '<dc:creator>Ada</dc:creator>'
                       '<media:content url="https://blog.test/b.png" medium="image" '
                       'width="800" height="600"/>'),
    ]))

    batch = fetch(url)

    [post] = batch.posts
    assert post.external_id == "https://blog.test/posts/1"
    assert post.text == "Hello & welcome\n\nRead more now"
    assert post.entities == (Entity("url", 22, 26, "https://blog.test/more"),)
    assert post.author_name == "Ada"
    assert post.author_url == "https://blog.test/"
    assert post.avatar_url == "https://blog.test/logo.png"
    assert post.permalink == "https://blog.test/posts/1"
    assert post.posted_at == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert [(m.url, m.width) for m in post.media] == [("https://blog.test/a.jpg", None),
                                                      ("https://blog.test/b.png", 800)]
    assert batch.skipped == []
    assert fake_feeds.requests[0].headers["accept"].startswith("application/atom+xml")


def test_guids_that_are_not_global_are_made_so_and_links_stand_in_for_missing_ones(
        fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([
        rss_item("1", "local guid"),
        rss_item(None, "no guid", link="/posts/relative"),
    ]))

    batch = fetch(url)

    assert [p.external_id for p in batch.posts] == [
        "http://feeds.test/feed.xml#1", "http://feeds.test/posts/relative"]
    assert batch.posts[1].permalink == "http://feeds.test/posts/relative"


def test_bad_items_are_skipped_and_counted_not_fatal(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([
        rss_item("a:1", "good"),
        rss_item("a:2", "bad date", pub_date="the day before yesterday"),
        rss_item("a:3", "no date", pub_date=None),
        rss_item(None, "no id", link=None),
        rss_item("a:4", "far future", pub_date="Mon, 01 Jan 2124 00:00:00 GMT"),
    ]))

    batch = fetch(url)

    assert [p.text for p in batch.posts] == ["good"]
    assert batch.skipped == [
        "a:2: the date 'the day before yesterday' is not a valid date",
        "a:3: the date is missing",
        "no id: no guid and no link",
        "a:4: the date 'Mon, 01 Jan 2124 00:00:00 GMT' is in the future",
    ]


def test_it_reads_atom_with_html_and_xhtml_content(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/atom.xml", atom([
        atom_entry("tag:atom.test,2026:1", "First", link="/1", summary="<p>Some <i>html</i></p>",
                   updated="2026-11-02T08:00:00Z"),
        atom_entry("tag:atom.test,2026:2", "Second", link="https://atom.test/2",
                   summary_type="xhtml",
                   summary='<div xmlns="http://www.w3.org/1999/xhtml"><p>An '
                           '<a href="https://x.test/">xhtml</a> link</p></div>'),
    ]), content_type="application/atom+xml")

    batch = fetch(url)

    first, second = batch.posts
    assert (first.external_id, first.text, first.permalink) == \
        ("tag:atom.test,2026:1", "First\n\nSome html", "http://feeds.test/1")
    assert first.edited_at == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert first.author_name == "Grace Hopper"
    assert second.text == "Second\n\nAn xhtml link"
    assert second.entities == (Entity("url", 11, 16, "https://x.test/"),)
    assert second.edited_at is None


def test_it_reads_youtube_channel_feeds(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/videos.xml", youtube([
        ("dQw4w9WgXcQ", "A video", "Line one\nMore at https://example.org/x")]),
        content_type="text/xml; charset=UTF-8")

    [post] = fetch(url).posts

    assert post.external_id == "yt:video:dQw4w9WgXcQ"
    assert post.permalink == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert post.text == "A video\n\nLine one\nMore at https://example.org/x"
    assert post.entities == (Entity("url", 26, 47, "https://example.org/x"),)
    assert [(m.type, m.url, m.width, m.height) for m in post.media] == [
        ("video", "https://i1.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg", 480, 360)]
    assert post.author_name == "Test Channel"
    assert post.author_url == "https://www.youtube.com/channel/UCtestchannel00000000000"
    assert post.posted_at == datetime(2026, 10, 30, 15, 0, tzinfo=UTC)


def test_conditional_get_sends_the_etag_and_a_304_is_an_empty_batch(
        fake_feeds: FakeFeeds) -> None:
    modified = http_date(time.time() - 3600)
    url = fake_feeds.serve("/feed.xml", rss([rss_item("a:1", "one")]), etag='"v1"',
                           last_modified=modified)
    batch = fetch(url)
    assert (batch.cursor["etag"], batch.cursor["last_modified"]) == ('"v1"', modified)

    again = fetch(url, batch.cursor)

    assert again.posts == [] and again.cursor == batch.cursor
    request = fake_feeds.requests[1]
    assert (request.headers["if-none-match"], request.headers["if-modified-since"]) == \
        ('"v1"', modified)


def test_an_unchanged_feed_without_validators_delivers_only_new_or_changed_entries(
        fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([rss_item("a:1", "one")]))
    first = fetch(url)

    fake_feeds.serve("/feed.xml", rss([rss_item("a:2", "two"), rss_item("a:1", "one")]))
    second = fetch(url, first.cursor)
    fake_feeds.serve("/feed.xml", rss([rss_item("a:2", "two"), rss_item("a:1", "one, fixed")]))
    third = fetch(url, second.cursor)

    assert [p.external_id for p in second.posts] == [url + "#a:2"]
    assert [(p.external_id, p.text) for p in third.posts] == [(url + "#a:1", "one, fixed")]


def test_billion_laughs_is_refused(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([rss_item("a:1", "&lol3;")], prolog=BILLION_LAUGHS)
                           .replace("&amp;lol3;", "&lol3;"))
    with pytest.raises(SourceError, match="declares XML entities, which are refused"):
        fetch(url)


def test_external_entities_are_refused(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([rss_item("a:1", "&xxe;")], prolog=EXTERNAL)
                           .replace("&amp;xxe;", "&xxe;"))
    with pytest.raises(SourceError, match="(declares XML entities|external entity)"):
        fetch(url)


@pytest.mark.parametrize("body", [
    "<rss><channel><item><title>unclosed</channel></rss>",
    "{\"not\": \"xml\"}",
    "",
])
def test_malformed_xml_is_refused_clearly(fake_feeds: FakeFeeds, body: str) -> None:
    url = fake_feeds.serve("/feed.xml", body)
    with pytest.raises(SourceError, match=r"feeds.test/feed.xml is not well-formed XML \(.* "
                                          r"at line \d+, column \d+\)"):
        fetch(url)


def test_a_web_page_is_not_a_feed(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/", "<html><body>hi</body></html>", content_type="text/html")
    with pytest.raises(SourceError, match=r"does not serve an RSS or Atom feed "
                                          r"\(its document is <html>\)"):
        fetch(url)


def test_a_missing_feed_is_reported(fake_feeds: FakeFeeds) -> None:
    with pytest.raises(SourceError, match="answered 404: there is no feed at that address"):
        fetch(fake_feeds.base + "/nowhere.xml")


def test_the_xml_declaration_decides_the_encoding(fake_feeds: FakeFeeds) -> None:
    body = rss([rss_item("a:1", "Crème brûlée")], encoding="ISO-8859-1").encode("latin-1")
    # A server default that contradicts the document is not believed over it.
    url = fake_feeds.serve("/feed.xml", body, content_type="text/xml; charset=utf-8")
    assert fetch(url).posts[0].text == "Crème brûlée"


def test_the_content_type_charset_applies_without_a_declaration(fake_feeds: FakeFeeds) -> None:
    body = rss([rss_item("a:1", "Crème")]).split("\n", 1)[1].encode("cp1252")
    url = fake_feeds.serve("/feed.xml", body, content_type="application/xml; charset=windows-1252")
    assert fetch(url).posts[0].text == "Crème"


def test_a_byte_order_mark_wins(fake_feeds: FakeFeeds) -> None:
    body = rss([rss_item("a:1", "日本語")], encoding="UTF-16").encode("utf-16")
    url = fake_feeds.serve("/feed.xml", body, content_type="text/xml; charset=iso-8859-1")
    assert fetch(url).posts[0].text == "日本語"


def test_bytes_invalid_in_the_declared_encoding_become_replacement_characters(
        fake_feeds: FakeFeeds) -> None:
    body = rss([rss_item("a:1", "Crème")]).encode("latin-1")  # declared UTF-8
    url = fake_feeds.serve("/feed.xml", body)
    assert fetch(url).posts[0].text == "Cr\ufffdme"


def test_an_unknown_encoding_is_refused_clearly(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([rss_item("a:1", "x")], encoding="klingon-8"))
    with pytest.raises(SourceError, match="uses the encoding 'klingon-8', which is not known"):
        fetch(url)


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_50_mb_feed_is_cut_off(fake_feeds: FakeFeeds, declare_length: bool) -> None:
    url = fake_feeds.huge("/big.xml", 50 * 1024 * 1024, declare_length=declare_length)
    started = time.monotonic()
    with pytest.raises(outbound.Refused, match="5,242,880"):
        fetch(url)
    assert time.monotonic() - started < 2


def test_a_feed_that_trickles_is_cut_off_at_the_deadline(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.trickle("/slow.xml")
    started = time.monotonic()
    with pytest.raises(outbound.Refused, match="took longer than allowed"):
        FeedSource(deadline=1.0).fetch(settings_for(url), {}, [])
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("location", ["http://127.0.0.1/feed.xml", "http://10.0.0.1/feed.xml",
                                      "http://localhost/feed.xml", "http://[::1]/feed.xml"])
def test_redirects_to_private_addresses_are_refused(fake_feeds: FakeFeeds,
                                                    location: str) -> None:
    url = fake_feeds.redirect("/moved.xml", location)
    with pytest.raises(outbound.Refused, match="not a public address"):
        fetch(url)


def test_redirects_to_other_public_names_are_followed(fake_feeds: FakeFeeds) -> None:
    fake_feeds.serve("/feed.xml", rss([rss_item("1", "moved", link="/p/1")]))
    url = fake_feeds.redirect("/old.xml", "http://other.feeds.test/feed.xml", status=301)
    [post] = fetch(url).posts
    # Relative ids and links resolve against where the feed really is.
    assert post.permalink == "http://other.feeds.test/p/1"


def test_scripts_and_javascript_links_in_descriptions_are_neutralised(
        fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([rss_item(
        "a:1", "<b>Title</b>",
        description='<iframe src="https://evil.test"></iframe><a href="javascript:steal()">'
                    'click</a> <a href="data:text/html;base64,PHNjcmlwdD4=">data</a>'
                    '<img src="x" onerror="steal()"><svg onload="steal()"><text>svg</text></svg>'
                    '<style>body{}</style>ok')]))
    [post] = fetch(url).posts
    assert post.text == "Title\n\nclick dataok"
    assert post.entities == ()


def test_server_errors_surface_as_fetch_failed(fake_feeds: FakeFeeds) -> None:
    url = fake_feeds.serve("/feed.xml", rss([]))
    fake_feeds.fail_next(1, 502)
    with pytest.raises(outbound.FetchFailed):
        fetch(url)
    assert fetch(url).posts == []
