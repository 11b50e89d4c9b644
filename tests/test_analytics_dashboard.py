"""What editors and newsroom dashboards read of a story's analytics: the studio's
dashboard and CSV, the stats API, and the token the public embed carries."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client

from samembed.analytics import tokens
from samembed.analytics.collect import Counter, Endpoint
from samembed.repositories import sources as sources_repo
from samembed.repositories.stories import Story
from tests.factories import make_story
from tests.test_analytics_endpoint import beacon, first_post, post

pytestmark = pytest.mark.usefixtures("mongo_db")


@pytest.fixture
def story() -> Story:
    """A story read by 40 readers on two sites: 30 views, 6 clicks on one post."""
    story = make_story("harbour", posts=3, title="Harbour festival")
    counter = Counter()
    counter.refresh_salts()
    endpoint = Endpoint(counter, start=False)
    clicked = first_post(story)
    for i in range(40):
        events: list[list[object]] = [["load", None, 10]]
        if i < 30:
            events += [["view", None, 1100], ["post_view", clicked, 1500]]
        if i < 6:
            events.append(["click", clicked, 2000])
        site = "https://news.example" if i % 4 else "https://blog.example"
        assert post(endpoint, beacon(story, events, view=f"pv-dash-{i:010d}", origin=site),
                    address=f"192.0.2.{i}")[0] == 204
    counter.flush()
    return story


def test_the_dashboard_shows_views_rates_readers_clicks_and_sites(ada: Client,
                                                                 story: Story) -> None:
    response = ada.get(f"/studio/stories/{story.id}/stats")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    html = response.content.decode()
    totals = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
    assert totals["Views"] == "30" and totals["Viewable rate"] == "75.0 %"
    assert totals["Clicks"] == "6" and totals["Click-through"] == "20.0 %"
    # Readers who saw it: 30 addresses, estimated (two may share a register).
    assert 28 <= int(totals["Unique readers"]) <= 31
    assert html.count('<svg class="chart"') == 5  # by day: uniques too
    assert "https://news.example" in html and "https://blog.example" in html
    assert "Author 0" in html  # the clicked post, by its author
    by_hour = ada.get(f"/studio/stories/{story.id}/stats?period=24h").content.decode()
    assert by_hour.count('<svg class="chart"') == 4  # no uniques per hour


def test_the_dashboard_exports_its_series_as_csv(ada: Client, story: Story) -> None:
    response = ada.get(f"/studio/stories/{story.id}/stats?period=7d&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode().lstrip("\ufeff"))))
    assert rows[0][:3] == ["start (UTC)", "loads", "views"]
    assert len(rows) == 1 + 7
    assert rows[-1][1:4] == ["40", "30", "0.7500"] and 28 <= int(rows[-1][4]) <= 31


def test_an_unknown_period_is_a_clear_400(ada: Client, story: Story) -> None:
    response = ada.get(f"/studio/stories/{story.id}/stats?period=1y")
    assert response.status_code == 400 and b"24h, 7d, 30d" in response.content
    response = ada.get(f"/studio/stories/{story.id}/stats?period=30d&step=hour")
    assert response.status_code == 400 and b"by day" in response.content


def test_the_dashboard_is_for_editors_only(client: Client, story: Story) -> None:
    response = client.get(f"/studio/stories/{story.id}/stats")
    assert response.status_code == 302 and "/studio/login" in response["Location"]


def test_the_stats_api_answers_with_the_storys_push_token(client: Client,
                                                          story: Story) -> None:
    url = f"/api/v1/stories/{story.slug}/stats?period=7d"
    assert client.get(url).status_code == 401
    sources_repo.set_push_token(story.id, "right-token-" + "x" * 20)
    wrong = client.get(url, HTTP_AUTHORIZATION="Bearer wrong")
    assert wrong.status_code == 401 and "wrong token" in wrong.json()["error"]
    response = client.get(url, HTTP_AUTHORIZATION="Bearer right-token-" + "x" * 20)
    assert response.status_code == 200 and response["Cache-Control"] == "private, no-store"
    body = response.json()
    assert 28 <= body["totals"].pop("uniques") <= 31
    assert body["totals"] == {"loads": 40, "views": 30, "clicks": 6, "more": 0, "reveals": 0,
                              "viewable_rate": 0.75, "click_through": 0.2}
    assert [s["name"] for s in body["sites"]] == ["https://news.example",
                                                  "https://blog.example"]
    assert body["top_posts_by_clicks"][0]["clicks"] == 6
    assert body["uniques_standard_error"] == 0.0081
    assert len(body["series"]) == 7
    bad = client.get(url + "&step=minute", HTTP_AUTHORIZATION="Bearer right-token-" + "x" * 20)
    assert bad.status_code == 400
    assert client.get("/api/v1/stories/nope/stats").status_code == 404


def test_the_public_embed_carries_its_storys_token_and_nothing_per_reader(
    client: Client, ada: Client
) -> None:
    story = make_story("harbour", posts=2)
    first = client.get("/e/harbour", HTTP_USER_AGENT="reader one", REMOTE_ADDR="192.0.2.1")
    second = client.get("/e/harbour", HTTP_USER_AGENT="reader two", REMOTE_ADDR="192.0.2.2")
    assert first.status_code == 200 and first.content == second.content
    token = re.search(rb'data-stats="([^"]+)"', first.content)
    assert token and tokens.verify(token.group(1).decode()) == (str(story.id), "")
    assert "set-cookie" not in {k.lower() for k in first.headers}
    preview = ada.get(f"/studio/stories/{story.id}/preview")
    assert preview.status_code == 200
    html = re.search(rb"<html[^>]*>", preview.content)
    assert html and b"data-stats" not in html.group(0)
