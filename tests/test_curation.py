"""Curation: moderation queue, bulk actions, pins, order, captions, manual posts."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from samembed.embed.cache import response_cache
from samembed.repositories import audit
from samembed.repositories import posts as posts_repo
from samembed.repositories.posts import Media, Post
from samembed.repositories.stories import Story
from tests.factories import make_post, make_story

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture
def story() -> Story:
    return make_story("curated")


def fresh(post: Post) -> Post:
    current = posts_repo.get_by_key(str(post.id))
    assert current is not None
    return current


def stored(story: Story, n: int, **fields: object) -> Post:
    make_post(story, n, **fields)
    found = [p for state in ("pending", "approved", "rejected")
             for p in posts_repo.list_for_studio(story.id, state, 0, 100)
             if p.external_id == f"{story.slug}-{n}"]
    return found[0]


def embed_text(slug: str) -> str:
    response_cache().clear()
    return Client().get(f"/e/{slug}?template=list").content.decode()


def test_the_queue_lists_posts_by_state_with_counts(ada: Client, story: Story) -> None:
    stored(story, 1, state="pending", text="waiting for review")
    stored(story, 2, state="approved", text="already out")
    page = ada.get(f"/studio/stories/{story.id}/posts?state=pending").content.decode()
    assert "waiting for review" in page and "already out" not in page
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
    assert counts == {"pending": "1", "approved": "1", "rejected": "0"}
    assert ada.get(f"/studio/stories/{story.id}/posts?state=bogus").status_code == 200


def test_approving_a_post_puts_it_in_the_embed(ada: Client, story: Story) -> None:
    post = stored(story, 1, state="pending", text="fresh from the quay")
    assert "fresh from the quay" not in embed_text("curated")
    response = ada.post(f"/studio/posts/{post.id}/action",
                        {"action": "approve", "version": post.version})
    assert response.status_code == 302
    assert fresh(post).state == "approved"
    assert "fresh from the quay" in embed_text("curated")
    assert audit.for_story(story.id)[0].action == "post.approve"


def test_bulk_approve_skips_posts_that_changed_meanwhile(ada: Client, story: Story) -> None:
    posts = [stored(story, n, state="pending") for n in range(3)]
    posts_repo.update(posts[2], {"pinned": True})  # someone else touched it
    refs = [f"{p.id}:{p.version}" for p in posts] + ['{"$gt": ""}:1', "nonsense"]
    response = ada.post(f"/studio/stories/{story.id}/posts/bulk",
                        {"action": "approve", "post": refs})
    assert response.status_code == 302
    assert "done=" not in response["Location"]  # confirmations stay out of the URL
    page = ada.get(response["Location"]).content.decode()
    assert "2 posts approved. 3 had changed meanwhile and were left as they are." in page
    assert [fresh(p).state for p in posts] == ["approved", "approved", "pending"]
    trail = audit.for_story(story.id)
    assert sorted(str(e.post_id) for e in trail
                  if e.action == "post.approve" and e.outcome == "applied") == sorted(
        str(p.id) for p in posts[:2])
    # The attempt on the post that changed meanwhile is in the trail as a conflict.
    assert [e.post_id for e in trail if e.outcome == "conflict"] == [posts[2].id]


def test_pins_come_first_and_dragging_sets_the_order(ada: Client, story: Story) -> None:
    a, b, c = (stored(story, n, text=f"post {name}") for n, name in ((1, "A"), (2, "B"), (3, "C")))

    def order() -> list[str]:
        text = embed_text("curated")
        return sorted(("post A", "post B", "post C"), key=text.index)

    assert order() == ["post A", "post B", "post C"]
    # Drag C between A and B.
    ada.post(f"/studio/posts/{c.id}/move", {"version": c.version, "before": a.id, "after": b.id})
    assert order() == ["post A", "post C", "post B"]
    moved = audit.for_story(story.id)[0]
    assert moved.changes["position"] == {"before": 3, "after": 2}
    trail = ada.get(f"/studio/stories/{story.id}/audit").content.decode()
    assert "to position 2" in trail
    # Move B up one step (keyboard).
    b = fresh(b)
    ada.post(f"/studio/posts/{b.id}/move", {"version": b.version, "direction": "up"})
    assert order() == ["post A", "post B", "post C"]
    b = fresh(b)
    ada.post(f"/studio/posts/{b.id}/action", {"action": "pin", "version": b.version})
    assert order()[0] == "post B"


def test_an_edited_caption_is_shown_and_the_original_kept(ada: Client, story: Story) -> None:
    media = (Media("image", "/x.jpg", 10, 10, "a"),)
    post = stored(story, 1, text="orignal wiht typos", media=media)
    response = ada.post(f"/studio/posts/{post.id}/caption",
                        {"version": post.version, "caption": "Original, fixed. #tea",
                         "alt0": "A cup of tea"})
    assert response.status_code == 302
    shown = fresh(post)
    assert shown.text == "Original, fixed. #tea" and shown.original_text == "orignal wiht typos"
    assert shown.media[0].alt == "A cup of tea" and shown.original_alts == ("a",)
    body = embed_text("curated")
    assert "Original, fixed." in body and 'alt="A cup of tea"' in body
    # Collecting the post again refreshes the source's words, not the editor's caption.
    make_post(story, 1, text="orignal wiht typos (edited at source)", media=media)
    again = fresh(post)
    assert again.text == "Original, fixed. #tea"
    assert again.original_text == "orignal wiht typos (edited at source)"


def test_a_manual_post_appears_in_the_embed(ada: Client, story: Story) -> None:
    response = ada.post(f"/studio/stories/{story.id}/posts/new", {
        "text": "Hand-written <b>note</b> https://example.org/n", "author_name": "Desk",
        "author_handle": "@desk", "link": "https://example.org/n"})
    assert response.status_code == 302
    body = embed_text("curated")
    assert "Hand-written &lt;b&gt;note&lt;/b&gt;" in body
    assert 'href="https://example.org/n"' in body


@pytest.mark.parametrize(
    ("fields", "status"),
    [({"text": "", "author_name": "x"}, 400),
     ({"text": "hi", "author_name": ""}, 400),
     ({"text": "hi", "author_name": "x", "link": "javascript:alert(1)"}, 400),
     ({"text": "x" * 10_001, "author_name": "x"}, 400)],
)
def test_bad_manual_posts_are_refused(ada: Client, story: Story, fields: dict[str, str],
                                      status: int) -> None:
    response = ada.post(f"/studio/stories/{story.id}/posts/new", fields)
    assert response.status_code == status
    assert posts_repo.list_for_studio(story.id, "approved", 0, 10) == []


def test_removing_a_post_takes_it_out(ada: Client, story: Story) -> None:
    post = stored(story, 1, text="to be removed")
    ada.post(f"/studio/posts/{post.id}/action", {"action": "remove", "version": post.version})
    assert posts_repo.get_by_key(str(post.id)) is None
    assert "to be removed" not in embed_text("curated")


def test_a_stale_version_gets_the_conflict_page_and_changes_nothing(
    ada: Client, story: Story
) -> None:
    post = stored(story, 1, state="pending")
    ada.post(f"/studio/posts/{post.id}/action", {"action": "reject", "version": post.version})
    response = ada.post(f"/studio/posts/{post.id}/action",
                        {"action": "approve", "version": post.version})
    assert response.status_code == 409
    assert b"changed while you were looking" in response.content
    assert fresh(post).state == "rejected"


@pytest.mark.parametrize("fields", [{"action": "explode", "version": "1"},
                                    {"action": "approve"},
                                    {"action": "approve", "version": '{"$gt": 0}'}])
def test_bad_post_actions_are_refused(ada: Client, story: Story, fields: dict[str, str]) -> None:
    post = stored(story, 1, state="pending")
    assert ada.post(f"/studio/posts/{post.id}/action", fields).status_code == 400
    assert fresh(post).state == "pending"


def test_unknown_posts_and_stories_are_404(ada: Client) -> None:
    assert ada.post("/studio/posts/nope/action", {"action": "approve"}).status_code == 404
    assert ada.get("/studio/stories/0123456789abcdef01234567/posts").status_code == 404
