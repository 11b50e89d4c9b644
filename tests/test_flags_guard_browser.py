"""The guardrail end to end: real Chromium views of a real gunicorn, error beacons,
the workers' counts flushed to `flag_counts`, and `manage.py flags guard` running as
its own process. A variant that throws in the browser for 30 % of its views is
ramped back within 60 s of the load; a healthy one is left where it is.

Sped up, not changed: the workers flush every 0.5 s (FLAGS_FLUSH_INTERVAL), the
guard looks every second over a 30 s window, and decides on 30 exposures a side
instead of 200, so each run takes seconds rather than the minute the shipped
settings (10 s looks, 200 exposures) allow. The decision itself is the shipped one.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext

from samembed.embedded_db import EmbeddedDB
from samembed.repositories import flags as repo
from tests.factories import make_story
from tests.servers import ROOT, Gunicorn

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("mongo_db")]

LEAST = 30
# In every embed document of the new grid, 30 % of views throw once loaded: the
# broken template, as the reader's browser meets it.
BROKEN = """
if (location.pathname.indexOf("/e/") === 0) {
  addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("main[data-template-version='2']") && Math.random() < 0.3) {
      setTimeout(function () { throw new Error("broken variant"); });
    }
  });
}
"""
LOOKED = re.compile(r"guard: grid-v2 looked: off (\d+) exposures.*; on (\d+) exposures")


@pytest.fixture
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    gunicorn = Gunicorn(embedded_db.uri, workers=2, FLAGS_FLUSH_INTERVAL="0.5")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


class Guard:
    """`manage.py flags guard` as deployed, with its output kept to read."""

    def __init__(self, server: Gunicorn) -> None:
        self.out = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "flags", "-v", "2", "--actor", "test", "guard",
             "--interval", "1", "--window", "30", "--min-exposures", str(LEAST),
             "--seconds", "120"],
            cwd=ROOT, env=server.env, stdout=self.out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.out.close()


@pytest.fixture
def guard(server: Gunicorn) -> Iterator[Guard]:
    running = Guard(server)
    yield running
    running.stop()


def views(context: BrowserContext, server: Gunicorn, done: object, within: float,
          out: Callable[[], str] = lambda: "") -> int:
    """Embed views, one after another, until `done()` or `within` seconds; how many
    (`out()` tells what the guard saw, when it fails)."""
    page = context.new_page()
    started, count = time.monotonic(), 0
    while not done():  # type: ignore[operator]
        assert time.monotonic() - started < within, f"not done after {count} views: {out()}"
        # A fresh URL each time (as from another publisher's page), so the browser's
        # cache does not answer for the server: every view is an exposure.
        page.goto(f"{server.url}/e/demo?template=grid&o=t{count}", wait_until="load")
        page.locator("article.post").first.wait_for()
        count += 1
    page.close()
    return count


def rollout() -> int:
    flag = repo.get("grid-v2")
    assert flag is not None
    return flag.rollout


def test_a_variant_that_throws_for_30_percent_of_views_is_ramped_back_within_60_s(
        browser: Browser, server: Gunicorn, guard: Guard) -> None:
    make_story("demo", posts=3)
    repo.create("grid-v2", "ada", unit="pageview", percent="50")
    context = browser.new_context()
    context.add_init_script(BROKEN)
    try:
        started = time.monotonic()
        count = views(context, server, lambda: rollout() == 0, 60,
                      lambda: guard.output()[-3000:])
        seconds = time.monotonic() - started
    finally:
        context.close()
    assert seconds < 60, guard.output()[-3000:]
    flag = repo.get("grid-v2")
    assert flag is not None and flag.rollout == 0
    assert flag.guard_reason.startswith("on: client error rate"), flag.guard_reason
    assert "guard: grid-v2 back to 0%" in guard.output()
    print(f"ramped back after {count} views in {seconds:.1f} s")  # the figure, with -s


def test_a_healthy_variant_is_left_where_it_is(
        browser: Browser, server: Gunicorn, guard: Guard) -> None:
    make_story("demo", posts=3)
    repo.create("grid-v2", "ada", unit="pageview", percent="50")
    context = browser.new_context()
    errors: list[str] = []
    context.on("weberror", lambda e: errors.append(str(e.error)))

    def judged_twice() -> bool:
        # Two looks that saw enough of both sides: the second one's judgement done.
        enough = [m for m in LOOKED.finditer(guard.output())
                  if int(m.group(1)) >= LEAST and int(m.group(2)) >= LEAST]
        return len(enough) >= 3

    try:
        views(context, server, judged_twice, 60, lambda: guard.output()[-3000:])
    finally:
        context.close()
    flag = repo.get("grid-v2")
    assert flag is not None and flag.rollout == 5000 and flag.guard_reason == ""
    assert "back to" not in guard.output()
    assert errors == []
