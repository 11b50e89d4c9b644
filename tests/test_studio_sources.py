"""Studio: moderation rules, push tokens and imports (sources' own pages: test_ingest.py)."""

from __future__ import annotations

import html
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


def test_rules_saved_meanwhile_without_the_forms_base_are_a_409(ada: Client,
                                                                story: Story) -> None:
    assert ada.post(url(story, "rules"), rules_form()).status_code == 302
    stale = ada.post(url(story, "rules"), rules_form(auto_approve="on"))

    assert stale.status_code == 409 and "changed these rules" in stale.content.decode()
    assert sources.rules(story.id).auto_approve is False


def shown_rules_form(client: Client, story: Story) -> dict[str, str]:
    """The rules form as the page shows it: hidden fields, ticked boxes and values."""
    page = client.get(url(story, "sources")).content.decode()
    form = page[page.index('action="/studio/stories/%s/rules"' % story.id):]
    form = form[:form.index("</form>")]
    fields = {k: html.unescape(v) for k, v in
              re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)}
    fields |= {k: "on" for k in re.findall(r'name="(\w+)" checked', form)}
    fields |= {k: html.unescape(v) for k, v in
               re.findall(r'<textarea id="\w+" name="(\w+)"[^>]*>([^<]*)</textarea>', form)}
    cap = re.search(r'name="daily_cap" inputmode="numeric" value="(\d+)"', form)
    assert cap is not None
    return fields | {"daily_cap": cap.group(1)}


def test_two_editors_blocking_words_at_once_keep_both(ada: Client, grace: Client,
                                                      story: Story) -> None:
    assert ada.post(url(story, "rules"), rules_form(blocked_words="spoiler")).status_code == 302
    tab_a, tab_b = shown_rules_form(ada, story), shown_rules_form(grace, story)

    first = ada.post(url(story, "rules"), tab_a | {"blocked_words": "spoiler\nfree money"})
    second = grace.post(url(story, "rules"), tab_b | {"blocked_words": "crypto",
                                                      "daily_cap": "200"})

    assert first.status_code == 302 and second.status_code == 302
    page = grace.get(second["Location"]).content.decode()
    assert "Changes saved meanwhile by a colleague were kept." in page
    rules = sources.rules(story.id)
    # Grace removed "spoiler" and added "crypto"; Ada's "free money" stays.
    assert (rules.blocked_words, rules.daily_cap, rules.version) == (
        ("free money", "crypto"), 200, 3)
    assert [(e.actor, e.outcome) for e in audit.for_story(story.id)[:2]] == [
        ("grace", "applied"), ("ada", "applied")]


def test_a_setting_both_changed_is_shown_back_with_theirs_beside_it(
        ada: Client, grace: Client, story: Story) -> None:
    assert ada.post(url(story, "rules"), rules_form()).status_code == 302
    tab_a, tab_b = shown_rules_form(ada, story), shown_rules_form(grace, story)
    assert ada.post(url(story, "rules"), tab_a | {"daily_cap": "100",
                                                  "auto_approve": "on"}).status_code == 302

    conflict = grace.post(url(story, "rules"), tab_b | {"daily_cap": "50",
                                                        "languages": "fr"})

    assert conflict.status_code == 409
    page = conflict.content.decode()
    assert "Ada changed the rules while you were editing" in page
    assert "you both changed daily cap" in page
    assert "Saved meanwhile by a colleague: 100" in page
    assert sources.rules(story.id).daily_cap == 100  # nothing saved until she saves again
    again = shown_rules_form(grace, story) | {
        k: html.unescape(v) for k, v in
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)}
    assert 'name="daily_cap" inputmode="numeric" value="50"' in page  # hers, in the form
    assert ">fr</textarea>" in page and 'name="auto_approve" checked' in page
    resaved = grace.post(url(story, "rules"), again | {"daily_cap": "50", "languages": "fr",
                                                       "auto_approve": "on"})
    assert resaved.status_code == 302
    rules = sources.rules(story.id)
    assert (rules.daily_cap, rules.languages, rules.auto_approve) == (50, ("fr",), True)
    assert [e.outcome for e in audit.for_story(story.id)[:2]] == ["applied", "conflict"]


def test_a_forged_rules_base_is_not_merged(ada: Client, grace: Client, story: Story) -> None:
    assert ada.post(url(story, "rules"), rules_form()).status_code == 302
    tab_b = shown_rules_form(grace, story)
    assert ada.post(url(story, "rules"), shown_rules_form(ada, story) | {
        "daily_cap": "100"}).status_code == 302
    forged = grace.post(url(story, "rules"), tab_b | {"base": tab_b["base"][:-2] + "xx",
                                                      "auto_approve": "on"})
    assert forged.status_code == 409 and "apply your change again" in forged.content.decode()
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
