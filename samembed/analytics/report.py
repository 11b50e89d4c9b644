"""A story's analytics over a period, from its rollups: the studio dashboard, its CSV
and the stats API all show this (events path, read side).

One indexed query for the period's hourly rollups, one for its daily reach
sketches, one for the top posts' authors and excerpts; everything else is
summed here. Rates are ratios of counts (viewable rate = views / loads,
click-through = clicks / views); unique readers exist per UTC day only (the
hash's salt changes daily, so two days' readers cannot be matched, by design),
and a period's reach is the sum of its days' uniques.

    >>> r = report(story, "7d")
    >>> r.totals.views, r.totals.viewable_rate, [b.uniques for b in r.buckets]
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from samembed.analytics.hll import STANDARD_ERROR, estimate_registers
from samembed.repositories import audit as audit_repo
from samembed.repositories import reach as reach_repo
from samembed.repositories import stats as stats_repo
from samembed.repositories.common import Id
from samembed.repositories.stories import Story

# Period name -> (length, the step shown by default, the steps allowed)
PERIODS = {
    "24h": (timedelta(hours=24), "hour", ("hour",)),
    "7d": (timedelta(days=7), "day", ("hour", "day")),
    "30d": (timedelta(days=30), "day", ("day",)),
}
TOP = 10
SITES = 20


class BadPeriod(ValueError):
    """An unknown period or step: the message says which are known."""


@dataclass
class Counts:
    loads: int = 0
    views: int = 0
    clicks: int = 0
    more: int = 0
    reveals: int = 0
    uniques: int | None = None

    def add(self, n: dict[str, int]) -> None:
        self.loads += n.get("load", 0)
        self.views += n.get("view", 0)
        self.clicks += n.get("click", 0)
        self.more += n.get("more", 0)
        self.reveals += n.get("reveal", 0)

    @property
    def viewable_rate(self) -> float | None:
        """Views per load (None before any load)."""
        return self.views / self.loads if self.loads else None

    @property
    def click_through(self) -> float | None:
        """Clicks per view (None before any view)."""
        return self.clicks / self.views if self.views else None

    def as_dict(self) -> dict[str, Any]:
        """The counts and rates, for JSON."""
        return {"loads": self.loads, "views": self.views, "clicks": self.clicks,
                "more": self.more, "reveals": self.reveals, "uniques": self.uniques,
                "viewable_rate": _round(self.viewable_rate),
                "click_through": _round(self.click_through)}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass
class Bucket(Counts):
    start: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class PostLine:
    post_id: str
    author: str
    text: str
    views: int
    clicks: int


@dataclass
class Line(Counts):
    """Counts under one name: a site's origin, a template, a variant."""

    name: str = ""


@dataclass
class Report:
    story: Story
    period: str
    step: str
    since: datetime
    until: datetime
    buckets: list[Bucket]
    totals: Counts
    top_viewed: list[PostLine]
    top_clicked: list[PostLine]
    sites: list[Line]
    templates: list[Line]
    variants: list[Line]
    uniques_error: float = STANDARD_ERROR

    def as_dict(self) -> dict[str, Any]:
        """The whole report, for the stats API."""
        def line(x: Line) -> dict[str, Any]:
            return {"name": x.name, **x.as_dict()}

        def post(p: PostLine) -> dict[str, Any]:
            return {"post_id": p.post_id, "author": p.author, "excerpt": p.text[:140],
                    "views": p.views, "clicks": p.clicks}

        return {
            "story": self.story.slug, "period": self.period, "step": self.step,
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "totals": self.totals.as_dict(),
            "uniques_standard_error": round(self.uniques_error, 4),
            "series": [{"start": b.start.isoformat(), **b.as_dict()} for b in self.buckets],
            "top_posts_by_views": [post(p) for p in self.top_viewed],
            "top_posts_by_clicks": [post(p) for p in self.top_clicked],
            "sites": [line(x) for x in self.sites],
            "templates": [line(x) for x in self.templates],
            "variants": [line(x) for x in self.variants],
        }


