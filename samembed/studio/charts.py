"""Inline SVG line charts for the studio's read-side pages: a story's analytics
(samembed.studio.stats) and the flags' guardrail counts (samembed.studio.flags).

Drawn here, not in the browser: the studio's CSP allows no inline script or
style, so colours and dashes come from studio.css classes (`s1`…`s4`). Each chart
is an `img` with a title and a description that states every series' first,
last and highest value, for screen readers; the pages show the numbers as a
table too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup, escape

Series = list[tuple[str, list[float | None], str]]  # (name, one value a step, CSS class)


@dataclass(frozen=True)
class Frame:
    """A chart's size and margins (in the SVG's own units), and what it labels."""

    width: int = 640
    height: int = 180
    left: int = 56
    right: int = 12
    top: int = 12
    bottom: int = 28
    ticks: bool = True


FULL = Frame()
# A sparkline for a table cell: no axis labels, the description says the values.
SPARK = Frame(width=160, height=40, left=2, right=2, top=4, bottom=4, ticks=False)


def percent(x: float | None) -> str:
    """A share as people read it: "12.5 %" ("–" for nothing to show)."""
    return "–" if x is None else f"{x * 100:.1f} %"


def number(x: float | None) -> str:
    """A count with thousands separated ("–" for nothing to show)."""
    return "–" if x is None else f"{x:,.0f}"


def line_chart(chart_id: str, title: str, labels: list[str], series: Series,
               fmt: Callable[[float | None], str], frame: Frame = FULL) -> Markup:
    """An SVG line chart of `series` (name, values, CSS class) over `labels`."""
    f = frame
    values = [v for _, vs, _ in series for v in vs if v is not None]
    top = max(values) if values and max(values) > 0 else 1.0
    plot_w, plot_h = f.width - f.left - f.right, f.height - f.top - f.bottom
    step = plot_w / max(1, len(labels) - 1)

    def x(i: int) -> str:
        return f"{f.left + i * step:.1f}"

    def y(v: float) -> str:
        return f"{f.top + plot_h - v / top * plot_h:.1f}"

    def summary(name: str, vs: list[float | None]) -> str:
        shown = [v for v in vs if v is not None]
        if not shown:
            return f"{name}: nothing yet"
        return (f"{name} from {fmt(shown[0])} to {fmt(shown[-1])}, "
                f"highest {fmt(max(shown))}")

    desc = "; ".join(summary(name, vs) for name, vs, _ in series)
    css = "chart" if f.ticks else "chart spark"
    base = f.top + plot_h
    parts = [
        f'<svg class="{css}" viewBox="0 0 {f.width} {f.height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<line class="axis" x1="{f.left}" y1="{base}" x2="{f.width - f.right}" y2="{base}"/>',
    ]
    if f.ticks:
        parts += [
            f'<line class="grid" x1="{f.left}" y1="{f.top}" x2="{f.width - f.right}" '
            f'y2="{f.top}"/>',
            f'<text class="tick" x="{f.left - 6}" y="{f.top + 4}" text-anchor="end">'
            f'{escape(fmt(top))}</text>',
            f'<text class="tick" x="{f.left - 6}" y="{base + 4}" text-anchor="end">'
            f'{escape(fmt(0))}</text>',
        ]
        if labels:
            parts.append(f'<text class="tick" x="{f.left}" y="{f.height - 8}">'
                         f'{escape(labels[0])}</text>')
            parts.append(f'<text class="tick" x="{f.width - f.right}" y="{f.height - 8}" '
                         f'text-anchor="end">{escape(labels[-1])}</text>')
    for _name, vs, cls in series:
        points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(vs) if v is not None)
        if points:
            parts.append(f'<polyline class="{cls}" points="{points}"/>')
            if f.ticks and len(labels) <= 31:
                parts.extend(f'<circle class="{cls}" cx="{x(i)}" cy="{y(v)}" r="2.5"/>'
                             for i, v in enumerate(vs) if v is not None)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above is escaped
