"""The push API: token, strict schema, limits, idempotence, moderation, media copied later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from samembed import mongo
from samembed.embedded_db import EmbeddedDB, free_port
from samembed.ingest import pipeline
from samembed.repositories import ensure_indexes, sources
from samembed.repositories import posts as posts_repo
from samembed.repositories.sources import Rules
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.image_host import ImageHost

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

TOKEN = "push-token-for-tests-0123456789"  # noqa: S105 - a test fixture
client = Client()


@pytest.fixture
def story() -> Story:
    story = make_story("pushed")
    sources.set_push_token(story.id, TOKEN)
    return story


def item(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"ext-{n}", "text": f"Pushed post {n} https://example.org/{n}",
            "created_at": "2026-11-30T12:00:00Z", "author": {"name": "Brand desk"},
            **fields}


def push(body: Any, token: str | None = TOKEN, slug: str = "pushed", raw: bytes | None = None,
         content_type: str = "application/json") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(f"/api/v1/stories/{slug}/posts",
                       raw if raw is not None else json.dumps(body),
                       content_type=content_type, headers=headers)


def stored(story: Story, state: str = "pending") -> list[posts_repo.Post]:
    return posts_repo.list_for_studio(story.id, state, 0, 500)


def test_it_accepts_a_batch_and_holds_posts_for_review(story: Story) -> None:
    response = push({"posts": [item(1), item(2, lang="pt")]})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() | {} == response.json()
    assert (response.json()["received"], response.json()["new"], response.json()["held"]) == (
        2, 2, 2)
    posts = stored(story)
    assert sorted(p.external_id for p in posts) == ["ext-1", "ext-2"]
    assert posts[0].source == "push" and posts[0].reason == "Waiting for review."
    assert [e.kind for e in posts[0].entities] == ["url"]


def test_the_same_ids_again_update_instead_of_duplicating(story: Story) -> None:
    push({"posts": [item(1), item(2)]})
    again = push({"posts": [item(1), item(2, text="Corrected text")]})

    assert again.status_code == 200
    assert (again.json()["new"], again.json()["updated"], again.json()["unchanged"]) == (0, 1, 1)
    assert sorted(p.text for p in stored(story)) == ["Corrected text",
                                                   "Pushed post 1 https://example.org/1"]


def test_an_approved_push_reaches_the_embed(story: Story) -> None:
    sources.save_rules(story.id, Rules(auto_approve=True), 0)
    assert push({"posts": [item(7, text="Live from the stage")]}).json()["approved"] == 1
    assert "Live from the stage" in client.get("/e/pushed").content.decode()


@pytest.mark.parametrize(("token", "message"), [
    (None, "Authorization: Bearer"),
    ("", "Authorization: Bearer"),
    ("wrong-token", "wrong push token"),
])
def test_a_missing_or_wrong_token_is_401(story: Story, token: str | None,
                                         message: str) -> None:
    response = push({"posts": [item(1)]}, token=token)
    assert response.status_code == 401 and message in response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert stored(story) == []


def test_a_story_without_a_token_refuses_every_token() -> None:
    make_story("tokenless")
    assert push({"posts": [item(1)]}, slug="tokenless").status_code == 401


def test_an_unknown_story_is_404() -> None:
    assert push({"posts": [item(1)]}, slug="nope").status_code == 404


@pytest.mark.parametrize(("body", "message"), [
    ({"posts": [item(1, text={"$gt": ""})]}, "text: must be a string"),
    ({"posts": [item(1, **{"$where": "1"})]}, "may not start with $"),
    ({"posts": [item(1, author={"name": "x", "$ne": 1})]}, "may not start with $"),
    ({"posts": [item(1, id={"$gt": ""})]}, "id: must be a string"),
    ({"posts": [item(1, created_at="yesterday")]}, "not an ISO 8601 date"),
    ({"posts": [item(1, created_at="2026-11-30T12:00:00")]}, "time zone"),
    ({"posts": [item(1, created_at="1970-01-01T00:00:00Z")]}, "not plausible"),
    ({"posts": [item(1, colour="red")]}, "colour: unknown field"),
    ({"posts": [item(1, text="x" * 10_001)]}, "longer than 10000"),
    ({"posts": [item(1, media=[{"url": "https://a.test/1.jpg"}] * 5)]}, "at most 4"),
    ({"posts": [item(1, author={})]}, "author.name: required"),
    ({"posts": [item(1, sensitive="yes")]}, "true or false"),
    ({"posts": []}, "at least one post"),
    ({"items": []}, "unknown field"),
    ({"posts": [item(n) for n in range(101)]}, "at most 100"),
    ([item(1), 5], "must be an object"),
])
def test_bad_batches_are_400_and_store_nothing(story: Story, body: Any, message: str) -> None:
    response = push(body)
    assert response.status_code == 400, response.content
    assert message in json.dumps(response.json(), ensure_ascii=False)
    assert stored(story) == []


def test_one_bad_post_refuses_the_whole_batch_and_says_which(story: Story) -> None:
    response = push({"posts": [item(1), item(2, created_at="soon"), item(3)]})
    assert response.status_code == 400
    assert response.json()["posts"] == [
        {"index": 1, "id": "ext-2", "error": "created_at: 'soon' is not an ISO 8601 date"}]
    assert stored(story) == []


@pytest.mark.parametrize(("raw", "content_type", "status"), [
    (b'{"posts": [', "application/json", 400),
    (b"\xff\xfe{}", "application/json", 400),
    (b"posts=1", "application/x-www-form-urlencoded", 415),
    (b"x" * (1024 * 1024 + 1), "application/json", 413),
])
def test_malformed_or_oversized_bodies_are_refused(story: Story, raw: bytes, content_type: str,
                                                   status: int) -> None:
    assert push(None, raw=raw, content_type=content_type).status_code == status
    assert stored(story) == []


def test_html_and_script_links_in_pushed_text_stay_inert(story: Story) -> None:
    sources.save_rules(story.id, Rules(auto_approve=True), 0)
    text = '<script>alert(1)</script><a href="javascript:alert(2)">click</a> javascript:alert(3)'
    assert push({"posts": [item(1, text=text, url="javascript:alert(4)")]}).status_code == 200

    post = stored(story, "approved")[0]
    assert post.entities == () and post.permalink is None
    html = client.get("/e/pushed").content.decode()
    assert "<script>alert(1)" not in html and 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_other_methods_are_405(story: Story) -> None:
    assert client.get("/api/v1/stories/pushed/posts").status_code == 405


def test_pushed_images_are_copied_by_the_ingest_loop(story: Story,
                                                     image_host: ImageHost) -> None:
    sources.save_rules(story.id, Rules(auto_approve=True), 0)
    push({"posts": [item(1, media=[{"url": "http://images.test/kite.jpg", "alt": "A kite"}],
                         author={"name": "Desk", "avatar_url": "http://images.test/kite.jpg"})]})
    waiting = stored(story, "approved")[0]
    assert waiting.media_pending and waiting.media[0].url == ""
    assert image_host.paths == []
    assert posts_repo.list_published(story.id, 10)[0].media == ()

    assert pipeline.copy_pending() == 1

    copied = stored(story, "approved")[0]
    assert not copied.media_pending and copied.media[0].url.startswith("media:")
    assert copied.media[0].alt == "A kite" and copied.author.avatar_url == copied.media[0].url
    assert "/img/" in client.get("/e/pushed").content.decode()
    assert image_host.paths == ["/kite.jpg"]  # the avatar is the same image: fetched once


# ---- bad input that once got a 500 -------------------------------------------------

# Each as the JSON escape a client would send: Python's json decodes them to strings
# that UTF-8 (and so BSON) cannot encode, or to characters Unicode reserves.
UNENCODABLE = {"a lone high surrogate": r"\ud800", "a lone low surrogate": r"\udc00",
               "a reversed pair": r"\udc00\ud800", "U+FFFE": r"\ufffe", "U+FFFF": r"\uffff"}
TEXT_FIELDS = {"id": ("id",), "text": ("text",), "author.name": ("author", "name"),
               "author.handle": ("author", "handle"), "content_warning": ("content_warning",),
               "media[0].alt": ("media", 0, "alt")}
PLACEHOLDER = "@@bad@@"


def with_bad_text(field: tuple[str | int, ...], escape: str) -> bytes:
    post = item(1, author={"name": "Brand desk", "handle": "desk"}, content_warning="cw",
                media=[{"url": "https://images.example.org/a.jpg", "alt": "A kite"}])
    target: Any = post
    for step in field[:-1]:
        target = target[step]
    target[field[-1]] = f"Before {PLACEHOLDER} after"
    return json.dumps({"posts": [post]}).replace(PLACEHOLDER, escape).encode()


def deep(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return ('{"posts": ' + opener * depth + closer * depth + "}").encode()


@pytest.mark.parametrize("kind", UNENCODABLE)
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_unencodable_text_in_any_field_is_400_naming_the_field(story: Story, kind: str,
                                                               field: str) -> None:
    response = push(None, raw=with_bad_text(TEXT_FIELDS[field], UNENCODABLE[kind]))

    assert response.status_code == 400, response.content
    error = response.json()["posts"][0]
    assert error["index"] == 0 and error["error"].startswith(f"{field}: ")
    assert "surrogate" in error["error"] or "noncharacter" in error["error"]
    assert stored(story) == []


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a": ', "}")])
def test_json_nested_a_thousand_deep_is_400_naming_the_limit(story: Story, opener: str,
                                                             closer: str) -> None:
    response = push(None, raw=deep(1000, opener, closer))

    assert response.status_code == 400
    assert "nesting deeper than 32 levels" in response.json()["error"]
    assert stored(story) == []


def test_nesting_within_the_limit_and_brackets_in_strings_are_not_refused(
        story: Story) -> None:
    text = "[" * 100 + "{ not nesting } " + "]" * 100
    response = push({"posts": [item(1, text=text)]})
    assert response.status_code == 200 and [p.text for p in stored(story)] == [text]
    assert "nesting" not in push(None, raw=deep(31)).json()["error"]


def import_file(ada: Client, story: Story, name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return ada.post(f"/studio/stories/{story.id}/import",
                    {"file": SimpleUploadedFile(name, data)})


@pytest.mark.parametrize("kind", UNENCODABLE)
@pytest.mark.parametrize("field", ["id", "text", "author.name"])
def test_an_import_with_unencodable_text_is_400_naming_the_field(
        ada: Client, story: Story, kind: str, field: str) -> None:
    response = import_file(ada, story, "posts.json",
                           with_bad_text(TEXT_FIELDS[field], UNENCODABLE[kind]))

    page = response.content.decode()
    assert response.status_code == 400 and "Nothing imported" in page
    assert f"{field}: " in page and ("surrogate" in page or "noncharacter" in page)
    assert stored(story) == []


@pytest.mark.parametrize("character", ["\ufffe", "\uffff"])
def test_a_csv_import_with_a_noncharacter_is_400_naming_the_field(
        ada: Client, story: Story, character: str) -> None:
    data = ("id,text,created_at,author_name\n"
            f"c1,Hi {character},2026-01-01T00:00:00Z,Desk\n").encode()
    response = import_file(ada, story, "posts.csv", data)

    assert response.status_code == 400 and "text: " in response.content.decode()
    assert "noncharacter" in response.content.decode() and stored(story) == []


@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a": ', "}")])
def test_an_import_nested_a_thousand_deep_is_400_naming_the_limit(
        ada: Client, story: Story, opener: str, closer: str) -> None:
    response = import_file(ada, story, "posts.json", deep(1000, opener, closer))

    assert response.status_code == 400
    assert "nesting deeper than 32 levels" in response.content.decode()
    assert stored(story) == []


# ---- while the database is away ----------------------------------------------------

@pytest.fixture
def away_db(tmp_path: Path) -> Iterator[EmbeddedDB]:
    """A database of this test's own with a story and a push token, then stopped."""
    db = EmbeddedDB(tmp_path / "db", free_port())
    db.start()
    with override_settings(MONGODB_URI=db.uri, MONGODB_READ_TIMEOUT_MS=300):
        mongo.close()
        try:
            ensure_indexes()
            story = make_story("pushed")
            sources.set_push_token(story.id, TOKEN)
            db.stop()
            yield db
        finally:
            db.stop()
            mongo.close()


def test_a_push_while_the_database_is_away_is_503_with_retry_after(
        away_db: EmbeddedDB) -> None:
    response = push({"posts": [item(1)]})

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/json"
    assert "unavailable" in response.json()["error"]
    assert response["Cache-Control"] == "private, no-store"


def test_the_studio_while_the_database_is_away_is_503_with_retry_after(
        ada: Client, away_db: EmbeddedDB) -> None:
    for path in ("/studio/", "/api/v1/stories/pushed"):
        response = ada.get(path)
        assert response.status_code == 503, path
        assert response["Retry-After"] == "5" and "unavailable" in response.content.decode()


def test_other_errors_are_not_mistaken_for_an_outage() -> None:
    from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError

    from samembed.repositories.common import is_unavailable

    assert is_unavailable(ServerSelectionTimeoutError("no servers"))
    assert not is_unavailable(DuplicateKeyError("E11000"))
    assert not is_unavailable(ValueError("a bug"))
