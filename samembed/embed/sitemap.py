"""What search engines are offered: `/sitemap.xml` (Django's sitemaps framework) of
the published stories' pages, and `/robots.txt`, which names it.

Archived stories stay readable at their URLs but are left out here (their pages
say `noindex`); drafts are never public. The sitemap is one query on the
`status_updated` index, bounded by the protocol's 50,000 URLs a file; crawlers
ask for it rarely, so it is cached for minutes by whoever is in front, not by
the response cache of the read path.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.contrib.sitemaps.views import sitemap as sitemap_view
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from samembed.embed.views import _unavailable
from samembed.exceptions import DatabaseUnavailable
from samembed.repositories import stories as stories_repo

logger = logging.getLogger(__name__)

# The sitemaps protocol's bound for one file.
URLS_MAX = 50_000
CACHE_CONTROL = "public, max-age=300"
# Pages for people and crawlers; the rest is machinery (polls, APIs, the studio).
DISALLOWED = ("/studio/", "/admin/", "/api/", "/live/", "/oembed", "/screen/")


class StorySitemap(Sitemap):  # type: ignore[type-arg] # generic only in the stubs
    """The published stories' own pages, most recently changed first."""

    changefreq = "hourly"
    limit = URLS_MAX

    def items(self) -> list[stories_repo.Listed]:
        return stories_repo.list_published(URLS_MAX)

    def location(self, item: stories_repo.Listed) -> str:
        return f"/s/{quote(item.slug)}"

    def lastmod(self, item: stories_repo.Listed) -> Any:
        return item.updated_at

    def get_domain(self, site: Any = None) -> str:
        if settings.PUBLIC_ORIGIN:
            return urlsplit(settings.PUBLIC_ORIGIN).netloc
        return str(super().get_domain(site))

    def get_protocol(self, protocol: str | None = None) -> str:
        if settings.PUBLIC_ORIGIN:
            return urlsplit(settings.PUBLIC_ORIGIN).scheme
        return str(super().get_protocol(protocol))


SITEMAPS: dict[str, type[Sitemap[Any]] | Sitemap[Any]] = {"stories": StorySitemap}


@csrf_exempt
def sitemap(request: HttpRequest) -> HttpResponse:
    """`/sitemap.xml`."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    try:
        response = sitemap_view(request, sitemaps=SITEMAPS)
        response.render()  # here, so that a database failure is ours to answer
    except DatabaseUnavailable as e:
        logger.warning("database unavailable: %s", e)
        return _unavailable()
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    return response


@csrf_exempt
def robots(request: HttpRequest) -> HttpResponse:
    """`/robots.txt`: the machinery is off limits; the sitemap is named absolutely."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    origin = settings.PUBLIC_ORIGIN or f"{request.scheme}://{request.get_host()}"
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in DISALLOWED), "Allow: /",
             "", f"Sitemap: {origin}/sitemap.xml", ""]
    response = HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "public, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
