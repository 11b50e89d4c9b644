"""Sources' access tokens and app passwords are encrypted at rest, with rotatable keys."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from samembed import mongo, vault
from samembed.ingest import runner
from samembed.repositories import sources
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.fakes.mastodon import FakeMastodon

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def fresh_keys() -> Iterator[None]:
    vault.reset()
    yield
    vault.reset()


@pytest.fixture
def story() -> Story:
    return make_story("secrets")


def add_with_token(ada: Client, story: Story, fake: FakeMastodon, token: str) -> None:
    response = ada.post(f"/studio/stories/{story.id}/sources/new", {
        "kind": "mastodon", "instance": fake.base, "mastodon_mode": "hashtag", "tag": "#tea",
        "token": token, "interval": "60"})
    assert response.status_code == 302, response.content.decode()


def stored_token(story: Story) -> str:
    doc = mongo.database()["sources"].find_one({"story_id": story.id, "kind": "mastodon"})
    assert doc is not None
    return str(doc["settings"]["token"])


def test_a_token_is_stored_encrypted_and_sent_in_clear_to_its_instance(
        ada: Client, story: Story, fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.require_token("s3cret-token")
    fake_mastodon.post("<p>Tea time</p>", tags=["tea"])
    with override_settings(SOURCE_SECRETS_KEY=NEW):
        add_with_token(ada, story, fake_mastodon, "s3cret-token")

        raw = stored_token(story)
        [outcome] = runner.run_once()

    assert "s3cret-token" not in raw and raw.startswith("fernet:")
    assert Fernet(NEW).decrypt(raw[len("fernet:"):].encode()) == b"s3cret-token"
    assert outcome.report is not None and outcome.report.new == 1
    assert fake_mastodon.requests[-1].headers["authorization"] == "Bearer s3cret-token"
    # The runner's save (cursor, schedule) keeps it sealed.
    assert stored_token(story).startswith("fernet:")


def test_without_a_key_development_still_works_and_is_warned(
        ada: Client, story: Story, fake_mastodon: FakeMastodon,
        caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(SOURCE_SECRETS_KEY=""):
        add_with_token(ada, story, fake_mastodon, "dev-token")
        assert sources.for_story(story.id)[0].settings["token"] == "dev-token"
    assert stored_token(story).startswith("fernet:")
    assert "SOURCE_SECRETS_KEY is not set" in caplog.text


def test_a_rotated_key_still_opens_and_reseal_moves_every_secret_to_the_new_key(
        ada: Client, story: Story, fake_mastodon: FakeMastodon) -> None:
    with override_settings(SOURCE_SECRETS_KEY=OLD):
        add_with_token(ada, story, fake_mastodon, "rotate-me")
    vault.reset()
    with override_settings(SOURCE_SECRETS_KEY=NEW, SOURCE_SECRETS_OLD_KEYS=[OLD]):
        assert sources.for_story(story.id)[0].settings["token"] == "rotate-me"
        out = io.StringIO()
        call_command("reseal_source_secrets", stdout=out)
        assert out.getvalue() == "resealed 1 sources\n"
        again = io.StringIO()
        call_command("reseal_source_secrets", stdout=again)
        assert again.getvalue() == "resealed 0 sources\n"
    raw = stored_token(story)
    assert Fernet(NEW).decrypt(raw[len("fernet:"):].encode()) == b"rotate-me"
    vault.reset()
    with override_settings(SOURCE_SECRETS_KEY=NEW, SOURCE_SECRETS_OLD_KEYS=[]):
        assert sources.for_story(story.id)[0].settings["token"] == "rotate-me"


def test_plain_text_secrets_from_before_are_read_and_resealed(story: Story) -> None:
    mongo.database()["sources"].insert_one({
        "story_id": story.id, "kind": "bluesky", "label": "old", "version": 3,
        "settings": {"mode": "search", "query": "tea", "identifier": "ada.test",
                     "app_password": "abcd-efgh-ijkl-mnop"},
        "created_at": story.created_at, "enabled": True, "active": True})
    assert sources.for_story(story.id)[0].settings["app_password"] == "abcd-efgh-ijkl-mnop"
    with override_settings(SOURCE_SECRETS_KEY=NEW):
        call_command("reseal_source_secrets", stdout=io.StringIO())
        assert sources.for_story(story.id)[0].settings["app_password"] == \
            "abcd-efgh-ijkl-mnop"
    doc = mongo.database()["sources"].find_one({"story_id": story.id})
    assert doc is not None and doc["settings"]["app_password"].startswith("fernet:")


def test_reseal_says_when_no_key_opens_a_secret(
        ada: Client, story: Story, fake_mastodon: FakeMastodon) -> None:
    with override_settings(SOURCE_SECRETS_KEY=OLD):
        add_with_token(ada, story, fake_mastodon, "lost")
    vault.reset()
    with override_settings(SOURCE_SECRETS_KEY=NEW), \
            pytest.raises(CommandError, match="1 sources hold a secret no configured key"):
        call_command("reseal_source_secrets", stdout=io.StringIO())
    assert stored_token(story).startswith("fernet:")  # kept for the right key


def test_a_key_that_is_not_a_fernet_key_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="expected a Fernet key"):
        vault.parse_key("change-me")
