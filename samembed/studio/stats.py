"""The analytics dashboard of a story (studio, read side of the events path).

Views, viewable rate, unique readers, clicks and click-through over the last
24 hours, 7 or 30 days, by hour or by day, as inline SVG charts (samembed.studio.charts;
the studio's CSP allows no inline script or style: colours come from
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

from samembed.analytics import report as reports
from samembed.studio.charts import line_chart, number, percent
from samembed.studio.views import story_or_404, studio_page


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
          ("views", [float(b.views) for b in r.buckets], "s2")], number),
        ("rate", "Viewable rate (views per load)",
         [("viewable rate", [b.viewable_rate for b in r.buckets], "s2")], percent),
        ("clicks", "Clicks", [("clicks", [float(b.clicks) for b in r.buckets], "s3")], number),
        ("ctr", "Click-through (clicks per view)",
         [("click-through", [b.click_through for b in r.buckets], "s3")], percent),
    ]
    if step == "day":
        charts.insert(2, ("uniques", "Unique readers per day",
                          [("unique readers", [None if b.uniques is None else float(b.uniques)
                                               for b in r.buckets], "s1")], number))
    drawn = [(cid, title, line_chart(f"chart-{cid}", title, labels, series, fmt), series, fmt)
             for cid, title, series, fmt in charts]
    return render(request, "studio/stats.html", {
        "story": story, "r": r, "labels": labels, "charts": drawn, "percent": percent,
        "number": number, "periods": list(reports.PERIODS),
        "steps": reports.PERIODS[period][2],
        "error": f"{r.uniques_error * 100:.1f}",
    })
