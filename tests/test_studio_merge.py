"""No edit is lost: a story saved from an older version is merged field by field.

Two tabs open the same story form; the second save is merged against the
version its form was based on (carried, signed, in the form), so fields only
the other editor changed keep their new values. Only a field both changed
differently is a question, answered on the conflict page.
"""

from __future__ import annotations

import html
import re
import threading

import pytest
from django.test import Client

from samembed.repositories import audit
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Media
from samembed.repositories.stories import Story
from samembed.studio import actions
from samembed.studio.forms import story_values
from tests.factories import make_post, make_story

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture
def story() -> Story:
    return make_story("harbour", title="Harbour night", description="Lanterns at nine.")


def reload(story: Story) -> Story:
    current = stories_repo.get_by_key(str(story.id))
    assert current is not None
    return current


class Tab:
    """A browser tab with the story form open: the fields as the page showed them."""

    def __init__(self, client: Client, story: Story) -> None:
        self.client = client
        self.url = f"/studio/stories/{story.id}/"
        page = client.get(self.url).content.decode()
        form = page[page.index('<form method="post" class="story">'):]
        form = form[:form.index("</form>")]
        self.fields: dict[str, str] = {}
        for tag in re.findall(r"<(?:input|textarea|select)\b[^>]*>", form):
            name = re.search(r'name="([^"]+)"', tag)
            if not name or "type=\"checkbox\"" in tag and "checked" not in tag:
                continue
            value = re.search(r'value="([^"]*)"', tag)
            self.fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
        for name, text in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form,
                                     re.S):
            self.fields[name] = html.unescape(text)
        for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
            options = re.findall(r"<option([^>]*)>([^<]*)</option>", body)
            chosen = next((o for o in options if "selected" in o[0]), options[0])
            value = re.search(r'value="([^"]*)"', chosen[0])
            self.fields[name] = html.unescape(value.group(1) if value else chosen[1])

    def save(self, **changes: str) -> object:
        return self.client.post(self.url, {**self.fields, **changes})


def test_the_second_tab_keeps_what_the_first_saved(ada: Client, grace: Client,
                                                    story: Story) -> None:
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)

    first = tab_a.save(description="Lanterns at ten, after the rain.")
    second = tab_b.save(title="Harbour night, live")

    assert first.status_code == 302  # type: ignore[attr-defined]
    assert second.status_code == 302  # type: ignore[attr-defined]
    saved = reload(story)
    assert saved.title == "Harbour night, live"
    assert saved.description == "Lanterns at ten, after the rain."
    page = grace.get(second["Location"]).content.decode()  # type: ignore[index]
    assert "Saved." in page and "changes meanwhile were kept: Description" in page
    trail = audit.for_story(story.id)
    assert [(e.actor, e.outcome, list(e.changes)) for e in trail[:2]] == [
        ("grace", "applied", ["title"]), ("ada", "applied", ["description"])]
    assert trail[0].base_version == story.version and trail[0].version == story.version + 2


def test_a_field_both_changed_is_chosen_side_by_side_and_the_rest_is_kept(
        ada: Client, grace: Client, story: Story) -> None:
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)
    assert tab_a.save(title="Ada's title", accent="#0f766e").status_code == 302  # type: ignore[attr-defined]

    conflict = tab_b.save(title="Grace's title", description="Grace's words")

    assert conflict.status_code == 409  # type: ignore[attr-defined]
    page = conflict.content.decode()  # type: ignore[attr-defined]
    assert page.count("<fieldset") == 1 and "<legend>Title</legend>" in page
    assert "Ada&#39;s title" in page and "Grace&#39;s title" in page
    assert reload(story).description == "Lanterns at nine."
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert set(hidden) >= {"version", "base", "mine", "csrfmiddlewaretoken"}
    assert reload(story).title == "Ada's title"  # nothing saved until she chooses

    resolved = grace.post(f"/studio/stories/{story.id}/resolve",
                          {**hidden, "keep_title": "theirs"})

    assert resolved.status_code == 302  # type: ignore[attr-defined]
    saved = reload(story)
    assert (saved.title, saved.description, saved.theme.accent) == (
        "Ada's title", "Grace's words", "#0f766e")
    outcomes = [(e.actor, e.outcome) for e in audit.for_story(story.id)[:3]]
    assert outcomes == [("grace", "applied"), ("grace", "conflict"), ("ada", "applied")]


def test_choosing_mine_applies_my_value(ada: Client, grace: Client, story: Story) -> None:
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)
    tab_a.save(title="Ada's title")
    page = tab_b.save(title="Grace's title").content.decode()  # type: ignore[attr-defined]
    hidden = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))

    assert grace.post(f"/studio/stories/{story.id}/resolve",
                      {**hidden, "keep_title": "mine"}).status_code == 302

    assert reload(story).title == "Grace's title"


