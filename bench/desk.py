"""The moderation desk as an editor feels it: milliseconds from a key press to the
next post focused (the desk moves on before the server answers) and to the
server's confirmation (the undo bar), over 20 rejections and their undos.

By hand, against a running `make run` (demo data); not part of `make test` or
`make bench`:

    .venv/bin/python bench/desk.py [BASE_URL] [VAR_DIR]
    # defaults: http://127.0.0.1:8000 and ./var (for the dev editor's password)
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import launch_chromium  # noqa: E402

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
VAR = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("var")
ROUNDS = 20
FOCUS_MOVED = """before => new Promise(resolve => {
  const check = () => {
    const id = document.activeElement.dataset.postId;
    if (id && id !== before) resolve(performance.now() - window.pressedAt);
    else requestAnimationFrame(check);
  };
  check();
})"""


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def main() -> None:
    password = (VAR / "dev-editor-password").read_text().strip()
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.goto(BASE + "/studio/login")
        page.fill("input[name=username]", "editor")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.locator(".story-row a.st-title").first.click()
        page.goto(page.url + "posts?state=approved")
        focused, confirmed = [], []
        for _ in range(ROUNDS):
            card = page.locator(".qcard").nth(3)
            card.focus()
            before = page.evaluate("document.activeElement.dataset.postId")
            page.evaluate("window.pressedAt = performance.now()")
            page.keyboard.press("r")
            focused.append(page.evaluate(FOCUS_MOVED, before))
            expect(page.locator("[data-undo-text]")).to_contain_text("rejected")
            confirmed.append(page.evaluate("performance.now() - window.pressedAt"))
            page.keyboard.press("u")
            expect(page.locator("[data-undo-text]")).to_contain_text("approved")
        browser.close()
    for name, values in (("next post focused", focused), ("server confirmed", confirmed)):
        print(f"{name:<18} p50 {statistics.median(values):6.0f} ms   "
              f"p95 {quantile(values, 0.95):6.0f} ms   ({ROUNDS} rejections)")


if __name__ == "__main__":
    main()
