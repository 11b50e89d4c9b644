"""The public URL map of DESIGN.md.

Read-path patterns accept repeated and trailing slashes (pages that embed us
build URLs by hand); the views decide what a slug means.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from samembed import views
from samembed.embed import views as embed

urlpatterns = [
    path("", views.home, name="home"),
    path("embed.js", views.loader, name="loader"),
    re_path(r"^/*e/+(?P<slug>[^/]+)/*$", embed.embed, name="embed"),
    re_path(r"^/*s/+(?P<slug>[^/]+)/*$", embed.story_page, name="story"),
    re_path(r"^/*api/+v1/+stories/+(?P<slug>[^/]+)/*$", embed.story_api, name="story-api"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("studio/", include("samembed.studio.urls")),
    path("admin/", admin.site.urls),
]
