"""The moderation desk's server side: JSON answers for in-place actions, undo,
search and filters that combine, bulk actions on everything matching."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from samembed.repositories import audit, sources
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Author, Media, Post
from samembed.repositories.sources import Source
from samembed.repositories.stories import Story
from tests.factories import make_post, make_story
from tests.test_curation import fresh, stored

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]
JSON = {"Accept": "application/json"}


@pytest.fixture
def story() -> Story:
    return make_story("desk")


def queue_texts(client: Client, story: Story, query: str) -> list[str]:
    page = client.get(f"/studio/stories/{story.id}/posts?{query}").content.decode()
    return re.findall(r'<div class="text"[^>]*>(.*?)</div>', page, re.S)


def test_an_action_asked_for_json_answers_with_the_card_counts_and_an_undo(
        ada: Client, story: Story) -> None:
    post = stored(story, 1, state="pending", text="Lanterns on the water")

    response = ada.post(f"/studio/posts/{post.id}/action",
                        {"action": "approve", "version": post.version, "state_view": "pending"},
                        headers=JSON)

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["ok"] and body["leaves"] and body["message"] == "Post by Author 1 approved."
    assert body["counts"] == {"pending": 0, "approved": 1, "rejected": 0}
    assert 'data-state="approved"' in body["row"]
    assert body["undo"] == {"url": f"/studio/posts/{post.id}/action", "action": "hold",
                            "version": str(post.version + 1)}

    undone = ada.post(body["undo"]["url"], {"action": "hold",
                                            "version": body["undo"]["version"]}, headers=JSON)
    assert undone.status_code == 200 and fresh(post).state == "pending"
    assert [e.action for e in audit.for_story(story.id)[:2]] == ["post.hold", "post.approve"]


def test_a_stale_action_asked_for_json_is_409_with_the_current_card(
        ada: Client, story: Story) -> None:
    post = stored(story, 1, state="pending")
    assert posts_repo.update(post, {"pinned": True})

    response = ada.post(f"/studio/posts/{post.id}/action",
                        {"action": "reject", "version": post.version, "state_view": "pending"},
                        headers=JSON)

    assert response.status_code == 409
    body = response.json()
    assert not body["ok"] and "changed this post meanwhile" in body["error"]
    assert "pinned" in body["row"] and not body["leaves"]
    assert fresh(post).state == "pending"


def test_a_removed_post_is_restored_exactly_even_after_its_story_was_archived(
        ada: Client, story: Story) -> None:
    made = make_post(story, 1, state="approved", text="Keep me", pinned=True,
                     media=(Media("image", "media:abc", 640, 480, "A kite"),))
    post = posts_repo.by_external_ids(story.id, made.source, [made.external_id])[
        made.external_id]
    removed = ada.post(f"/studio/posts/{post.id}/action",
                       {"action": "remove", "version": post.version}, headers=JSON).json()
    assert posts_repo.get_by_key(str(post.id)) is None
    current = stories_repo.get_by_key(str(story.id))
    assert current is not None and stories_repo.update(current, {"status": "archived"})

    restored = ada.post(removed["undo"]["url"], {"token": removed["undo"]["token"]}, headers=JSON)

    assert restored.status_code == 200, restored.content
    back = fresh(post)
    assert (back.text, back.pinned, back.media[0].alt, back.version) == (
        "Keep me", True, "A kite", post.version)
    assert audit.for_story(story.id)[0].action == "post.restore"
    again = ada.post(removed["undo"]["url"], {"token": removed["undo"]["token"]}, headers=JSON)
    assert again.status_code == 409 and "back already" in again.json()["error"]


@pytest.mark.parametrize("token", ["", "forged", "a" * 5000])
def test_a_forged_restore_is_refused(ada: Client, token: str) -> None:
    response = ada.post("/studio/posts/restore", {"token": token}, headers=JSON)
    assert response.status_code == 400 and response.json()["error"] == "This undo is not valid."


def test_search_and_filters_combine_and_stay_in_the_links(ada: Client, story: Story) -> None:
    make_post(story, 1, state="pending", text="Fireworks over the harbour", lang="en")
    make_post(story, 2, state="pending", text="Feu d'artifice sur le port", lang="fr")
    make_post(story, 3, state="pending", text="Fireworks, from the ferry", lang="en",
              media=(Media("image", "media:k", 10, 10, ""),))
    make_post(story, 4, state="pending", text="Tram times", lang="en-GB",
              author=Author("Vellhaven Transit", "@transit"))

    assert len(queue_texts(ada, story, "state=pending")) == 4
    assert len(queue_texts(ada, story, "state=pending&q=FIREWORKS")) == 2
    assert len(queue_texts(ada, story, "state=pending&q=fireworks&has_media=yes")) == 1
    assert len(queue_texts(ada, story, "state=pending&lang=en")) == 3  # en-GB included
    assert len(queue_texts(ada, story, "state=pending&author=transit")) == 1
    assert len(queue_texts(ada, story, "state=pending&q=.*")) == 0  # literal, not a pattern
    page = ada.get(f"/studio/stories/{story.id}/posts?state=pending&q=fireworks").content.decode()
    assert "2 matching" in page and "Reject all 2" in page
    assert 'href="?state=approved&amp;q=fireworks"' in page


@pytest.mark.parametrize("query", ["q=" + "x" * 10_000, "lang=not a language",
                                   "source=myspace", "has_media=maybe"])
def test_bad_filters_are_400_with_the_reason(ada: Client, story: Story, query: str) -> None:
    response = ada.get(f"/studio/stories/{story.id}/posts?state=pending&{query}")
    assert response.status_code == 400
    assert "Filters not applied" in response.content.decode()


def test_reject_all_matching_rejects_exactly_the_matching_posts_in_one_action(
        ada: Client, story: Story) -> None:
    for n in range(6):
        make_post(story, n, state="pending", text=("spam offer " if n % 2 else "real ") + str(n))
    make_post(story, 9, state="approved", text="spam offer already approved")

    response = ada.post(f"/studio/stories/{story.id}/posts/bulk?scope=matching",
                        {"action": "reject", "state_view": "pending", "q": "spam"})

    assert response.status_code == 302
    assert response["Location"].endswith("state=pending&q=spam")
    texts = {p.text: p.state for s in ("pending", "approved", "rejected")
             for p in posts_repo.list_for_studio(story.id, s, 0, 50)}
    assert texts == {"real 0": "pending", "spam offer 1": "rejected", "real 2": "pending",
                     "spam offer 3": "rejected", "real 4": "pending",
                     "spam offer 5": "rejected", "spam offer already approved": "approved"}
    page = ada.get(response["Location"]).content.decode()
    assert "3 posts rejected." in page
    assert len([e for e in audit.for_story(story.id) if e.action == "post.reject"]) == 3


def test_bulk_selected_asked_for_json_lists_what_it_changed(ada: Client, story: Story) -> None:
    posts: list[Post] = [stored(story, n, state="pending") for n in range(3)]
    refs = [f"{p.id}:{p.version}" for p in posts[:2]]

    body = ada.post(f"/studio/stories/{story.id}/posts/bulk",
                    {"action": "approve", "post": refs}, headers=JSON).json()

    assert body["ok"] and sorted(body["done"]) == sorted(str(p.id) for p in posts[:2])
    assert body["message"] == "2 posts approved."
    assert body["counts"]["approved"] == 2


def test_the_story_list_shows_counts_a_picture_and_failing_sources(ada: Client) -> None:
    story = make_story("listed", title="Harbour night")
    make_post(story, 1, state="pending")
    make_post(story, 2, state="pending")
    make_post(story, 3, state="approved", media=(Media("image", "media:cover-key", 640, 480,
                                                       "A kite"),))
    make_post(story, 4, state="rejected")
    added = sources.add(Source(story_id=story.id, kind="mastodon", label="#harbour",
                               settings={"instance": "https://x.example", "hashtag": "h"}))
    assert sources.save(added, failures=2, last_error="The address x.example could not "
                        "be found. Check the spelling.") is not None

    page = ada.get("/studio/").content.decode()

    row = page[page.index("Harbour night"):]
    row = row[:row.index("</li>")]
    assert "<b>2</b> to review" in row and "<b>1</b> approved" in row
    assert "<b>1</b> rejected" in row
    assert "/thumb/cover-key.jpg" in page
    assert "1 failing" in row
    queue = ada.get(f"/studio/stories/{story.id}/posts").content.decode()
    assert "1 failing" in queue
