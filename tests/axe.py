"""axe-core in Chromium: the accessibility checker the browser tests share.

npm's `axe-core`, pinned by package-lock.json and installed by `make test`
(`npm ci`), is evaluated in the page through Playwright (DevTools evaluation, so
the page's own CSP does not refuse it) and run with its default rules.

    violations = axe_violations(page)
    assert not violations, axe_summary(violations)
"""

from __future__ import annotations

from functools import cache
from typing import Any

from playwright.sync_api import Page

from tests.servers import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@cache
def _source() -> str:
    if not AXE.exists():
        raise FileNotFoundError(f"{AXE} is missing: run `make test`, or `npm ci` at the repo root.")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The violations of axe-core's default rules on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_source())
    result: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return result


def axe_summary(violations: list[dict[str, Any]], limit: int = 5) -> str:
    """One paragraph per rule: its id, impact and help, and its first failing nodes
    with axe's reason (the contrast figures, the missing name)."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v.get('impact')}): {v['help']} — {len(v['nodes'])} node(s)")
        for node in v["nodes"][:limit]:
            reason = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {' > '.join(map(str, node['target']))}: {reason[:300]}")
    return "\n".join(lines)
