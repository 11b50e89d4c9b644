"""Scheduled ramps and what the guard decides on: steps that wait for their time and
for the new variant to be shown healthy, one actor per step, plans held by a
ramp-down; counts shared through the `flag_counts` rollup; render time per variant."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from samembed import flags, metrics, mongo
from samembed.embed import guard
from samembed.exceptions import Conflict
from samembed.repositories import audit, flag_counts
from samembed.repositories import flags as repo
from tests.factories import make_story
from tests.test_flags_guard import serve as counted

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]


@pytest.fixture(autouse=True)
def counters() -> Any:
    flags.affects_embed("grid-v2")
    for registry in (metrics.fast, metrics.app):
        registry.clear()
    guard.flusher.clear()
    guard._recent.clear()
    yield
    for registry in (metrics.fast, metrics.app):
        registry.clear()
    guard.flusher.clear()


def serve(on: int, off: int, errors_on: int, errors_off: int) -> None:
    """Exposures and client errors of grid-v2, as the fast path counts them."""
    flags.refresh()
    counted(on, off, errors_on, errors_off)


def guard_once(*extra: str) -> str:
    out = io.StringIO()
    call_command("flags", "guard", "--once", *extra, stdout=out)
    return out.getvalue()


def backdate(key: str, seconds: float) -> None:
    """The current step began `seconds` ago (a plan's wait, without waiting)."""
    mongo.database()["flags"].update_one(
        {"key": key}, {"$set": {"stepped_at": datetime.now(UTC) - timedelta(seconds=seconds)}})


# ---- plans ---------------------------------------------------------------------------


def test_a_plan_is_read_as_people_write_it_and_bad_ones_say_why() -> None:
    assert repo.parse_plan("5@1h 20@90m 50 100@1d") == [
        {"rollout": 500, "after": 3600}, {"rollout": 2000, "after": 5400},
        {"rollout": 5000, "after": 0}, {"rollout": 10000, "after": 86400}]
    assert repo.plan_text(repo.parse_plan("0.5@30s 5@1h")) == "0.5@30s 5@1h"
    for bad, message in [("20@1h 5@1h", "higher percentage"), ("5@1x", "not a wait"),
                         ("abc", "not a percentage"), ("101@1h", "more than 100 %"),
                         ("5@31d", "longer than 30 days"), (" ".join(["1"] * 21), "at most")]:
        with pytest.raises(repo.FlagInvalid) as caught:
            repo.clean({"plan": bad})
        assert message in caught.value.errors["plan"], (bad, caught.value.errors)


def test_the_guard_takes_a_due_step_when_the_new_variant_is_shown_healthy() -> None:
    call_command("flags", "set", "grid-v2", "--create", "--percent", "1", "--unit", "origin",
                 "--plan", "5@1h 20@1h", stdout=io.StringIO())
    # Due: the 1 % step began more than an hour ago.
    backdate("grid-v2", 3700)
    serve(on=400, off=1600, errors_on=1, errors_off=5)
    out = guard_once()
    stored = repo.get("grid-v2")
    assert stored is not None and stored.rollout == 500 and stored.previous_rollout == 100
    assert "guard: grid-v2 up to 5% as planned" in out
    entry = audit.for_flag("grid-v2")[0]
    assert (entry.action, entry.actor) == ("flag.step", "guardrail")
    assert entry.changes["rollout"] == {"before": 100, "after": 500}
    assert "not worse than off" in entry.changes["reason"]["after"]
    # The next step waits its hour from now, whatever the counts say.
    assert guard_once() == ""
    assert repo.get("grid-v2").rollout == 500  # type: ignore[union-attr]


def test_a_due_step_waits_for_evidence_and_does_not_step_on_noise() -> None:
    repo.create("grid-v2", "ada", unit="origin", percent="1", plan="5@10m")
    backdate("grid-v2", 700)
    serve(on=50, off=300, errors_on=0, errors_off=0)
    out = io.StringIO()
    call_command("flags", "guard", "--once", verbosity=2, stdout=out)
    assert "grid-v2 waits before 5%: waiting for 200 exposures of on and of off " \
           "(now 50 and 300)" in out.getvalue()
    # Enough exposures, but 3 % errors against 2 %: not shown within the margin.
    serve(on=300, off=0, errors_on=12, errors_off=6)
    out = io.StringIO()
    call_command("flags", "guard", "--once", verbosity=2, stdout=out)
    assert "not yet shown within 1.00% of off's" in out.getvalue()
    assert repo.get("grid-v2").rollout == 100  # type: ignore[union-attr]


def test_of_two_guards_judging_one_step_due_only_one_takes_it() -> None:
    flag = repo.create("grid-v2", "ada", unit="origin", percent="1", plan="5@0s")
    repo.step(flag, 500, "healthy")
    with pytest.raises(Conflict):
        repo.step(flag, 500, "healthy")  # the other guard, on the same version
    assert [e.action for e in audit.for_flag("grid-v2")] == ["flag.step", "flag.create"]
    assert repo.get("grid-v2").rollout == 500  # type: ignore[union-attr]


def test_a_ramp_down_holds_the_plan_until_a_person_resumes_it(ada: Client) -> None:
    repo.create("grid-v2", "ada", unit="origin", percent="5", plan="20@0s 50@0s")
    serve(on=400, off=1600, errors_on=120, errors_off=2)
    assert "guard: grid-v2 back to 0%" in guard_once()
    stored = repo.get("grid-v2")
    assert stored is not None and stored.rollout == 0
    assert stored.plan_hold.startswith("on: client error rate 30.00%")
    # Held: no step, although the first one would be due and is not gated from 0.
    assert guard_once() == ""
    page = ada.get("/studio/flags/grid-v2").content.decode()
    assert "held by the guardrail (on: client error rate 30.00%" in page
    assert 'name="resume"' in page
    response = ada.post("/studio/flags/grid-v2", {
        "version": str(stored.version), "percent": "0", "unit": "origin",
        "plan": "20@0s 50@0s", "resume": "1"})
    assert response.status_code == 302
    resumed = repo.get("grid-v2")
    assert resumed is not None and resumed.plan_hold == ""
    assert "up to 20% as planned: the first step" in guard_once()


def test_the_studio_saves_a_plan_and_refuses_a_bad_one_with_the_reason(ada: Client) -> None:
    ada.post("/studio/flags/", {"key": "grid-v2", "percent": "1", "unit": "origin"})
    response = ada.post("/studio/flags/grid-v2", {
        "version": "1", "percent": "1", "unit": "origin", "plan": "20@1h 5@1h"})
    assert response.status_code == 400
    assert b"each step must be a higher percentage" in response.content
    assert repo.get("grid-v2").plan == ()  # type: ignore[union-attr]
    response = ada.post("/studio/flags/grid-v2", {
        "version": "1", "percent": "1", "unit": "origin", "plan": "5@1h 100@1d"})
    assert response.status_code == 302
    stored = repo.get("grid-v2")
    assert stored is not None and stored.plan == ((500, 3600), (10000, 86400))
    page = ada.get("/studio/flags/grid-v2").content.decode()
    assert 'value="5@1h 100@1d"' in page and "next 5 % from" in page
    assert "plan 5@1h 100@1d, next 5 %" in ada.get("/studio/flags/").content.decode()
    entry = audit.for_flag("grid-v2")[0]
    assert entry.changes["plan"] == {"before": "", "after": "5@1h 100@1d"}


def test_the_command_refuses_a_bad_plan_in_one_line() -> None:
    with pytest.raises(CommandError) as caught:
        call_command("flags", "set", "grid-v2", "--create", "--plan", "5@soon",
                     stdout=io.StringIO())
    assert "plan: step 5@soon" in str(caught.value) and "\n" not in str(caught.value)


# ---- shared counts and render time -----------------------------------------------------


def test_counts_are_flushed_as_increments_and_summed_over_writers() -> None:
    repo.create("grid-v2", "ada", unit="origin", percent="50")
    serve(on=3, off=2, errors_on=1, errors_off=0)
    assert guard.flusher.flush() == 2
    serve(on=4, off=0, errors_on=0, errors_off=0)
    # Another instance's worker: its own counts, added to the same buckets.
    other = guard.CountFlusher()
    flag_counts.apply(flag_counts.increments({("grid-v2", "on"): {"exposure": 10}},
                                             datetime.now(UTC)))
    assert guard.flusher.flush() == 1
    assert other.pending() != {}  # it has never written: everything is pending for it
    found = flag_counts.recent(["grid-v2"], 60)["grid-v2"]
    assert found["on"]["exposure"] == 17 and found["on"]["client_error"] == 1
    assert found["off"]["exposure"] == 2
    # Nothing new: nothing written.
    assert guard.flusher.flush() == 0


def test_forged_beacons_reach_neither_the_counters_nor_the_rollup() -> None:
    repo.create("grid-v2", "ada", unit="origin", percent="50")
    flags.refresh()
    for i in range(5000):
        guard.report(f"grid-v2=v{i}&x{i}=on".encode())
    assert guard.flusher.pending() == {}
    assert guard.flusher.flush() == 0
    assert flag_counts.recent(["grid-v2", *(f"x{i}" for i in range(10))], 60) == {}


def test_the_guard_decides_on_the_rollup_not_on_its_own_process() -> None:
    repo.create("grid-v2", "ada", unit="origin", percent="20")
    # Two other instances' workers flushed these; this process counted nothing.
    now = datetime.now(UTC)
    for _ in range(2):
        flag_counts.apply(flag_counts.increments({
            ("grid-v2", "on"): {"exposure": 150, "client_error": 45},
            ("grid-v2", "off"): {"exposure": 150, "client_error": 1}}, now))
    assert "guard: grid-v2 back to 0%" in guard_once()
    assert repo.get("grid-v2").rollout == 0  # type: ignore[union-attr]


def test_render_time_is_counted_per_variant_and_shown_on_the_flag_page(ada: Client) -> None:
    make_story("demo", posts=3)
    on = flags.origin_unit("https://beta.example")
    repo.create("grid-v2", "ada", unit="origin", origins="https://beta.example")
    flags.refresh()
    assert Client().get(f"/e/demo?template=grid&o={on}").status_code == 200
    assert Client().get("/e/demo?template=grid&o=abc").status_code == 200
    renders = {k: v for k, v in metrics.app.counters.items() if 'kind="render' in k}
    assert renders['samembed_flag_events_total{flag="grid-v2",kind="render",variant="on"}'] == 1
    assert renders['samembed_flag_events_total{flag="grid-v2",kind="render",variant="off"}'] == 1
    assert renders[
        'samembed_flag_events_total{flag="grid-v2",kind="render_seconds",variant="on"}'] > 0
    guard.flusher.flush()
    page = ada.get("/studio/flags/grid-v2").content.decode()
    assert "Mean render time" in page
    row = page.split('<th scope="row">on</th>', 1)[1].split("</tr>", 1)[0]
    assert row.count("<td>") == 6 and row.endswith(" ms</td>"), row
