"""The peer: a typical Django implementation of the same embed, for comparison.

Default middleware of `startproject`, `cache_page` with the local-memory cache,
the same template and data, served by gunicorn with the same settings but a
WSGI worker (what such a project would run). Only `make bench` uses it.
"""

from samembed.settings import *  # noqa: F403

ROOT_URLCONF = "bench.peer.urls"
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
