"""`/studio/flags/` and `manage.py flags`: who may change flags, bad input as 400s
with the reason, lost races as 409s, kills, the audit trail, and the staff preview."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from samembed import flags, metrics
from samembed.embed import guard
from samembed.repositories import audit
from samembed.repositories import flags as repo
from tests.factories import make_story

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


def test_an_outsider_is_sent_to_sign_in_and_nothing_changes() -> None:
    response = Client().post("/studio/flags/", {"key": "grid-v2"})
    assert response.status_code == 302 and response["Location"].startswith("/studio/login")
    assert repo.get("grid-v2") is None


def test_an_editor_creates_ramps_and_kills_a_flag(ada: Client) -> None:
    response = ada.post("/studio/flags/", {"key": "grid-v2", "percent": "5", "unit": "origin",
                                           "description": "New grid"})
    assert response.status_code == 302 and response["Location"] == "/studio/flags/grid-v2"
    page = ada.get("/studio/flags/")
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    assert page["X-Frame-Options"] == "DENY"
    assert b"grid-v2" in page.content and b"ramping" in page.content
    flag = repo.get("grid-v2")
    assert flag is not None and (flag.rollout, flag.unit, flag.owner) == (500, "origin", "ada")

    response = ada.post("/studio/flags/grid-v2", {
        "version": "1", "percent": "20", "unit": "origin",
        "origins": "https://beta.example\nhttps://news.example", "seed": "grid-v2"})
    assert response.status_code == 302
    flag = repo.get("grid-v2")
    assert flag is not None and flag.rollout == 2000 and flag.version == 2
    assert flag.origins == ("https://beta.example", "https://news.example")
    # The editor's own process already sees it, without waiting for a watch.
    assert flags.current().rules["grid-v2"].rollout == 2000

    assert ada.post("/studio/flags/grid-v2/kill").status_code == 302
    flag = repo.get("grid-v2")
    assert flag is not None and flag.killed
    assert flags.variant("grid-v2", origin=flags.origin_unit("https://beta.example")) == "off"
    assert [e.action for e in audit.for_flag("grid-v2")] == \
        ["flag.kill", "flag.update", "flag.create"]
    assert b"<strong>ada</strong> killed it" in ada.get("/studio/flags/grid-v2").content


@pytest.mark.parametrize(("field", "value", "message"), [
    ("percent", "-1", b"not a percentage"),
    ("percent", "10001", b"not a percentage"),
    ("percent", "abc", b"not a percentage"),
    ("origins", "javascript:alert(1)", b"not an origin"),
    ("origins", "/news", b"not an origin"),
    ("origins", "https://" + "x" * 5000, b"longer than an origin"),
])
def test_bad_values_are_a_400_that_keeps_what_was_typed(ada: Client, field: str, value: str,
                                                        message: bytes) -> None:
    ada.post("/studio/flags/", {"key": "grid-v2"})
    response = ada.post("/studio/flags/grid-v2", {"version": "1", "unit": "story",
                                                  "percent": "1", field: value})
    assert response.status_code == 400
    assert message in response.content and b'aria-invalid="true"' in response.content
    flag = repo.get("grid-v2")
    assert flag is not None and flag.version == 1


@pytest.mark.parametrize("key", ["grid v2", "$where", "a$b"])
def test_a_key_with_spaces_or_dollars_is_a_400(ada: Client, key: str) -> None:
    response = ada.post("/studio/flags/", {"key": key})
    assert response.status_code == 400 and b"not a flag key" in response.content
    assert repo.all_flags() == []


def test_two_editors_ramping_at_once_the_second_gets_a_409(ada: Client, grace: Client) -> None:
    ada.post("/studio/flags/", {"key": "grid-v2"})
    assert ada.post("/studio/flags/grid-v2", {"version": "1", "percent": "5",
                                              "unit": "story"}).status_code == 302
    response = grace.post("/studio/flags/grid-v2", {"version": "1", "percent": "50",
                                                    "unit": "story"})
    assert response.status_code == 409 and b"Someone saved this flag" in response.content
    flag = repo.get("grid-v2")
    assert flag is not None and flag.rollout == 500


def test_a_flag_deleted_while_embeds_are_open_turns_them_back(ada: Client) -> None:
    make_story("demo", posts=2)
    ada.post("/studio/flags/", {"key": "grid-v2", "percent": "100"})
    assert b'data-template-version="2"' in Client().get("/e/demo?template=grid").content
    assert ada.post("/studio/flags/grid-v2/delete", {"version": "1"}).status_code == 302
    assert repo.get("grid-v2") is None
    assert b'data-template-version="2"' not in Client().get("/e/demo?template=grid").content
    assert ada.get("/studio/flags/grid-v2").status_code == 404


def test_staff_preview_any_variant_and_a_bad_one_is_a_400(ada: Client) -> None:
    story = make_story("demo", posts=2)
    ada.post("/studio/flags/", {"key": "grid-v2"})
    base = f"/studio/stories/{story.id}/preview?template=grid"
    assert b'data-template-version="2"' not in ada.get(base).content
    assert b'data-template-version="2"' in ada.get(base + "&variant=grid-v2").content
    # Staff on the allow-list see it without asking; "off" shows the old one.
    repo.update(repo.get("grid-v2"), "ada", staff="ada")  # type: ignore[arg-type]
    flags.refresh()
    assert b'data-template-version="2"' in ada.get(base).content
    assert b'data-template-version="2"' not in ada.get(base + "&variant=grid-v2:off").content
    response = ada.get(base + "&variant=nope")
    assert response.status_code == 400 and b"not a flag that changes the embed" in \
        response.content


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("flags", *args, stdout=out)
    return out.getvalue()


def test_the_command_sets_kills_and_allow_lists() -> None:
    assert run("list") == "no flags\n"
    assert "grid-v2\t5%\tunit=origin" in run("set", "grid-v2", "--percent", "5",
                                             "--unit", "origin", "--create")
    assert "\t12.5%\t" in run("set", "grid-v2", "--percent", "12.5")
    line = run("allow", "grid-v2", "--origin", "https://News.example", "--staff", "ada")
    assert "staff=1 origins=1" in line
    assert "KILLED" in run("kill", "grid-v2")
    assert "KILLED" in run("list")
    assert "\t12.5%\t" in run("kill", "grid-v2", "--release")
    entries = audit.for_flag("grid-v2")
    assert [e.action for e in entries][:2] == ["flag.unkill", "flag.kill"]
    assert entries[0].actor.startswith("cli:")


@pytest.mark.parametrize(("args", "message"), [
    (("set", "grid-v2", "--percent", "-1"), "not a percentage"),
    (("set", "grid-v2", "--percent", "10001"), "not a percentage"),
    (("set", "grid-v2", "--percent", "abc"), "not a percentage"),
    (("allow", "grid-v2", "--origin", "javascript:alert(1)"), "not an origin"),
    (("allow", "grid-v2", "--origin", "/a/path"), "not an origin"),
    (("set", "grid v2", "--percent", "5"), "not a flag key"),
    (("kill", "missing"), "no flag 'missing'"),
])
def test_the_command_refuses_bad_input_in_one_line(args: tuple[str, ...], message: str) -> None:
    run("set", "grid-v2", "--create")
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_flag_page_shows_exposures_and_error_rates_per_variant(ada: Client) -> None:
    ada.post("/studio/flags/", {"key": "grid-v2", "percent": "50", "unit": "origin"})
    # Earlier embeds this process served (Django counts them too) are not this test's.
    metrics.fast.clear()
    metrics.app.clear()
    guard.flusher.clear()
    try:
        for _ in range(200):
            guard.exposed({"grid-v2": "on"})
        for _ in range(100):
            guard.exposed({})
        for _ in range(3):
            guard.report(b"grid-v2=on")
        # What a worker's flusher does every FLAGS_FLUSH_INTERVAL.
        guard.flusher.flush()
        page = ada.get("/studio/flags/grid-v2").content.decode()
        listed = ada.get("/studio/flags/").content.decode()
    finally:
        metrics.fast.clear()
        metrics.app.clear()
        guard.flusher.clear()
    assert "<th scope=\"row\">on</th><td>200</td><td>0</td><td>3</td><td>1.50 %</td>" in page
    assert "<th scope=\"row\">off</th><td>100</td><td>0</td><td>0</td><td>0.00 %</td>" in page
    # The last hour as charts: every instance's counts in the latest step, "off"
    # drawn dashed (class s1), the new variant in colour; each says its numbers.
    for html, cls in ((page, "chart"), (listed, "chart spark")):
        assert html.count(f'<svg class="{cls}"') == 2
        assert "grid-v2: exposures per variant, last hour</title>" in html
        assert "<desc id=\"" in html and \
            "off from 0 to 100, highest 100; on from 0 to 200, highest 200</desc>" in html
        assert "off from 0.0 % to 0.0 %, highest 0.0 %; on from 1.5 % to 1.5 %, " \
            "highest 1.5 %</desc>" in html
        assert '<polyline class="s1"' in html and '<polyline class="s2"' in html
    assert '<span class="key s2">on</span> 200 shown · 1.50 % errors' in listed


def test_the_trail_and_the_list_say_what_changed_in_words_and_percent(ada: Client) -> None:
    make_story("tonight")
    ada.post("/studio/flags/", {"key": "grid-v2", "percent": "5", "unit": "origin",
                                "origins": "https://beta.example"})
    ada.post("/studio/flags/grid-v2", {"version": "1", "percent": "20", "unit": "origin",
                                       "origins": "https://beta.example", "owner": "ada",
                                       "stories": "tonight", "seed": "grid-v2"})
    page = ada.get("/studio/flags/grid-v2").content.decode()
    assert ("<strong>ada</strong> changed: rollout 5 % → 20 %; stories none → tonight</p>"
            in page)
    assert ("<strong>ada</strong> created the flag: owner ada; rollout 5 %; unit origin; "
            "seed grid-v2; origins https://beta.example</p>") in page
    listed = ada.get("/studio/flags/").content.decode()
    assert "0 staff · 1 origin · 1 story</td>" in listed
    # The allow-list is kept by story and shown under the story's slug.
    assert ">tonight</textarea>" in page
    response = ada.post("/studio/flags/grid-v2", {"version": "2", "percent": "20",
                                                  "unit": "origin", "stories": "tonihgt"})
    assert response.status_code == 400
    assert b"no story has the slug &#39;tonihgt&#39;" in response.content


def test_the_trail_says_why_the_guardrail_ramped_a_flag_back(ada: Client) -> None:
    flag = repo.create("grid-v2", "ada", unit="origin", percent="5")
    flag = repo.update(flag, "ada", percent="20")
    repo.ramp_down(flag, 500, "on: client error rate 30.00% against 0.12% for off")
    page = ada.get("/studio/flags/grid-v2").content.decode()
    assert ("<strong>guardrail</strong> ramped it back: rollout 20 % → 5 %; because on: "
            "client error rate 30.00% against 0.12% for off</p>") in page
