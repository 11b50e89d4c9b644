"""The sanitiser: untrusted HTML to plain text and entities, text clamping, dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from samembed.ingest.sanitise import clamp_text, html_to_text, parse_date, safe_link
from samembed.repositories.posts import Entity

MASTODON = (
    '<p>Hello <a href="https://m.test/tags/tea" class="mention hashtag" rel="tag">#<span>'
    'tea</span></a> <span class="h-card" translate="no"><a href="https://m.test/@ada" '
    'class="u-url mention">@<span>ada</span></a></span></p><p>see <a href="https://example'
    '.com/a/long/path" target="_blank" rel="nofollow noopener"><span class="invisible">'
    'https://</span><span class="ellipsis">example.com/a/lo</span><span class="invisible">'
    'ng/path</span></a></p>'
)


def spans(text: str, entities: list[Entity]) -> list[tuple[str, str, str]]:
    return [(e.kind, text[e.start:e.end], e.href) for e in entities]


def test_it_turns_mastodon_html_into_text_with_hashtags_mentions_and_links() -> None:
    text, entities = html_to_text(MASTODON)
    assert text == "Hello #tea @ada\n\nsee https://example.com/a/long/path"
    assert spans(text, entities) == [
        ("hashtag", "#tea", "https://m.test/tags/tea"),
        ("mention", "@ada", "https://m.test/@ada"),
        ("url", "https://example.com/a/long/path", "https://example.com/a/long/path")]


def test_paragraphs_breaks_and_white_space_are_tidied() -> None:
    text, _ = html_to_text("<div>  one\n  two </div><p>three<br>four<br/><br>five</p>"
                           "<ul><li>a</li><li>b</li></ul>  ")
    assert text == "one two\n\nthree\nfour\n\nfive\n\na\nb"


def test_character_references_are_decoded_once() -> None:
    text, _ = html_to_text("<p>Fish &amp; chips &lt;3 &#x1F600; &amp;lt;</p>")
    assert text == "Fish & chips <3 😀 &lt;"


def test_scripts_styles_svg_math_and_iframes_go_with_their_content() -> None:
    text, entities = html_to_text(
        "a<script>alert(1)</script><style>p{}</style><svg><text>s</text></svg>"
        "<math><mi>x</mi></math><iframe src='https://x.test'>f</iframe>"
        "<noscript>n</noscript>b<img src=x onerror=alert(1)>c")
    assert (text, entities) == ("abc", [])


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JaVaScRiPt:alert(1)",
                                  " javascript:alert(1)", "data:text/html,<script>",
                                  "vbscript:x", "java\tscript:alert(1)", "//evil.test/x"])
def test_dangerous_or_relative_links_are_dropped_and_their_text_kept(href: str) -> None:
    text, entities = html_to_text(f'<a href="{href}">click</a> me')
    assert (text, entities) == ("click me", [])


def test_relative_links_resolve_against_a_base() -> None:
    text, entities = html_to_text('<a href="../b">b</a>', base_url="https://x.test/a/c")
    assert spans(text, entities) == [("url", "b", "https://x.test/b")]


def test_mailto_links_are_kept() -> None:
    text, entities = html_to_text('<a href="mailto:ada@x.test">write</a>')
    assert spans(text, entities) == [("url", "write", "mailto:ada@x.test")]


def test_offsets_are_code_points() -> None:
    text, entities = html_to_text('😀 é <a href="https://x.test/">𝕏 link</a>')
    assert text == "😀 é 𝕏 link"
    assert entities == [Entity("url", 4, 10, "https://x.test/")]


def test_bare_urls_in_text_become_links_unless_already_inside_one() -> None:
    text, entities = html_to_text('see https://a.test/x. or <a href="https://b.test/">'
                                  'https://c.test/</a>')
    assert spans(text, entities) == [("url", "https://a.test/x", "https://a.test/x"),
                                     ("url", "https://c.test/", "https://b.test/")]


def test_empty_links_and_markup_give_nothing() -> None:
    assert html_to_text('<a href="https://x.test/"> </a><p></p>') == ("", [])
    assert html_to_text("") == ("", [])


def test_control_characters_are_removed() -> None:
    assert html_to_text("a\x00b\x1bc\u0085d")[0] == "abcd"


def test_clamp_text_cuts_and_drops_entities_that_would_not_fit() -> None:
    entities = [Entity("url", 0, 4, "https://a.test/"), Entity("url", 6, 12, "https://b.test/")]
    text, kept = clamp_text("abcd  efghijkl", entities, limit=10)
    assert text == "abcd  efg…"
    assert kept == entities[:1]
    assert clamp_text("short", entities, limit=10) == ("short", entities)


def test_parse_date_reads_the_formats_the_networks_use() -> None:
    utc = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)
    assert parse_date("2025-06-10T04:00:00.000Z") == utc
    assert parse_date("2025-06-10T06:00:00+02:00") == utc
    assert parse_date("Tue, 10 Jun 2025 04:00:00 GMT") == utc
    assert parse_date("Tue, 10 Jun 2025 00:00:00 -0400") == utc
    naive = parse_date("2025-06-10T04:00:00")
    assert naive == utc and naive.tzinfo == UTC


@pytest.mark.parametrize(("value", "message"), [
    ("yesterday", "the date 'yesterday' is not a valid date"),
    ("2025-02-30T00:00:00Z", "is not a valid date"),
    ("Tue, 99 Foo 2025", "is not a valid date"),
    ("", "the date is missing"),
    (None, "the date is missing"),
    (1700000000, "the date is missing"),
])
def test_parse_date_refuses_invalid_dates_plainly(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_date(value)


def test_parse_date_refuses_dates_more_than_a_day_ahead() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_date("2026-01-01T20:00:00Z", now=now)
    with pytest.raises(ValueError, match="publication date '2026-01-03T00:00:00Z' is in the "
                                         "future"):
        parse_date("2026-01-03T00:00:00Z", what="publication date", now=now)


def test_parse_date_returns_utc() -> None:
    east = timezone(timedelta(hours=9))
    assert parse_date("2025-06-10T13:00:00+09:00").tzinfo == UTC
    assert parse_date(datetime(2025, 6, 10, 13, tzinfo=east).isoformat()) == \
        datetime(2025, 6, 10, 4, tzinfo=UTC)


def test_safe_link_only_gives_absolute_http_urls() -> None:
    assert safe_link("/x", "https://a.test/y") == "https://a.test/x"
    assert safe_link("javascript:alert(1)") is None
    assert safe_link("https://") is None
    assert safe_link(None) is None
