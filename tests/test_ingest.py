"""Ingestion end to end: studio source -> ingest loop -> queue -> embed, and source health.

Against the fake Mastodon instance of tests/fakes (real JSON and Link headers),
through the real outbound client; the loop is `manage.py ingest --once` or
`runner.run_once(now)` with a moved clock, so back-off is tested without waiting.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from samembed.ingest import runner
from samembed.repositories import posts as posts_repo
from samembed.repositories import sources
from samembed.repositories.sources import PAUSE_AFTER_FAILURES, Rules, Source
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.fakes.mastodon import FakeMastodon

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture
def story() -> Story:
    return make_story("festival")


def add_hashtag_source(ada: Client, story: Story, fake: FakeMastodon, tag: str = "harbour"
                       ) -> Source:
    response = ada.post(f"/studio/stories/{story.id}/sources/new", {
        "kind": "mastodon", "instance": fake.base, "mastodon_mode": "hashtag", "tag": f"#{tag}",
        "interval": "60"})
    assert response.status_code == 302, response.content.decode()
    return sources.for_story(story.id)[0]


def ingest_once() -> str:
    out = io.StringIO()
    call_command("ingest", "--once", stdout=out)
    return out.getvalue()


def queue(story: Story, state: str = "pending") -> list[posts_repo.Post]:
    return posts_repo.list_for_studio(story.id, state, 0, 100)


def test_an_editor_adds_a_hashtag_and_approved_posts_reach_the_embed(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    fake_mastodon.post("<p>Boats in the <a href=\"https://mastodon.test/tags/harbour\" "
                       "class=\"mention hashtag\" rel=\"tag\">#<span>harbour</span></a></p>",
                       tags=["harbour"])
    fake_mastodon.post("<p>Second post <script>alert(1)</script></p>", tags=["harbour"])
    fake_mastodon.post("<p>Other tag</p>", tags=["elsewhere"])
    source = add_hashtag_source(ada, story, fake_mastodon)
    assert source.label == "#harbour on http://mastodon.test"

    assert "2 new" in ingest_once().replace("new 2", "2 new")

    pending = queue(story)
    assert sorted(p.text for p in pending) == ["Boats in the #harbour", "Second post"]
    assert all(p.reason == "Waiting for review." for p in pending)
    page = ada.get(f"/studio/stories/{story.id}/sources").content.decode()
    assert "2 new" in page and "ok" in page
    boats = next(p for p in pending if p.text.startswith("Boats"))
    assert ada.post(f"/studio/posts/{boats.id}/action",
                    {"action": "approve", "version": boats.version}).status_code in (200, 302)
    embed = Client().get("/e/festival").content.decode()
    assert "Boats in the" in embed and "Second post" not in embed and "alert(1)" not in embed


def test_later_runs_bring_only_new_posts_and_edits_and_deletions_propagate(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    sources.save_rules(story.id, Rules(auto_approve=True), 0)
    first = fake_mastodon.post("<p>First</p>", tags=["harbour"])
    gone = fake_mastodon.post("<p>Soon deleted</p>", tags=["harbour"])
    add_hashtag_source(ada, story, fake_mastodon)
    now = datetime.now(UTC)
    runner.run_once(now)

    fake_mastodon.post("<p>Third</p>", tags=["harbour"])
    fake_mastodon.edit(first["id"], "<p>First, corrected</p>")
    fake_mastodon.delete(gone["id"])
    outcomes = runner.run_once(now + timedelta(minutes=5))

    report = outcomes[0].report
    assert report is not None and (report.new, report.updated, report.deleted) == (1, 1, 1)
    shown = [p.text for p in posts_repo.list_published(story.id, 10)]
    assert sorted(shown) == ["First, corrected", "Third"]
    assert len(queue(story, "rejected")) == 1


def test_a_failing_source_is_paused_after_five_failures_and_resumes_on_retry(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    fake_mastodon.post("<p>Waiting</p>", tags=["harbour"])
    source = add_hashtag_source(ada, story, fake_mastodon)
    fake_mastodon.fail_next(100, 503)
    now = datetime.now(UTC)
    delays = []
    for _ in range(PAUSE_AFTER_FAILURES + 1):
        outcomes = runner.run_once(now)
        if outcomes:
            stored = sources.get(str(source.id))
            assert stored is not None and stored.next_run_at is not None
            delays.append((stored.next_run_at.replace(tzinfo=UTC) - now).total_seconds())
        now += timedelta(hours=2)

    paused = sources.get(str(source.id))
    assert paused is not None and paused.paused and paused.failures == PAUSE_AFTER_FAILURES
    assert len(delays) == PAUSE_AFTER_FAILURES and delays[0] < delays[1] < delays[2]
    assert "answered 503" in (paused.last_error or "")
    page = ada.get(f"/studio/stories/{story.id}/sources").content.decode()
    assert "paused" in page and "answered 503" in page and "Retry now" in page

    fake_mastodon.recover()
    response = ada.post(f"/studio/stories/{story.id}/sources/{source.id}",
                        {"action": "retry", "version": paused.version})
    assert response.status_code == 302
    assert runner.run_once()[0].report.new == 1  # type: ignore[union-attr]
    healthy = sources.get(str(source.id))
    assert healthy is not None and not healthy.paused and healthy.failures == 0
    assert [p.text for p in queue(story)] == ["Waiting"]


def test_a_rate_limited_source_waits_without_counting_a_failure(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    source = add_hashtag_source(ada, story, fake_mastodon)
    fake_mastodon.throttle(retry_after="900")
    now = datetime.now(UTC)
    runner.run_once(now)

    waited = sources.get(str(source.id))
    assert waited is not None and waited.failures == 0 and not waited.paused
    assert waited.next_run_at is not None
    assert (waited.next_run_at.replace(tzinfo=UTC) - now).total_seconds() >= 900 * 0.9
    requests = len(fake_mastodon.requests)
    runner.run_once(now + timedelta(minutes=1))
    assert len(fake_mastodon.requests) == requests  # not due: nothing asked


def test_moderation_rules_hold_and_reject_collected_posts(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    sources.save_rules(story.id, Rules(auto_approve=True, blocked_words=("casino",)), 0)
    fake_mastodon.post("<p>Fine</p>", tags=["harbour"])
    fake_mastodon.post("<p>Win at the casino</p>", tags=["harbour"])
    fake_mastodon.post("<p>Hidden</p>", tags=["harbour"], sensitive=True, spoiler_text="Flash")
    add_hashtag_source(ada, story, fake_mastodon)
    ingest_once()

    assert [p.text for p in queue(story, "approved")] == ["Fine"]
    assert [(p.text, p.reason) for p in queue(story, "rejected")] == [
        ("Win at the casino", "Contains the blocked word “casino”.")]
    assert [(p.text, p.reason) for p in queue(story)] == [
        ("Hidden", "Held: marked sensitive at the source: “Flash”.")]
    page = ada.get(f"/studio/stories/{story.id}/posts?state=rejected").content.decode()
    assert "Contains the blocked word" in page


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "mastodon", "instance": "", "mastodon_mode": "hashtag", "tag": "x"}, "instance"),
    ({"kind": "mastodon", "instance": "mastodon.test", "mastodon_mode": "hashtag",
      "tag": "not a tag!"}, "hashtag"),
    ({"kind": "rss", "url": "http://127.0.0.1/feed"}, "not"),
    ({"kind": "rss", "url": "javascript:alert(1)"}, ""),
    ({"kind": "bluesky", "bluesky_mode": "search", "query": "x"}, "app password"),
    ({"kind": "myspace"}, "Choose a kind"),
])
def test_bad_source_settings_are_400_with_the_reason(ada: Client, story: Story,
                                                     fields: dict[str, str],
                                                     message: str) -> None:
    response = ada.post(f"/studio/stories/{story.id}/sources/new", {"interval": "60", **fields})
    assert response.status_code == 400 and message in response.content.decode()
    assert sources.for_story(story.id) == []


def test_the_ingest_command_needs_once_or_loop() -> None:
    with pytest.raises(CommandError, match="--once or --loop"):
        call_command("ingest")


def test_an_unknown_account_pauses_its_source_at_once_with_the_reason_in_the_studio(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    response = ada.post(f"/studio/stories/{story.id}/sources/new", {
        "kind": "mastodon", "instance": fake_mastodon.base, "mastodon_mode": "account",
        "account": "@nobody", "interval": "60"})
    assert response.status_code == 302, response.content.decode()
    source = sources.for_story(story.id)[0]

    [outcome] = runner.run_once()

    assert outcome.report is None
    paused = sources.get(str(source.id))
    assert paused is not None and paused.paused and paused.failures == 1
    assert "there is no account @nobody there" in (paused.last_error or "")
    assert sources.due(datetime.now(UTC) + timedelta(days=30), 10) == []
    page = ada.get(f"/studio/stories/{story.id}/sources").content.decode()
    assert "paused</span>" in page
    assert "because what it follows is not there" in page
    assert "there is no account @nobody there" in page and "Retry now" in page


def test_a_server_error_is_not_permanent_and_only_backs_off(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    source = add_hashtag_source(ada, story, fake_mastodon)
    fake_mastodon.fail_next(1, 503)

    runner.run_once()

    failing = sources.get(str(source.id))
    assert failing is not None and not failing.paused and failing.failures == 1
