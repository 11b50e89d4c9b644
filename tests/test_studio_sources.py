"""Studio: moderation rules, push tokens and imports (sources' own pages: test_ingest.py)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from samembed.repositories import audit, sources
from samembed.repositories import posts as posts_repo
from samembed.repositories.stories import Story
from tests.factories import make_story

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture
def story() -> Story:
    return make_story("moderated")


def url(story: Story, tail: str) -> str:
    return f"/studio/stories/{story.id}/{tail}"


def rules_form(**fields: str) -> dict[str, str]:
    return {"version": "0", "skip_replies": "on", "hold_sensitive": "on", "daily_cap": "0",
            **fields}


def test_an_editor_saves_rules_and_they_show_on_the_page(ada: Client, story: Story) -> None:
    response = ada.post(url(story, "rules"), rules_form(
        auto_approve="on", blocked_words="spoiler\nfree money\nspoiler",
        allowed_accounts="@desk@example.social", languages="en\nPT", daily_cap="300"))

    assert response.status_code == 302
    page = ada.get(response["Location"])
    assert page.status_code == 200 and "Moderation rules saved" in page.content.decode()
    assert "free money" in page.content.decode()
    rules = sources.rules(story.id)
    assert (rules.auto_approve, rules.skip_reposts, rules.blocked_words, rules.languages,
            rules.daily_cap, rules.version) == (True, False, ("spoiler", "free money"),
                                                ("en", "pt"), 300, 1)
    assert [e.action for e in audit.for_story(story.id)] == ["rules.save"]


def test_rules_saved_by_someone_else_meanwhile_are_a_409(ada: Client, story: Story) -> None:
    assert ada.post(url(story, "rules"), rules_form()).status_code == 302
    stale = ada.post(url(story, "rules"), rules_form(auto_approve="on"))

    assert stale.status_code == 409 and "changed these rules" in stale.content.decode()
    assert sources.rules(story.id).auto_approve is False


@pytest.mark.parametrize(("fields", "message"), [
    ({"daily_cap": "-1"}, "whole number"),
    ({"daily_cap": '{"$gt": 0}'}, "whole number"),
    ({"languages": "english!"}, "Languages are codes"),
    ({"blocked_words": "\n".join(f"w{n}" for n in range(501))}, "At most 500"),
    ({"version": "abc"}, "missing its version"),
])
def test_bad_rules_are_400(ada: Client, story: Story, fields: dict[str, str],
                           message: str) -> None:
    response = ada.post(url(story, "rules"), rules_form(**fields))
    assert response.status_code == 400 and message in response.content.decode()
    assert sources.rules(story.id).version == 0


def test_a_push_token_is_shown_once_and_revoking_it_stops_pushes(ada: Client,
                                                                   story: Story) -> None:
    page = ada.post(url(story, "push-token"), {"action": "create"})
    token = re.search(r'<code class="token">([^<]+)</code>', page.content.decode())
    assert page.status_code == 200 and token
    body = json.dumps({"posts": [{"id": "1", "text": "Hi", "author": {"name": "Desk"},
                                  "created_at": "2026-11-30T10:00:00+01:00"}]})
    api = Client()

    def push() -> int:
        return api.post("/api/v1/stories/moderated/posts", body, content_type="application/json",
                        headers={"Authorization": f"Bearer {token.group(1)}"}).status_code

    assert push() == 200
    assert token.group(1) not in ada.get(url(story, "sources")).content.decode()
    assert ada.post(url(story, "push-token"), {"action": "revoke"}).status_code == 302
    assert push() == 401


CSV = ("id,text,created_at,author_name,author_handle,url,lang,sensitive\n"
       "a1,From the archive,2025-06-01T10:00:00Z,Archive desk,@archive,https://example.org/a1,en,\n"
       'a2,"Second, with a comma",2025-06-02T10:00:00Z,Archive desk,,,en,yes\n')


def test_an_editor_imports_a_csv_and_rules_apply(ada: Client, story: Story) -> None:
    response = ada.post(url(story, "import"), {
        "file": SimpleUploadedFile("archive.csv", CSV.encode(), content_type="text/csv")})

    assert response.status_code == 302
    assert "Imported 2 posts: 2 new" in ada.get(response["Location"]).content.decode()
    pending = posts_repo.list_for_studio(story.id, "pending", 0, 10)
    assert sorted(p.text for p in pending) == ["From the archive", "Second, with a comma"]
    held = next(p for p in pending if p.external_id == "a2")
    assert held.reason == "Held: marked sensitive at the source." and held.source == "import"
    queue = ada.get(url(story, "posts?state=pending")).content.decode()
    assert "Held: marked sensitive at the source." in queue

    again = ada.post(url(story, "import"), {
        "file": SimpleUploadedFile("archive.csv", CSV.encode(), content_type="text/csv")})
    assert "0 new" in ada.get(again["Location"]).content.decode()


def test_an_editor_imports_the_push_apis_json(ada: Client, story: Story) -> None:
    data = json.dumps([{"id": "j1", "text": "From JSON", "author": {"name": "Desk"},
                        "created_at": "2026-01-01T00:00:00Z"}]).encode()
    response = ada.post(url(story, "import"), {
        "file": SimpleUploadedFile("posts.json", data, content_type="application/json")})
    assert response.status_code == 302
    assert [p.text for p in posts_repo.list_for_studio(story.id, "pending", 0, 10)] == [
        "From JSON"]


@pytest.mark.parametrize(("name", "data", "message"), [
    ("bad.csv", b"id,colour\n1,red\n", "unknown columns colour"),
    ("bad.csv", b"id,text,created_at,author_name\n1,Hi,not a date,Desk\n",
     "not an ISO 8601 date"),
    ("bad.csv", "id,text\n1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
    ("bad.json", b'{"posts": [', "not valid JSON"),
    ("bad.json", b'{"posts": [{"id": {"$gt": ""}}]}', "id: must be a string"),
])
def test_a_bad_import_is_400_and_imports_nothing(ada: Client, story: Story, name: str,
                                                 data: bytes, message: str) -> None:
    response = ada.post(url(story, "import"), {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 400 and message in response.content.decode()
    assert posts_repo.count_by_state(story.id) == {"pending": 0, "approved": 0, "rejected": 0}


def test_people_outside_the_editors_group_cannot_change_rules(django_user_model: object,
                                                                story: Story) -> None:
    from django.contrib.auth.models import User
    outsider = Client()
    outsider.force_login(User.objects.create_user("eve", password="not an editor"))
    assert outsider.post(url(story, "rules"), rules_form(auto_approve="on")).status_code == 403
    assert sources.rules(story.id).version == 0
