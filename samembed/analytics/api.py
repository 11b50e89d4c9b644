"""`GET /api/v1/stories/<slug>/stats`: a story's analytics as JSON, for newsroom dashboards.

Authenticated like the push API (`samembed.ingest.api`): the story's push token
as `Authorization: Bearer <token>`, made in the studio's Sources page. The body
is `samembed.analytics.report.Report.as_dict()`.

    GET /api/v1/stories/demo/stats?period=30d&step=day
    Authorization: Bearer <the story's push token>
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from samembed.analytics import report as reports
from samembed.ingest.api import authorised, error


@require_GET
def story_stats(request: HttpRequest, slug: str) -> JsonResponse:
    """The story's report over `?period=24h|7d|30d` by `?step=hour|day`."""
    found = authorised(request, slug, "wrong token for this story (a new push token "
                                      "replaces the old)")
    if isinstance(found, JsonResponse):
        return found
    story, _ = found
    try:
        period, step = reports.parse(request.GET.get("period"), request.GET.get("step"))
    except reports.BadPeriod as e:
        return error(400, str(e))
    response = JsonResponse(reports.report(story, period, step).as_dict())
    response["Cache-Control"] = "private, no-store"
    return response
