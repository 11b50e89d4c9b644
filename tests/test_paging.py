"""Pages of a story by cursor: `/api/v1/stories/<slug>?limit=&after=`, `/e/` and `/s/`.

Pages follow the story's order (pinned, rank, id), are disjoint and complete,
stay put while new posts arrive, survive the deletion of the post a cursor
names, and are each a response-cache entry of their own. Bad limits and
cursors get a 400 that says why, and are never cached.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from samembed import mongo
from samembed.asgi import cache_key
from samembed.embed import paging
from samembed.embed.cache import response_cache
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from tests.factories import make_post, make_story
from tests.test_embed import FINDS

pytestmark = pytest.mark.usefixtures("mongo_db")


@pytest.fixture
def client() -> Client:
    return Client()


def api(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"].startswith("public, max-age=10")
    return json.loads(response.content)


def walk(client: Client, url: str, bound: int = 100) -> list[list[str]]:
    """The post ids of every page from `url` on, following `next`."""
    pages: list[list[str]] = []
    next_url: str | None = url
    while next_url is not None and len(pages) < bound:
        body = api(client, next_url)
        pages.append([p["id"] for p in body["posts"]])
        next_url = body["next"]
    assert next_url is None, "the pages never ended"
    return pages


def story_order(story_id: Any) -> list[str]:
    return [str(p.id) for p in posts_repo.list_published(story_id, 10_000)]


def test_api_pages_are_disjoint_complete_and_in_story_order(client: Client) -> None:
    story = make_story("many", posts=57)
    for n in (3, 40):
        make_post(story, 1000 + n, text=f"pinned {n}", pinned=True)
    make_post(story, 2000, text="rejected", state="rejected")
    pages = walk(client, "/api/v1/stories/many?limit=10")
    assert [len(p) for p in pages] == [10] * 5 + [9]
    flat = [i for page in pages for i in page]
    assert len(set(flat)) == len(flat) == 59
    assert flat == story_order(story.id)
    first = api(client, "/api/v1/stories/many?limit=10")
    assert [p["text"] for p in first["posts"][:2]] == ["pinned 3", "pinned 40"]
    assert re.fullmatch(r"/api/v1/stories/many\?limit=10&after=[A-Za-z0-9_-]{60}", first["next"])


def test_posts_with_the_same_rank_are_neither_lost_nor_repeated(client: Client) -> None:
    story = make_story("ties")
    same = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    for n in range(23):
        make_post(story, n, posted_at=same if n % 3 else same - timedelta(minutes=n))
    pages = walk(client, "/api/v1/stories/ties?limit=4")
    flat = [i for page in pages for i in page]
    assert len(set(flat)) == len(flat) == 23
    assert flat == story_order(story.id)


def test_api_pages_stay_stable_while_new_posts_arrive(client: Client) -> None:
    story = make_story("busy", posts=30)
    before = story_order(story.id)
    first = api(client, "/api/v1/stories/busy?limit=10")
    # Newer posts arrive (at the top) and an editor pins one, between two pages.
    for n in range(5):
        make_post(story, 500 + n, text=f"new {n}", posted_at=datetime.now(UTC))
    make_post(story, 600, text="new and pinned", pinned=True)
    rest = walk(client, first["next"])
    seen = [p["id"] for p in first["posts"]] + [i for page in rest for i in page]
    assert seen == before
    # A new first page starts with them.
    response_cache().clear()
    top = api(client, "/api/v1/stories/busy?limit=10")["posts"]
    assert top[0]["text"] == "new and pinned"
    assert {p["text"] for p in top[1:6]} == {f"new {n}" for n in range(5)}


def test_a_cursor_naming_a_deleted_post_still_leads_on(client: Client) -> None:
    story = make_story("gone", posts=12)
    order = story_order(story.id)
    first = api(client, "/api/v1/stories/gone?limit=5")
    last = posts_repo.get_by_key(first["posts"][-1]["id"])
    assert last is not None and posts_repo.delete(last)
    second = api(client, first["next"])
    assert [p["id"] for p in second["posts"]] == order[5:10]


def test_a_renamed_story_keeps_its_cursors(client: Client) -> None:
    story = make_story("before", posts=8)
    first = api(client, "/api/v1/stories/before?limit=3")
    assert stories_repo.update(story, {"slug": "after"})
    moved = client.get(first["next"])
    assert moved.status_code == 301
    assert moved["Location"] == first["next"].replace("/before?", "/after?")
    second = api(client, moved["Location"])
    assert [p["id"] for p in second["posts"]] == story_order(story.id)[3:6]


def test_the_first_page_has_twenty_posts_and_a_next_link(client: Client) -> None:
    make_story("default", posts=25)
    body = api(client, "/api/v1/stories/default")
    assert len(body["posts"]) == 20
    assert body["next"].startswith("/api/v1/stories/default?after=")
    assert len(api(client, body["next"])["posts"]) == 5
    assert len(api(client, "/api/v1/stories/default?limit=100")["posts"]) == 25
    assert api(client, "/api/v1/stories/default?limit=100")["next"] is None


@pytest.mark.parametrize("limit", ["0", "-1", str(10**9), "abc", "", "1.5", "101", "٣"])
def test_a_bad_limit_is_refused_naming_the_range(client: Client, limit: str) -> None:
    make_story("limits", posts=3)
    for path in ("/api/v1/stories/limits", "/e/limits"):
        response = client.get(path, {"limit": limit})
        assert response.status_code == 400, (path, limit)
        assert response["Cache-Control"] == "no-store"
        assert "from 1 to 100" in response.content.decode()
    assert json.loads(client.get("/api/v1/stories/limits", {"limit": limit}).content)[
        "error"] == "bad_request"
    assert len(response_cache()) == 0


def test_forged_altered_and_foreign_cursors_are_refused(client: Client) -> None:
    mine = make_story("mine", posts=6)
    other = make_story("other", posts=6)
    theirs = api(client, "/api/v1/stories/other?limit=2")["next"].split("after=")[1]
    good = api(client, "/api/v1/stories/mine?limit=2")["next"].split("after=")[1]
    flipped = good[:30] + ("A" if good[30] != "A" else "B") + good[31:]
    forged = paging.encode(mine.id, paging.Position(False, 0.0, other.id))
    forged = forged[:-16] + "x" * 16
    response_cache().clear()
    cases = {"forged": forged, "altered": flipped, "junk": "not-a-cursor", "empty": "",
             "foreign": theirs}
    for name, after in cases.items():
        for path in ("/api/v1/stories/mine", "/e/mine", "/s/mine"):
            response = client.get(path, {"after": after})
            assert response.status_code == 400, (name, path)
            assert response["Cache-Control"] == "no-store"
            message = response.content.decode()
            assert "'after'" in message, message
            if name == "foreign":
                assert "another story" in message
    # None of them left anything in the cache.
    assert not [key for key in response_cache()._entries
                if any(bad and bad in key for bad in cases.values())]
    assert client.get("/api/v1/stories/mine", {"after": good}).status_code == 200


def test_a_repeated_known_parameter_is_refused(client: Client) -> None:
    make_story("twice", posts=3)
    response = client.get("/api/v1/stories/twice?limit=2&limit=3")
    assert response.status_code == 400
    assert "'limit' is given 2 times" in json.loads(response.content)["message"]


def test_each_page_is_one_indexed_query(client: Client) -> None:
    story = make_story("plan", posts=30)
    first = api(client, "/api/v1/stories/plan?limit=10")
    mongo.close()
    FINDS.finds.clear()
    FINDS.enabled = True
    try:
        api(client, first["next"])
    finally:
        FINDS.enabled = False
    assert FINDS.finds.count("posts") == 1
    cursor = paging.decode(first["next"].split("after=")[1])
    position = cursor.position
    for after in (None, (position.pinned, position.rank, position.id)):
        plan = (mongo.database()["posts"].find(posts_repo.page_filter(story.id, after))
                .sort(posts_repo.EMBED_ORDER).limit(11).explain())
        text = json.dumps(plan["queryPlanner"]["winningPlan"], default=str)
        assert "IXSCAN" in text and "story_state_order_id" in text and "COLLSCAN" not in text


def test_the_embed_shows_a_page_and_a_show_more_button(client: Client) -> None:
    make_story("feed", posts=26)
    body = client.get("/e/feed").content.decode()
    assert body.count('class="post') == 20
    more = re.search(r'<a class="show-more" href="([^"]+)" data-more="([^"]+)"', body)
    assert more is not None
    story_link, next_page = more.groups()
    assert re.fullmatch(r"/e/feed\?after=[A-Za-z0-9_-]{60}", next_page)
    assert story_link == "/s/feed?" + next_page.split("?")[1]
    second = client.get(next_page)
    assert second.status_code == 200 and second.content.count(b'class="post') == 6
    assert b'class="show-more"' not in second.content
    # The next page's URL is canonical: the fast path finds it in the cache.
    path, query = next_page.split("?")
    key = cache_key(path, query.encode())
    assert key == next_page and response_cache().peek(next_page) is not None


@pytest.mark.parametrize(("template", "shown", "paged"),
                         [("list", 20, True), ("grid", 20, True), ("carousel", 10, True),
                          ("ticker", 20, False), ("screen", 24, False)])
def test_each_template_has_its_own_page_size(client: Client, template: str, shown: int,
                                             paged: bool) -> None:
    make_story("sizes", posts=40)
    body = client.get(f"/e/sizes?template={template}").content.decode()
    ids = set(re.findall(r'data-post-id="([0-9a-f]{24})"', body))
    assert len(ids) == shown
    assert ('data-more="/e/sizes?template=' + template + "&amp;after=" in body) is paged


def test_a_page_size_of_a_snippet_keeps_to_its_pages(client: Client) -> None:
    make_story("sized", posts=12)
    body = client.get("/e/sized?template=grid&limit=5").content.decode()
    assert body.count('class="post') == 5
    more = re.search(r'data-more="([^"]+)"', body)
    assert more is not None
    next_page = more.group(1).replace("&amp;", "&")
    assert re.fullmatch(r"/e/sized\?template=grid&limit=5&after=[A-Za-z0-9_-]{60}", next_page)
    assert client.get(next_page).content.count(b'class="post') == 5


def test_the_default_page_size_asked_for_makes_no_entry_of_its_own(client: Client) -> None:
    make_story("canon", posts=3)
    plain = client.get("/e/canon?template=grid")
    same = client.get("/e/canon?template=grid&limit=20")
    assert same["ETag"] == plain["ETag"]
    assert sorted(response_cache()._entries) == ["/e/canon?template=grid"]


def test_the_story_page_has_older_posts_links_that_reach_everything(client: Client) -> None:
    story = make_story("paper", posts=45)
    seen: list[str] = []
    url: str | None = "/s/paper?utm_source=newsletter"
    pages = 0
    while url and pages < 10:
        response = client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        seen += re.findall(r'data-post-id="([0-9a-f]{24})"', body)
        found = re.search(r'<a href="([^"]+)" rel="next">Older posts', body)
        url = found.group(1) if found else None
        if pages:
            assert '<a href="/s/paper">' in body  # back to the newest
        pages += 1
    assert pages == 3
    assert seen == [str(i) for i in story_order(story.id)]
