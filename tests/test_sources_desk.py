"""Sources an editor sets up alone: Test before adding, plain-language errors, health
with the next retry, and the push API documented on the page.

Against the fake upstreams of tests/fakes, through the real outbound client.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.test import Client

from samembed import outbound
from samembed.exceptions import FetchFailed, Refused
from samembed.ingest import runner
from samembed.ingest.model import SourceError
from samembed.repositories import posts as posts_repo
from samembed.repositories import sources
from samembed.repositories.sources import PAUSE_AFTER_FAILURES, Source
from samembed.repositories.stories import Story
from samembed.studio.health import health_summary
from tests.factories import make_story
from tests.fakes.mastodon import FakeMastodon

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture
def story() -> Story:
    return make_story("harbour-live")


def add_url(story: Story) -> str:
    return f"/studio/stories/{story.id}/sources/new"


def hashtag(fake: FakeMastodon, tag: str = "harbour", **extra: str) -> dict[str, str]:
    return {"kind": "mastodon", "instance": fake.base, "mastodon_mode": "hashtag",
            "tag": f"#{tag}", "interval": "60", "test": "1", **extra}


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def nothing_stored(story: Story) -> bool:
    return not sources.for_story(story.id) and not posts_repo.list_for_studio(
        story.id, "pending", 0, 5) and not posts_repo.list_published(story.id, 5)


def test_test_lists_the_first_posts_a_source_would_collect_and_stores_nothing(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    fake_mastodon.post("<p>Boats leaving the harbour at dawn</p>", tags=["harbour"])
    fake_mastodon.post("<p>Fog over the harbour</p>", tags=["harbour"])
    fake_mastodon.post("<p>Not this one</p>", tags=["elsewhere"])

    response = ada.post(add_url(story), hashtag(fake_mastodon))

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    page = text_of(response.content.decode())
    assert "It works: this source would collect 2 posts now. The newest 2:" in page
    assert "Fog over the harbour" in page and "Boats leaving the harbour at dawn" in page
    assert "Not this one" not in page
    # The form comes back as filled in, ready for "Add source"; secrets are not.
    assert 'value="#harbour"' in response.content.decode()
    assert "Type the token again before Add source" not in page
    assert any(seen.path.startswith("/api/v1/timelines/tag/harbour")
               for seen in fake_mastodon.requests)
    assert nothing_stored(story)


def test_a_token_used_for_a_test_is_asked_for_again_not_echoed(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    response = ada.post(add_url(story), hashtag(fake_mastodon, token="s3cret-token"))
    body = response.content.decode()
    assert response.status_code == 200 and "s3cret-token" not in body
    assert "Type the token again before Add source" in body


def test_test_answers_json_for_the_page_script(ada: Client, story: Story,
                                               fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.post("<p>Trams on route 4 are back</p>", tags=["harbour"])

    response = ada.post(add_url(story), hashtag(fake_mastodon),
                        headers={"Accept": "application/json"})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    answer = json.loads(response.content)
    assert answer["ok"] is True and answer["total"] == 1
    assert answer["posts"][0]["text"] == "Trams on route 4 are back"
    assert answer["posts"][0]["author"] == "Ada Lovelace"
    assert nothing_stored(story)


def test_an_unknown_host_is_said_plainly(ada: Client, story: Story) -> None:
    response = ada.post(add_url(story), {
        "kind": "mastodon", "instance": "www.nowhere-samembed.invalid",
        "mastodon_mode": "hashtag", "tag": "harbour", "interval": "60", "test": "1"},
        headers={"Accept": "application/json"})

    assert response.status_code == 200
    answer = json.loads(response.content)
    assert answer == {"ok": False, "total": 0, "posts": [], "message":
                      "The address www.nowhere-samembed.invalid could not be found. "
                      "Check the spelling."}
    assert nothing_stored(story)


def test_an_unknown_account_names_it(ada: Client, story: Story,
                                     fake_mastodon: FakeMastodon) -> None:
    response = ada.post(add_url(story), {
        "kind": "mastodon", "instance": fake_mastodon.base, "mastodon_mode": "account",
        "account": "@nobody", "interval": "60", "test": "1"})

    assert response.status_code == 200
    assert ("mastodon.test answered 404: there is no account @nobody there."
            in text_of(response.content.decode()))
    assert 'role="alert"' in response.content.decode()
    assert nothing_stored(story)


def test_an_upstream_error_says_it_is_retried(ada: Client, story: Story,
                                              fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.fail_next(5, 503)
    answer = json.loads(ada.post(add_url(story), hashtag(fake_mastodon),
                                 headers={"Accept": "application/json"}).content)
    assert answer["ok"] is False
    assert answer["message"] == ("mastodon.test answered 503: it is down or overloaded. "
                                 "The source tries again by itself.")


def test_settings_that_do_not_validate_are_a_400_before_any_fetch(
    ada: Client, story: Story, fake_mastodon: FakeMastodon
) -> None:
    response = ada.post(add_url(story), hashtag(fake_mastodon, tag="no spaces allowed"),
                        headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "Enter a hashtag" in json.loads(response.content)["message"]
    assert fake_mastodon.requests == []


def test_a_private_address_is_refused_in_plain_words() -> None:
    guarded = outbound.Fetcher(resolver=lambda host, port: ["10.0.0.7"])
    with pytest.raises(Refused) as refused:
        guarded.fetch("https://intranet.example.org/feed.xml")
    message = runner.explain(refused.value, {"url": "https://intranet.example.org/feed.xml"})
    assert message.startswith("intranet.example.org points to a private or local network "
                              "address")


@pytest.mark.parametrize(("error", "message"), [
    (FetchFailed("cannot resolve www.example.com: [Errno -2] Name or service not known"),
     "The address www.example.com could not be found. Check the spelling."),
    (Refused("the fetch took longer than allowed"),
     "example.social did not answer in time. It may be down or slow; the source tries again "
     "by itself, or press Test again in a minute."),
    (FetchFailed("https://example.social/x: ConnectError: [Errno 111] Connection refused"),
     "example.social refused the connection: nothing answers there, or it is down. Check the "
     "address; the source tries again by itself."),
    (FetchFailed("https://example.social/x answered 410", 410),
     "example.social answered 410: it is gone for good."),
    (SourceError("The feed at https://example.social is not well-formed XML."),
     "The feed at https://example.social is not well-formed XML."),
])
def test_each_failure_has_one_plain_message(error: Exception, message: str) -> None:
    assert runner.explain(error, {"instance": "https://example.social"}) == message


def test_a_dns_failure_from_the_resolver_itself_is_plain() -> None:
    with pytest.raises(FetchFailed) as failed:
        outbound.system_resolver("www.nowhere-samembed.invalid", 443)
    assert isinstance(failed.value.__cause__, socket.gaierror)
    assert runner.explain(failed.value) == ("The address www.nowhere-samembed.invalid could "
                                            "not be found. Check the spelling.")


def test_a_rate_limit_is_not_an_error(ada: Client, story: Story,
                                      fake_mastodon: FakeMastodon) -> None:
    fake_mastodon.throttle(retry_after="120")
    answer = json.loads(ada.post(add_url(story), hashtag(fake_mastodon),
                                 headers={"Accept": "application/json"}).content)
    assert answer["ok"] is True
    assert answer["message"] == ("The network asks us to wait 2 min (a rate limit); the "
                                 "source will collect after that.")


def make_source(story: Story, label: str, **fields: object) -> Source:
    added = sources.add(Source(story_id=story.id, kind="mastodon", label=label,
                               settings={"instance": "https://mastodon.test", "mode": "hashtag",
                                         "tag": label}, interval=60.0))
    saved = sources.save(added, **fields) if fields else added
    assert saved is not None
    return saved


def test_health_counts_problems_and_gives_the_next_retry(ada: Client, story: Story) -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=4)
    make_source(story, "fine", last_ok_at=datetime.now(UTC))
    make_source(story, "failing", failures=2, next_run_at=soon,
                last_error="mastodon.test answered 503: it is down or overloaded.")
    make_source(story, "paused", failures=PAUSE_AFTER_FAILURES,
                paused_since=datetime.now(UTC), last_error="gone")
    make_source(story, "off", enabled=False)

    health = health_summary(story.id)
    assert (health.total, health.ok, health.failing, health.paused, health.disabled) == (
        4, 1, 1, 1, 1)
    assert health.next_retry == soon
    assert [p.label for p in health.problems] == ["failing", "paused"]
    assert health.summary == f"Sources: 1 paused, 1 failing; next retry {soon:%H:%M} UTC."

    page = text_of(ada.get(f"/studio/stories/{story.id}/sources").content.decode())
    assert f"Sources: 1 paused, 1 failing; next retry {soon:%H:%M} UTC." in page
    assert "failing 2 times in a row. Next try" in page
    assert "It waits for you: fix the cause, then press Retry now." in page


def test_a_story_without_problems_has_an_empty_summary(story: Story) -> None:
    make_source(story, "fine")
    assert health_summary(story.id).summary == ""
    assert health_summary(make_story("empty").id).total == 0


def test_the_page_groups_fields_by_kind_and_documents_the_push_api(ada: Client,
                                                                   story: Story) -> None:
    response = ada.get(f"/studio/stories/{story.id}/sources")
    body = response.content.decode()
    assert response.status_code == 200
    for kind in ("mastodon", "bluesky", "rss"):
        assert f'<fieldset class="src-kind" data-kind="{kind}">' in body
    assert "<legend>Mastodon settings</legend>" in body
    assert 'src="/static/studio/sources.' in body
    assert f"curl -X POST 'http://testserver/api/v1/stories/{story.slug}/posts'" in body
    assert "Up to 100 posts and 1,048,576 bytes per request" in unescape(body)
    assert "see the README" not in body
    assert f'href="/studio/stories/{story.id}/"' in body  # back to the story settings


def test_messages_after_an_action_stay_out_of_the_url(ada: Client, story: Story,
                                                      fake_mastodon: FakeMastodon) -> None:
    data = hashtag(fake_mastodon)
    del data["test"]
    response = ada.post(add_url(story), data)
    assert response.status_code == 302
    assert response["Location"] == f"/studio/stories/{story.id}/sources"
    assert "Added Mastodon: #harbour on http://mastodon.test" in unescape(
        ada.get(response["Location"]).content.decode())
    assert "Added Mastodon" not in ada.get(response["Location"]).content.decode()
