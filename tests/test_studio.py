"""The studio: access, stories, renames, conflicts, audit, and its bad input."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from samembed.repositories import audit
from samembed.repositories import stories as stories_repo
from samembed.repositories.stories import Story
from samembed.studio import actions

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

FORM = {"title": "Harbour night", "slug": "", "description": "", "default_template": "grid",
        "accent": "#c2410c", "background": "", "font": "system", "mode": "auto",
        "allowed_domains": ""}


def create(client: Client, **fields: str) -> Story:
    response = client.post("/studio/stories/new", {**FORM, **fields})
    assert response.status_code == 302, response.content.decode()[:2000]
    story = stories_repo.get_by_key(response["Location"].split("/")[3])
    assert story is not None
    return story


def edit(client: Client, story: Story, **fields: object) -> object:
    """Save the story form as it was when `story` was read, with `fields` changed."""
    data = {**FORM, **StoryFormValues(story), "version": story.version,
            "base": actions.sign_base(story), **fields}
    return client.post(f"/studio/stories/{story.id}/", data)


def StoryFormValues(story: Story) -> dict[str, object]:  # noqa: N802 - reads as a type
    return {"title": story.title, "slug": story.slug, "description": story.description,
            "default_template": story.default_template, "accent": story.theme.accent,
            "background": story.theme.background or "", "font": story.theme.font,
            "mode": story.theme.mode, "allowed_domains": "\n".join(story.allowed_domains)}


def test_anonymous_visitors_are_sent_to_sign_in() -> None:
    response = Client().get("/studio/")
    assert response.status_code == 302 and response["Location"] == "/studio/login?next=/studio/"


def test_an_account_outside_the_editors_group_is_refused() -> None:
    User.objects.create_user("bob", password="just some password")
    client = Client()
    client.force_login(User.objects.get(username="bob"))
    assert client.get("/studio/").status_code == 403


def test_an_editor_cannot_reach_user_management(ada: Client) -> None:
    response = ada.get("/admin/auth/user/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_studio_pages_are_never_framed(ada: Client) -> None:
    for response in (ada.get("/studio/"), ada.get("/studio/stories/new"),
                     Client().get("/studio/login")):
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"


def test_an_editor_creates_a_story_with_a_readable_non_ascii_slug(ada: Client) -> None:
    story = create(ada, title="Fête du port: nuit d’été!")
    assert story.slug == "fête-du-port-nuit-dété" and story.status == "draft"
    page = ada.get(f"/studio/stories/{story.id}/")
    assert page.status_code == 200 and b"Copy snippet" in page.content
    entries = audit.for_story(story.id)
    assert entries[0].action == "story.create" and entries[0].actor == "ada"


def test_script_in_text_fields_is_escaped_in_studio_and_embed(ada: Client) -> None:
    story = create(ada, title="<script>alert(1)</script>", slug="xss",
                   description='<img src=x onerror="alert(2)">')
    ada.post(f"/studio/stories/{story.id}/status", {"status": "published",
                                                    "version": story.version})
    for body in (ada.get(f"/studio/stories/{story.id}/").content.decode(),
                 Client().get("/e/xss").content.decode(),
                 ada.get("/studio/").content.decode()):
        assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body
        assert '<img src=x onerror' not in body


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"slug": "!!!---???"}, "punctuation alone"),
     ({"title": "¡!", "slug": ""}, "no letters or digits"),
     ({"accent": "red"}, "colour like #1a2b3c"),
     ({"background": "#12345g"}, "colour like #1a2b3c"),
     ({"allowed_domains": "exa mple.com"}, "not a valid domain"),
     ({"allowed_domains": "javascript:alert(1)"}, "not a valid domain"),
     ({"title": "x" * 201}, "at most 200"),
     ({"default_template": "fancy"}, "Select a valid choice"),
     ({"title": '{"$gt": ""}', "slug": "$where"}, None)],
)
def test_bad_story_fields_get_a_clear_message(ada: Client, fields: dict[str, str],
                                               message: str | None) -> None:
    response = ada.post("/studio/stories/new", {**FORM, **fields})
    if message is None:
        # Operator-looking text is only text: stored literally, never a query.
        assert response.status_code == 302
        story = stories_repo.get_by_slug("where")
        assert story is not None and story.title == '{"$gt": ""}'
        return
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")


def test_a_rename_keeps_old_links_alive_through_many_renames(ada: Client) -> None:
    story = create(ada, slug="first")
    ada.post(f"/studio/stories/{story.id}/status", {"status": "published",
                                                    "version": story.version})
    for new in ("second", "third"):
        story = stories_repo.get_by_key(str(story.id))  # type: ignore[assignment]
        assert edit(ada, story, slug=new).status_code == 302  # type: ignore[attr-defined]
    for old in ("first", "second"):
        for path in (f"/e/{old}", f"/s/{old}", f"/api/v1/stories/{old}"):
            response = Client().get(path)
            assert response.status_code == 301, path
            assert response["Location"] == path.replace(old, "third")


def test_a_slug_of_another_story_is_refused_with_its_name(ada: Client) -> None:
    owner = create(ada, title="The owner", slug="taken")
    edit(ada, owner, slug="moved-on")
    other = create(ada, title="Other", slug="other")
    for slug, where in (("moved-on", "its current slug"), ("taken", "one of its earlier")):
        response = edit(ada, other, slug=slug)
        text = response.content.decode()  # type: ignore[attr-defined]
        assert response.status_code == 400  # type: ignore[attr-defined]
        assert "The owner" in text and where in text


def test_two_editors_changing_one_field_the_second_chooses_on_a_conflict_page(
    ada: Client, grace: Client
) -> None:
    story = create(ada, title="Shared")
    first = edit(ada, story, title="Ada's title")
    second = edit(grace, story, title="Grace's title", description="Grace was here")
    assert first.status_code == 302  # type: ignore[attr-defined]
    assert second.status_code == 409  # type: ignore[attr-defined]
    text = second.content.decode()  # type: ignore[attr-defined]
    assert "changed while you were editing" in text
    assert "Ada&#39;s title" in text and "Grace&#39;s title" in text
    assert 'name="keep_title"' in text
    assert "keep_description" not in text  # only Grace changed it: not a question
    current = stories_repo.get_by_key(str(story.id))
    assert current is not None and current.title == "Ada's title"
    # The conflict page's choices are made against the current version.
    version = re.search(r'name="version" value="(\d+)"', text)
    assert version and int(version.group(1)) == current.version
    trail = audit.for_story(story.id)
    assert [(e.actor, e.outcome) for e in trail[:2]] == [("grace", "conflict"), ("ada", "applied")]
    audit_page = ada.get(f"/studio/stories/{story.id}/audit").content.decode()
    assert "conflict" in audit_page and "grace" in audit_page and "ada" in audit_page


@pytest.mark.parametrize("version", ["", "abc", '{"$gt": 0}', "-1", "9" * 40])
def test_a_missing_or_bad_version_is_refused(ada: Client, version: str) -> None:
    story = create(ada)
    response = ada.post(f"/studio/stories/{story.id}/", {**FORM, "version": version})
    assert response.status_code == 400
    assert stories_repo.get_by_key(str(story.id)).version == story.version  # type: ignore[union-attr]


def test_publish_unpublish_and_archive(ada: Client) -> None:
    story = create(ada, slug="cycle")
    for status, served in (("published", 200), ("draft", 404), ("archived", 200)):
        current = stories_repo.get_by_key(str(story.id))
        assert current is not None
        response = ada.post(f"/studio/stories/{story.id}/status",
                            {"status": status, "version": current.version})
        assert response.status_code == 302
        from samembed.embed.cache import response_cache
        response_cache().clear()
        assert Client().get("/e/cycle").status_code == served


def test_a_post_without_csrf_token_is_refused(editor: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    assert client.post("/studio/stories/new", FORM).status_code == 403


def test_sign_in_is_throttled_after_five_failures_per_account_and_address(editor: User) -> None:
    client = Client()
    for _ in range(5):
        response = client.post("/studio/login", {"username": "ada", "password": "wrong"})
        assert response.status_code == 401 and b"Wrong username or password" in response.content
    response = client.post("/studio/login", {"username": "ada",
                                             "password": "correct horse battery"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 800
    assert b"Too many failed sign-ins" in response.content
    # Another address is not locked out by someone else's guesses.
    other = Client(REMOTE_ADDR="10.9.8.7")
    ok = other.post("/studio/login", {"username": "ada", "password": "correct horse battery"})
    assert ok.status_code == 302 and ok["Location"] == "/studio/"


def test_sign_in_never_redirects_off_site(editor: User) -> None:
    response = Client().post("/studio/login?next=https://evil.example/",
                             {"username": "ada", "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == "/studio/"


def test_a_draft_can_be_previewed_in_the_studio_only(ada: Client) -> None:
    story = create(ada, title="Secret draft", slug="secret-draft")
    page = ada.get(f"/studio/stories/{story.id}/").content.decode()
    assert f"/studio/stories/{story.id}/preview?template=grid" in page
    preview = ada.get(f"/studio/stories/{story.id}/preview?template=list")
    assert preview.status_code == 200 and b"Secret draft" in preview.content
    assert "frame-ancestors 'self'" in preview["Content-Security-Policy"]
    assert preview["X-Frame-Options"] == "SAMEORIGIN"
    assert preview["Cache-Control"] == "private, no-store"
    assert Client().get(f"/studio/stories/{story.id}/preview").status_code == 302
    assert Client().get("/e/secret-draft").status_code == 404
    assert ada.get(f"/studio/stories/{story.id}/preview?template=x").status_code == 404
