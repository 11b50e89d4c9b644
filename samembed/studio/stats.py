"""The analytics dashboard of a story (studio, read side of the events path).

Views, viewable rate, unique readers, clicks and click-through over the last
24 hours, 7 or 30 days, by hour or by day, as inline SVG charts drawn here
(the studio's CSP allows no inline script or style: colours come from
studio.css classes), each with its numbers as a table for screen readers and
keyboards; top posts, embedding sites, templates and rollout variants; the
series as CSV (`?format=csv`). Everything comes from `samembed.analytics.report`.

    GET /studio/stories/<id>/stats?period=30d
    GET /studio/stories/<id>/stats?period=7d&step=hour&format=csv
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from markupsafe import Markup, escape

from samembed.analytics import report as reports
from samembed.studio.views import story_or_404, studio_page

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


def _percent(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f} %"


def _number(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def line_chart(chart_id: str, title: str, labels: list[str],
               series: list[tuple[str, list[float | None], str]],
               fmt: Callable[[float | None], str]) -> Markup:
    """An SVG line chart of `series` (name, values, CSS class) over `labels`."""
    values = [v for _, vs, _ in series for v in vs if v is not None]
    top = max(values) if values and max(values) > 0 else 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels) - 1)

    def xy(i: int, v: float) -> str:
        return f"{LEFT + i * step:.1f},{TOP + plot_h - v / top * plot_h:.1f}"

    def summary(name: str, vs: list[float | None]) -> str:
        shown = [v for v in vs if v is not None]
        if not shown:
            return f"{name}: nothing yet"
        return (f"{name} from {fmt(shown[0])} to {fmt(shown[-1])}, "
                f"highest {fmt(max(shown))}")

    desc = "; ".join(summary(name, vs) for name, vs, _ in series)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">'
        f'{escape(fmt(top))}</text>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + plot_h + 4}" text-anchor="end">'
        f'{escape(fmt(0))}</text>',
    ]
    if labels:
        parts.append(f'<text class="tick" x="{LEFT}" y="{HEIGHT - 8}">{escape(labels[0])}</text>')
        parts.append(f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" '
                     f'text-anchor="end">{escape(labels[-1])}</text>')
    for _name, vs, css in series:
        points = " ".join(xy(i, v) for i, v in enumerate(vs) if v is not None)
        if points:
            parts.append(f'<polyline class="{css}" points="{points}"/>')
            if len(labels) <= 31:
                parts.extend(f'<circle class="{css}" cx="{xy(i, v).split(",")[0]}" '
                             f'cy="{xy(i, v).split(",")[1]}" r="2.5"/>'
                             for i, v in enumerate(vs) if v is not None)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part above is escaped


def _label(start: datetime, step: str) -> str:
    return start.strftime("%d %b") if step == "day" else start.strftime("%d %b %H:00")


def _csv(r: reports.Report) -> HttpResponse:
    slug = re.sub(r"[^a-z0-9-]+", "-", r.story.slug.lower()).strip("-")[:60] or "story"
    name = f"stats-{slug}-{r.period}-{r.step}-{datetime.now(UTC):%Y%m%d}.csv"
    response = HttpResponse("\ufeff" + reports.as_csv(r), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@studio_page
def story_stats(request: HttpRequest, story_id: str) -> HttpResponse:
    """The dashboard of one story; `?period=24h|7d|30d&step=hour|day`, `&format=csv`."""
    story = story_or_404(story_id)
    try:
        period, step = reports.parse(request.GET.get("period"), request.GET.get("step"))
    except reports.BadPeriod as e:
        return HttpResponse(str(e), status=400, content_type="text/plain; charset=utf-8")
    r = reports.report(story, period, step)
    if request.GET.get("format") == "csv":
        return _csv(r)
    labels = [_label(b.start, step) for b in r.buckets]
    Series = list[tuple[str, list[float | None], str]]
    charts: list[tuple[str, str, Series, Callable[[float | None], str]]] = [
        ("views", "Loads and viewable views",
         [("loads", [float(b.loads) for b in r.buckets], "s1"),
          ("views", [float(b.views) for b in r.buckets], "s2")], _number),
        ("rate", "Viewable rate (views per load)",
         [("viewable rate", [b.viewable_rate for b in r.buckets], "s2")], _percent),
        ("clicks", "Clicks", [("clicks", [float(b.clicks) for b in r.buckets], "s3")], _number),
        ("ctr", "Click-through (clicks per view)",
         [("click-through", [b.click_through for b in r.buckets], "s3")], _percent),
    ]
    if step == "day":
        charts.insert(2, ("uniques", "Unique readers per day",
                          [("unique readers", [None if b.uniques is None else float(b.uniques)
                                               for b in r.buckets], "s1")], _number))
    drawn = [(cid, title, line_chart(f"chart-{cid}", title, labels, series, fmt), series, fmt)
             for cid, title, series, fmt in charts]
    return render(request, "studio/stats.html", {
        "story": story, "r": r, "labels": labels, "charts": drawn, "percent": _percent,
        "number": _number, "periods": list(reports.PERIODS),
        "steps": reports.PERIODS[period][2],
        "error": f"{r.uniques_error * 100:.1f}",
    })