def test_the_same_change_on_both_sides_is_not_a_conflict(ada: Client, grace: Client,
                                                          story: Story) -> None:
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)
    tab_a.save(title="Fixed typo")

    response = tab_b.save(title="Fixed typo")

    assert response.status_code == 302  # type: ignore[attr-defined]
    page = grace.get(response["Location"]).content.decode()  # type: ignore[index]
    assert "Nothing to save" in page
    assert [e.actor for e in audit.for_story(story.id)] == ["ada"]


def test_a_status_change_from_an_old_page_keeps_the_other_edit(ada: Client, grace: Client,
                                                                 story: Story) -> None:
    draft = reload(story)
    assert stories_repo.update(draft, {"status": "draft"})
    draft = reload(story)
    tab_a, tab_b = Tab(ada, draft), Tab(grace, draft)
    tab_a.save(description="Updated at the last minute")

    response = grace.post(f"/studio/stories/{story.id}/status", {
        "status": "published", "version": tab_b.fields["version"], "base": tab_b.fields["base"]})

    assert response.status_code == 302  # type: ignore[attr-defined]
    saved = reload(story)
    assert (saved.status, saved.description) == ("published", "Updated at the last minute")
    assert audit.for_story(story.id)[0].action == "story.published"


@pytest.mark.parametrize("base", ["", "forged", "from-another-story"])
def test_without_a_trusted_base_every_difference_is_a_question(
        ada: Client, grace: Client, story: Story, base: str) -> None:
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)
    tab_a.save(description="Ada's description")
    if base == "from-another-story":
        base = actions.sign_base(make_story("elsewhere"))

    response = tab_b.save(title="Grace's title", base=base)

    assert response.status_code == 409  # type: ignore[attr-defined]
    page = response.content.decode()  # type: ignore[attr-defined]
    assert "<legend>Title</legend>" in page and "<legend>Description</legend>" in page
    assert reload(story).description == "Ada's description"  # never reverted unseen


def test_a_form_shown_again_with_errors_keeps_its_base(ada: Client, grace: Client,
                                                        story: Story) -> None:
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)
    tab_a.save(description="Ada's description")
    invalid = tab_b.save(title="Grace's title", accent="red")
    assert invalid.status_code == 400  # type: ignore[attr-defined]
    page = invalid.content.decode()  # type: ignore[attr-defined]
    version = re.search(r'class="story">.*?name="version" value="(\d+)"', page, re.S)
    assert version and int(version.group(1)) == story.version

    fixed = tab_b.save(title="Grace's title", accent="#b91c1c")

    assert fixed.status_code == 302  # type: ignore[attr-defined]
    saved = reload(story)
    assert (saved.title, saved.description) == ("Grace's title", "Ada's description")


def test_a_tampered_conflict_answer_is_refused(grace: Client, story: Story) -> None:
    response = grace.post(f"/studio/stories/{story.id}/resolve", {
        "version": story.version, "base": actions.sign_base(story), "mine": "x" * 30_000,
        "keep_title": "mine"})

    assert response.status_code == 400
    assert "out of date or was changed" in response.content.decode()
    assert reload(story).version == story.version


def test_fifty_saves_from_one_base_apply_one_value_per_field_and_lose_nothing(
        story: Story) -> None:
    base = actions.Base(story.version, story_values(story))
    outcomes: list[actions.Outcome] = []
    lock = threading.Lock()

    def editor(n: int) -> None:
        # Everyone rewrites the description; editor n also sets a field of their own.
        mine = {**base.values, "description": f"Description by editor {n}"}
        own = {0: ("theme_accent", "#0f766e"), 1: ("screen_cta", "Scan me"),
               2: ("live", True), 3: ("screen_interval", 12)}
        if n in own:
            key, value = own[n]
            mine = {**base.values, key: value}  # these four touch only their own field
        outcome = actions.save_story(f"editor{n}", reload(story), base, mine)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=editor, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == 50
    described = [o for o in outcomes if "description" in o.applied]
    refused = [o for o in outcomes if o.conflicts]
    assert len(described) == 1 and len(refused) == 45
    assert all(set(o.conflicts) == {"description"} for o in refused)
    saved = reload(story)
    assert saved.description == described[0].applied["description"][1]
    assert (saved.theme.accent, saved.screen.cta, saved.live, saved.screen.interval) == (
        "#0f766e", "Scan me", True, 12)
    assert saved.version == story.version + 5
    trail = audit.for_story(story.id)
    assert len(trail) == 50
    assert sorted(e.outcome for e in trail) == ["applied"] * 5 + ["conflict"] * 45


