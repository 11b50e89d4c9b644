"""Audit entries are atomic with the change they describe, and every conflict is audited.

The failure between the change and its entry is made real, not patched: the audit
collection is given a validator that refuses every document, so the entry's insert
fails on the server exactly as it would if the process died between the two writes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client
from pymongo.errors import WriteError

from samembed import mongo
from samembed.repositories import audit, ensure_indexes
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Post
from samembed.repositories.stories import Story
from samembed.studio import actions
from samembed.studio.forms import story_values
from tests.factories import make_post, make_story

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


def stored(story: Story, n: int, state: str) -> Post:
    """A post of `story` as stored (with its id and version)."""
    make_post(story, n, state=state)
    return next(p for p in posts_repo.list_for_studio(story.id, state, 0, 100)
                if p.external_id == f"{story.slug}-{n}")


@pytest.fixture
def audit_refuses() -> Iterator[None]:
    """The audit collection refuses every insert until the test ends."""
    mongo.database().command("collMod", audit.COLLECTION, validator={
        "$jsonSchema": {"bsonType": "object", "required": ["no-such-field"]}})
    try:
        yield
    finally:
        ensure_indexes()


def test_a_story_save_whose_audit_entry_fails_is_not_applied(audit_refuses: None) -> None:
    story = make_story("atomic-save", title="Before")
    values = story_values(story)

    with pytest.raises(WriteError):
        actions.save_story("ada", story, actions.Base(story.version, values),
                           {**values, "title": "After"})

    after = stories_repo.get(story.id)
    assert after is not None
    assert (after.title, after.version) == ("Before", story.version)


def test_a_post_action_whose_audit_entry_fails_leaves_the_post_as_it_was(
        ada: Client, audit_refuses: None) -> None:
    story = make_story("atomic-pin")
    post = stored(story, 1, "approved")
    ada.raise_request_exception = False

    response = ada.post(f"/studio/posts/{post.id}/action",
                        {"action": "pin", "version": str(post.version)})

    assert response.status_code == 500
    after = posts_repo.get_by_key(str(post.id))
    assert after is not None
    assert (after.pinned, after.version) == (False, post.version)


def test_an_applied_post_action_has_exactly_one_entry(ada: Client) -> None:
    story = make_story("atomic-ok")
    post = stored(story, 1, "approved")

    response = ada.post(f"/studio/posts/{post.id}/action",
                        {"action": "pin", "version": str(post.version)})

    assert response.status_code == 302
    entries = audit.for_story(story.id, post_id=post.id)
    assert [(e.action, e.outcome, e.changes) for e in entries] == [
        ("post.pin", "applied", {"pinned": {"before": False, "after": True}})]


def test_a_bulk_action_audits_the_posts_that_changed_meanwhile_as_conflicts(
        ada: Client) -> None:
    story = make_story("atomic-bulk")
    fresh = stored(story, 1, "pending")
    stale = stored(story, 2, "pending")
    assert posts_repo.update(stale, {"state": "rejected"})

    response = ada.post(f"/studio/stories/{story.id}/posts/bulk", {
        "action": "approve", "state_view": "pending",
        "post": [f"{fresh.id}:{fresh.version}", f"{stale.id}:{stale.version}"]})

    assert response.status_code == 302
    outcomes = {(e.post_id, e.action, e.outcome) for e in audit.for_story(story.id)}
    assert outcomes == {(fresh.id, "post.approve", "applied"),
                        (stale.id, "post.approve", "conflict")}


def test_a_remote_hide_that_lost_to_another_change_is_audited_as_a_conflict(
        ada: Client) -> None:
    story = make_story("atomic-remote", live=True)
    post = stored(story, 1, "approved")
    assert posts_repo.update(post, {"pinned": True})

    response = ada.post(f"/studio/stories/{story.id}/remote/command",
                        {"command": "hide", "post": str(post.id),
                         "post_version": str(post.version)},
                        headers={"Accept": "application/json"})

    assert response.status_code == 409
    assert response.json()["ok"] is False
    entries = audit.for_story(story.id)
    assert [(e.action, e.outcome, e.post_id) for e in entries] == [
        ("post.hide", "conflict", post.id)]


def test_a_remote_command_that_lost_to_another_is_audited_as_a_conflict(
        ada: Client) -> None:
    story = make_story("atomic-screen", live=True)

    response = ada.post(f"/studio/stories/{story.id}/remote/command",
                        {"command": "pause", "control_version": "7"},
                        headers={"Accept": "application/json"})

    assert response.status_code == 409
    entries = audit.for_story(story.id)
    assert [(e.action, e.outcome) for e in entries] == [("screen.pause", "conflict")]
    after = stories_repo.get(story.id)
    assert after is not None and after.screen.paused is False
