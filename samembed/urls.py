"""The public URL map of DESIGN.md.

Read-path patterns accept repeated and trailing slashes (pages that embed us
build URLs by hand); the views decide what a slug means.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from samembed import views
from samembed.analytics import api as stats_api
from samembed.embed import feeds, live, oembed, sitemap
from samembed.embed import views as embed
from samembed.ingest import api as ingest_api
from samembed.media import views as media_views

urlpatterns = [
    path("", views.home, name="home"),
    path("embed.js", views.loader, name="loader"),
    re_path(r"^/*e/+(?P<slug>[^/]+)/*$", embed.embed, name="embed"),
    re_path(r"^/*s/+(?P<slug>[^/]+)/*$", embed.story_page, name="story"),
    re_path(r"^/*s/+(?P<slug>[^/]+)/+feed\.atom$", feeds.atom, name="feed-atom"),
    re_path(r"^/*s/+(?P<slug>[^/]+)/+feed\.rss$", feeds.rss, name="feed-rss"),
    re_path(r"^/*s/+(?P<slug>[^/]+)/+feed\.json$", feeds.json_feed, name="feed-json"),
    re_path(r"^/*oembed/*$", oembed.oembed, name="oembed"),
    re_path(r"^/*screen/+(?P<slug>[^/]+)/*$", embed.screen, name="screen"),
    re_path(r"^/*live/+(?P<slug>[^/]+)/*$", live.version, name="live-version"),
    re_path(r"^/*api/+v1/+stories/+(?P<slug>[^/]+)/*$", embed.story_api, name="story-api"),
    re_path(r"^/*api/+v1/+stories/+(?P<slug>[^/]+)/+posts/*$", ingest_api.push_posts,
            name="push-api"),
    re_path(r"^/*api/+v1/+stories/+(?P<slug>[^/]+)/+stats/*$", stats_api.story_stats,
            name="stats-api"),
    re_path(r"^img/(?P<signature>[A-Za-z0-9_-]{1,100})/(?P<preset>[a-z0-9]{1,20})/"
            r"(?P<key>[0-9a-zA-Z]{1,100})\.(?P<fmt>[a-z]{1,5})$", media_views.image, name="img"),
    path("sitemap.xml", sitemap.sitemap, name="sitemap"),
    path("robots.txt", sitemap.robots, name="robots"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("healthz/db", views.healthz_db, name="healthz-db"),
    path("metrics", views.metrics_view, name="metrics"),
    path("studio/", include("samembed.studio.urls")),
    path("admin/", admin.site.urls),
]