def caption_form(client: Client, post_id: str) -> dict[str, str]:
    """The caption form's fields as the page showed them."""
    page = client.get(f"/studio/posts/{post_id}/caption").content.decode()
    fields = {name: html.unescape(value) for name, value in
              re.findall(r'<input (?:type="hidden" )?name="(\w+)"[^>]*value="([^"]*)"', page)}
    caption = re.search(r'<textarea name="caption"[^>]*>(.*?)</textarea>', page, re.S)
    assert caption is not None
    fields["caption"] = html.unescape(caption.group(1))
    return fields


def captioned_post(story: Story) -> str:
    made = make_post(story, 1, text="Lanterns over the quay",
                     media=(Media("image", "media:k", 640, 480, "Lanterns"),))
    post = posts_repo.by_external_ids(story.id, made.source, [made.external_id])
    return str(post[made.external_id].id)


def test_two_editors_captioning_one_post_keep_both_edits(ada: Client, grace: Client,
                                                         story: Story) -> None:
    post_id = captioned_post(story)
    tab_a, tab_b = caption_form(ada, post_id), caption_form(grace, post_id)

    assert ada.post(f"/studio/posts/{post_id}/caption",
                    {**tab_a, "alt0": "Paper lanterns on the water"}).status_code == 302
    second = grace.post(f"/studio/posts/{post_id}/caption",
                        {**tab_b, "caption": "Lanterns over the quay, live"})

    assert second.status_code == 302
    post = posts_repo.get_by_key(post_id)
    assert post is not None
    assert (post.text, post.media[0].alt) == ("Lanterns over the quay, live",
                                             "Paper lanterns on the water")


def test_a_caption_both_changed_comes_back_with_both_and_saves_the_choice(
        ada: Client, grace: Client, story: Story) -> None:
    post_id = captioned_post(story)
    tab_a, tab_b = caption_form(ada, post_id), caption_form(grace, post_id)
    ada.post(f"/studio/posts/{post_id}/caption", {**tab_a, "caption": "Ada's caption"})

    conflict = grace.post(f"/studio/posts/{post_id}/caption",
                          {**tab_b, "caption": "Grace's caption", "alt0": "Grace's alt"})

    assert conflict.status_code == 409
    page = conflict.content.decode()
    # It names the colleague and when, as the story's conflict page does.
    assert re.search(r"Saved meanwhile by Ada, [^<]+ UTC: <span dir=\"auto\">Ada&#39;s caption",
                     page), page
    assert ">Grace&#39;s caption</textarea>" in page
    assert 'value="Grace&#39;s alt"' in page  # only she changed it: carried, not asked
    post = posts_repo.get_by_key(post_id)
    assert post is not None and post.text == "Ada's caption"
    again = caption_form(grace, post_id) | {
        k: html.unescape(v) for k, v in re.findall(
            r'<input (?:type="hidden" )?name="(\w+)"[^>]*value="([^"]*)"', page)}
    again["caption"] = "Grace's caption"

    assert grace.post(f"/studio/posts/{post_id}/caption", again).status_code == 302
    post = posts_repo.get_by_key(post_id)
    assert post is not None and (post.text, post.media[0].alt) == ("Grace's caption",
                                                                  "Grace's alt")


def test_a_stale_caption_without_a_base_is_a_question_not_an_overwrite(
        ada: Client, grace: Client, story: Story) -> None:
    post_id = captioned_post(story)
    tab_b = caption_form(grace, post_id)
    ada.post(f"/studio/posts/{post_id}/caption",
             {**caption_form(ada, post_id), "alt0": "Ada's alt"})

    response = grace.post(f"/studio/posts/{post_id}/caption",
                          {**tab_b, "base": "forged", "caption": "Grace's caption"})

    assert response.status_code == 409
    post = posts_repo.get_by_key(post_id)
    assert post is not None and post.media[0].alt == "Ada's alt"


def test_an_uploaded_logo_reads_as_a_picture_in_the_conflict_and_words_in_the_trail(
        ada: Client, grace: Client, story: Story) -> None:
    uploaded = "media:" + "a" * 64
    tab_a, tab_b = Tab(ada, story), Tab(grace, story)
    assert tab_a.save(logo_url=uploaded).status_code == 302  # type: ignore[attr-defined]

    conflict = tab_b.save(logo_url="https://example.com/logo.png")

    assert conflict.status_code == 409  # type: ignore[attr-defined]
    page = conflict.content.decode()  # type: ignore[attr-defined]
    assert re.search(r'<img class="cf-logo" src="/img/[^"]+\.webp" alt="an uploaded image"', page)
    assert "https://example.com/logo.png" in page
    assert "media:" not in page.replace(f'value="{uploaded}"', "")
    trail = ada.get(f"/studio/stories/{story.id}/audit").content.decode()
    assert "Ada set the screen logo to an uploaded image." in html.unescape(trail)
    assert "media:" not in trail