def parse(period: str | None, step: str | None) -> tuple[str, str]:
    """(period, step) from a query, defaults filled in; BadPeriod when unknown."""
    period = period or "7d"
    if period not in PERIODS:
        raise BadPeriod(f"period must be one of {', '.join(PERIODS)}")
    allowed = PERIODS[period][2]
    step = step or PERIODS[period][1]
    if step not in allowed:
        raise BadPeriod(f"a {period} period is shown by {' or '.join(allowed)}")
    return period, step


def _floor(when: datetime, step: str) -> datetime:
    when = when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0) if step == "day" else when


def report(story: Story, period: str = "7d", step: str | None = None,
           now: datetime | None = None) -> Report:
    """The story's analytics over `period` ("24h", "7d", "30d") by `step` ("hour", "day")."""
    period, step = parse(period, step)
    now = now or datetime.now(UTC)
    length = PERIODS[period][0]
    width = timedelta(days=1) if step == "day" else timedelta(hours=1)
    first = _floor(now - length + width, step)
    starts = []
    at = first
    while at <= now:
        starts.append(at)
        at += width
    buckets = {s: Bucket(start=s) for s in starts}
    totals = Counts()
    posts: dict[str, list[int]] = {}
    sites: dict[str, Line] = {}
    templates: dict[str, Line] = {}
    variants: dict[str, Line] = {}
    for row in stats_repo.rollups(story.id, first):
        if row.kind == "post":
            if row.post_id:
                mine = posts.setdefault(row.post_id, [0, 0])
                mine[0] += row.n.get("post_view", 0)
                mine[1] += row.n.get("click", 0)
            continue
        bucket = buckets.get(_floor(row.hour, step))
        if bucket is None:
            continue
        bucket.add(row.n)
        totals.add(row.n)
        for name, table in ((row.origin or "unknown", sites), (row.template, templates),
                            (row.variant or "none", variants)):
            table.setdefault(name, Line(name=name)).add(row.n)
    days = reach_repo.sketches(story.id, first)
    if days:
        totals.uniques = 0
    for day, registers in days.items():
        estimate = estimate_registers(registers)
        totals.uniques = (totals.uniques or 0) + estimate
        if step == "day" and day in buckets:
            buckets[day].uniques = estimate
    if step == "day":
        for bucket in buckets.values():
            if bucket.uniques is None:
                bucket.uniques = 0
    by_views = sorted(posts.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))[:TOP]
    by_clicks = sorted(((k, v) for k, v in posts.items() if v[1]),
                       key=lambda kv: (-kv[1][1], -kv[1][0]))[:TOP]
    wanted = [Id(k) for k, _ in by_views + by_clicks]
    summaries = audit_repo.post_summaries(story.id, wanted)

    def post_line(key: str, counts: list[int]) -> PostLine:
        summary = summaries.get(Id(key))
        return PostLine(key, summary.author if summary else "(removed post)",
                        summary.text if summary else "", counts[0], counts[1])

    def ranked(table: dict[str, Line], limit: int | None = None) -> list[Line]:
        lines = sorted(table.values(), key=lambda x: (-x.views, -x.loads, x.name))
        return lines[:limit] if limit else lines

    return Report(story, period, step, first, now, [buckets[s] for s in starts], totals,
                  [post_line(k, v) for k, v in by_views if v[0]],
                  [post_line(k, v) for k, v in by_clicks], ranked(sites, SITES),
                  ranked(templates), ranked(variants))


def as_csv(r: Report) -> str:
    """The report's series as CSV, one row per hour or day (UTC)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["start (UTC)", "loads", "views", "viewable rate", "unique readers",
                     "clicks", "click-through", "show more", "warnings opened"])
    for b in r.buckets:
        writer.writerow([b.start.strftime("%Y-%m-%d %H:%M"), b.loads, b.views,
                         "" if b.viewable_rate is None else f"{b.viewable_rate:.4f}",
                         "" if b.uniques is None else b.uniques, b.clicks,
                         "" if b.click_through is None else f"{b.click_through:.4f}",
                         b.more, b.reveals])
    return out.getvalue()
