"""The audit trail page: sentences people read, filters in the URL, paging and CSV."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from samembed.repositories import audit
from samembed.repositories import posts as posts_repo
from samembed.repositories.stories import Story
from samembed.studio import actions
from samembed.studio import audit as audit_page
from tests.factories import make_post, make_story

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


def editor_client(username: str, first_name: str) -> Client:
    user = User.objects.create_user(username, password="a long enough password",
                                    first_name=first_name)
    user.groups.add(Group.objects.get(name="editors"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ana() -> Client:
    return editor_client("ana", "Ana")


@pytest.fixture
def ben() -> Client:
    return editor_client("ben", "Ben")


@pytest.fixture
def story() -> Story:
    return make_story("trams")


def trail(client: Client, story: Story, query: str = "") -> str:
    response = client.get(f"/studio/stories/{story.id}/audit{query}")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    # Sentences only: the visible text of the trail, tags removed, entities decoded.
    body = response.content.decode()
    trail_html = body.split('<ol class="audit-trail">', 1)[1].split("</ol>", 1)[0]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", trail_html)).split())


def act(client: Client, post_id: object, action: str) -> None:
    post = posts_repo.get_by_key(str(post_id))
    assert post is not None
    response = client.post(f"/studio/posts/{post.id}/action",
                           {"action": action, "version": post.version})
    assert response.status_code == 302, response.content.decode()[:500]


def story_form(story: Story, **fields: object) -> dict[str, object]:
    """The story form as it was when `story` was read, with `fields` changed."""
    return {"title": story.title, "slug": story.slug, "description": story.description,
            "default_template": story.default_template, "accent": story.theme.accent,
            "background": story.theme.background or "", "font": story.theme.font,
            "mode": story.theme.mode, "allowed_domains": "\n".join(story.allowed_domains),
            "version": story.version, "base": actions.sign_base(story), **fields}


def save_title(client: Client, story: Story, title: str) -> None:
    response = client.post(f"/studio/stories/{story.id}/", story_form(story, title=title))
    assert response.status_code == 302, response.content.decode()[:500]


def test_a_run_of_approvals_reads_as_one_sentence_naming_the_posts(ana: Client,
                                                                   story: Story) -> None:
    posts = [make_post(story, n, state="pending", text=f"Trams on route {n} are running late "
                       "again this morning") for n in range(12)]
    stored = posts_repo.list_for_studio(story.id, "pending", 0, 20)
    for post in stored:
        act(ana, post.id, "approve")

    text = trail(ana, story)
    assert "Ana approved 12 posts." in text
    assert "approved ‘Trams on route 3 are running late again…’ by Author 3" in text
    assert str(stored[0].id) not in text and "post.approve" not in text
    assert len(posts) == 12


def test_a_title_change_and_a_move_are_sentences_without_raw_values(ana: Client,
                                                                    story: Story) -> None:
    make_post(story, 1, text="First")
    make_post(story, 2, text="Second post")  # older, so shown after the first
    save_title(ana, story, "Trams tonight")
    stored = posts_repo.list_published(story.id, 5)[-1]
    response = ana.post(f"/studio/posts/{stored.id}/move",
                        {"direction": "up", "version": stored.version})
    assert response.status_code == 302
    act(ana, posts_repo.list_published(story.id, 5)[0].id, "pin")

    text = trail(ana, story)
    assert "Ana changed the title from ‘Story trams’ to ‘Trams tonight’." in text
    assert "Ana moved ‘Second post’ by Author 2 to position 1." in text
    assert "Ana pinned ‘Second post’ by Author 2." in text
    assert "rank" not in text and not re.search(r"-?\d{6,}\.\d", text)


def test_a_removed_post_is_named_by_the_text_it_had(ana: Client, story: Story) -> None:
    make_post(story, 1, text="Gone soon, a post about trams")
    post = posts_repo.list_published(story.id, 1)[0]
    act(ana, post.id, "remove")
    assert "Ana removed ‘Gone soon, a post about trams’." in trail(ana, story)


def test_a_conflict_is_shown_as_one_with_both_values(ana: Client, ben: Client,
                                                     story: Story) -> None:
    save_title(ana, story, "Ana's title")
    stale = story_form(story, title="Ben's title")
    assert ben.post(f"/studio/stories/{story.id}/", stale).status_code == 409

    response = ana.get(f"/studio/stories/{story.id}/audit")
    assert 'class="audit-line audit-conflict"' in response.content.decode()
    text = trail(ana, story)
    assert ("Conflict Ben's save conflicted with a colleague's (title): nothing was "
            "overwritten.") in text
    assert "title: theirs ‘Ana's title’, Ben's ‘Ben's title’" in text


def test_booleans_and_lists_in_rules_read_as_words(ana: Client, story: Story) -> None:
    response = ana.post(f"/studio/stories/{story.id}/rules", {
        "version": "0", "auto_approve": "on", "skip_replies": "on", "hold_sensitive": "on",
        "daily_cap": "0", "blocked_words": "spoiler\nfree money"})
    assert response.status_code == 302
    text = trail(ana, story)
    assert "Ana changed the moderation rules." in text
    assert "turned automatic approval on" in text and "turned skip reposts off" in text
    assert "set the blocked words to ‘spoiler’, ‘free money’" in text
    assert "True" not in text and "[" not in text


def test_filters_by_person_and_action_combine_and_stay_in_links(ana: Client, ben: Client,
                                                                 story: Story) -> None:
    for n in range(3):
        make_post(story, n, state="pending", text=f"Pending {n}")
    pending = posts_repo.list_for_studio(story.id, "pending", 0, 10)
    act(ana, pending[0].id, "approve")
    act(ben, pending[1].id, "approve")
    act(ana, pending[2].id, "reject")

    both = trail(ana, story, "?person=ana&action=approve")
    assert "Ana approved ‘Pending" in both
    assert "Ben" not in both.replace("Ben (ben)", "") and "rejected" not in both
    assert "Ana rejected" in trail(ana, story, "?person=ana&action=reject")
    assert "Ben approved" in trail(ana, story, "?person=ben")
    page = ana.get(f"/studio/stories/{story.id}/audit?person=ana&action=approve").content.decode()
    assert 'href="?person=ana&amp;action=approve&amp;format=csv"' in page
    assert '<option value="approve" selected>' in page
    nothing = trail(ana, story, "?person=ben&action=reject")
    assert "Nothing matches these filters." in nothing


def test_an_unknown_action_filter_says_so_and_shows_everything(ana: Client,
                                                               story: Story) -> None:
    save_title(ana, story, "Renamed")
    response = ana.get(f"/studio/stories/{story.id}/audit?action=%24where&page=abc")
    body = response.content.decode()
    assert response.status_code == 200 and "Unknown action filter" in body
    assert "Ana changed the title" in unescape(body)


def test_the_trail_pages_fifty_lines_at_a_time(ana: Client, story: Story) -> None:
    for n in range(55):
        audit.record(story.id, "ana", "screen.pause" if n % 2 else "screen.resume", {})
    first = ana.get(f"/studio/stories/{story.id}/audit").content.decode()
    assert first.count('<li class="audit-line') == 50 and 'rel="next"' in first
    second = ana.get(f"/studio/stories/{story.id}/audit?page=2").content.decode()
    assert second.count('<li class="audit-line') == 5 and 'rel="prev"' in second
    assert 'rel="next"' not in second


def test_the_csv_export_is_filtered_named_safely_and_defuses_formulas(ana: Client) -> None:
    story = make_story("Trams/../=evil")
    make_post(story, 1, state="pending", text="=HYPERLINK(\"https://evil.example\",\"x\")")
    make_post(story, 2, state="pending", text="Plain text")
    for post in posts_repo.list_for_studio(story.id, "pending", 0, 10):
        act(ana, post.id, "approve")
    audit.record(story.id, "ana", "screen.pause", {})

    response = ana.get(f"/studio/stories/{story.id}/audit?format=csv&action=approve")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="audit-trams-evil-\d{8}\.csv"',
                        response["Content-Disposition"])
    rows = list(csv.reader(io.StringIO(response.content.decode().lstrip("\ufeff"))))
    assert rows[0][:4] == ["When (UTC)", "Who", "Action", "What happened"]
    assert len(rows) == 3  # the header and the two approvals; the pause is filtered out
    excerpts = {row[7] for row in rows[1:]}
    assert "Plain text" in excerpts
    assert any(e.startswith("'=HYPERLINK") for e in excerpts)
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


@pytest.mark.parametrize(("cell", "safe"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=x", "'\t=x"), ("Plain", "Plain"), ("", ""),
])
def test_a_cell_starting_like_a_formula_gets_a_quote(cell: str, safe: str) -> None:
    assert audit_page.safe_cell(cell) == safe


def test_the_trail_of_another_story_or_a_bad_id_is_404(ana: Client) -> None:
    assert ana.get("/studio/stories/000000000000000000000000/audit").status_code == 404
    assert ana.get("/studio/stories/nope/audit?format=csv").status_code == 404


def test_the_remotes_commands_and_a_refused_post_action_read_as_sentences(
    ana: Client,
) -> None:
    live_story = make_story("remote-trail", live=True)
    make_post(live_story, 1, text="Fog over the harbour this morning")
    post = posts_repo.list_published(live_story.id, 1)[0]
    remote = f"/studio/stories/{live_story.id}/remote/command"
    json_answer = {"Accept": "application/json"}
    assert ana.post(remote, {"command": "pause", "control_version": "0"},
                    headers=json_answer).status_code == 200
    assert ana.post(remote, {"command": "mode", "mode": "spotlight", "control_version": "1"},
                    headers=json_answer).status_code == 200
    assert ana.post(remote, {"command": "hide", "post": str(post.id),
                             "post_version": str(post.version)},
                    headers=json_answer).status_code == 200
    assert ana.post(remote, {"command": "unhide", "post": str(post.id),
                             "post_version": str(post.version + 1)},
                    headers=json_answer).status_code == 200
    # A press from a page that showed an older version of the post.
    refused = ana.post(f"/studio/posts/{post.id}/action",
                       {"action": "pin", "version": str(post.version)})
    assert refused.status_code == 409

    text = trail(ana, live_story)
    assert "Ana paused the screens." in text
    assert "Ana switched the screens to one post at a time." in text
    assert "Ana hid ‘Fog over the harbour this morning’ by Author 1 on every screen." in text
    assert ("Ana brought ‘Fog over the harbour this morning’ by Author 1 back to the "
            "screens.") in text
    assert ("Conflict Ana tried to pin ‘Fog over the harbour this morning’ by Author 1, but "
            "it had changed meanwhile: not applied.") in text
