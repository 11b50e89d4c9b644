"""Bytes per embed view as a reader's browser fetches them: the document, CSS,
scripts and images of a 1280 px grid and a 390 px list of `demo`, scrolled
through to the end of their first page (every lazy image loaded), with a cold
browser cache. Counts what went over the wire (compressed), from Chromium's own
network events.

By hand, against a running `make run` (demo data); not part of `make test`:

    .venv/bin/python bench/view_bytes.py [BASE_URL]
    # default: http://127.0.0.1:8000
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import launch_chromium  # noqa: E402

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
VIEWS = (("grid", 1280, 800), ("list", 390, 844))
KINDS = {"Document": "document", "Stylesheet": "css", "Script": "js", "Image": "images"}


def view(pw_browser: object, template: str, width: int, height: int) -> dict[str, int]:
    """Bytes by kind for one cold view of /e/demo?template=… at width × height."""
    context = pw_browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": width, "height": height}, device_scale_factor=1)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    kinds: dict[str, str] = {}
    totals: dict[str, int] = defaultdict(int)
    cdp.on("Network.responseReceived",
           lambda e: kinds.__setitem__(e["requestId"], KINDS.get(e["type"], "other")))
    cdp.on("Network.loadingFinished", lambda e: totals.__setitem__(
        kinds.get(e["requestId"], "other"),
        totals[kinds.get(e["requestId"], "other")] + int(e["encodedDataLength"])))
    page.goto(f"{BASE}/e/demo?template={template}", wait_until="load")
    end = 0
    while True:
        page.mouse.wheel(0, height)
        page.wait_for_timeout(150)
        y, total = page.evaluate("[scrollY + innerHeight, document.documentElement.scrollHeight]")
        if y >= total or end > 400:
            break
        end += 1
    page.wait_for_load_state("networkidle")
    context.close()
    result = dict(totals)
    result["total"] = sum(totals.values())
    return result


def main() -> None:
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        figures = {f"{t}_{w}": view(browser, t, w, h) for t, w, h in VIEWS}
        browser.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
