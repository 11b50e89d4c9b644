"""Django system checks for settings that are each valid alone but dangerous in a
deployment: `manage.py check --deploy` reports them (`samembed.W001`…) with a hint
that says how to fix them. Deploys run it with `--fail-level WARNING`
(deploy/README.md), and `deploy/env.example` passes it clean.

    $ HTTPS=true python manage.py check --deploy
    ?: (samembed.W001) HTTPS is on but PUBLIC_ORIGIN is empty: ...
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.security, deploy=True)
def public_origin(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """HTTPS without PUBLIC_ORIGIN: links built from whichever Host came first."""
    if settings.HTTPS and not settings.PUBLIC_ORIGIN:
        return [CheckWarning(
            "HTTPS is on but PUBLIC_ORIGIN is empty: the big screen's QR code and the "
            "story page's canonical and Open Graph links take the origin of whichever "
            "request rendered them first, and are cached that way.",
            hint="Set PUBLIC_ORIGIN to the public origin, e.g. "
                 "PUBLIC_ORIGIN=https://embed.example.com (deploy/env.example).",
            id="samembed.W001")]
    return []


@register(Tags.security, deploy=True)
def media_signing_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """No MEDIA_SIGNING_KEY: image URLs hang on SECRET_KEY."""
    if not settings.MEDIA_SIGNING_KEY:
        return [CheckWarning(
            "MEDIA_SIGNING_KEY is not set: /img/ URLs are signed with a key derived from "
            "SECRET_KEY, so rotating SECRET_KEY breaks every image URL already in "
            "published pages and CDN caches.",
            hint="Set MEDIA_SIGNING_KEY to its own random value; rotate it later through "
                 "MEDIA_SIGNING_OLD_KEYS.",
            id="samembed.W002")]
    return []


@register(Tags.database, deploy=True)
def sqlite_with_https(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """SQLite in production: accounts and sessions on one machine only."""
    engine = str(settings.DATABASES["default"].get("ENGINE", ""))
    if settings.HTTPS and engine.endswith("sqlite3"):
        return [CheckWarning(
            "HTTPS is on and DATABASE_URL is SQLite: editors' accounts and sessions live "
            "on this machine's disk, so a second instance has its own editors and a lost "
            "disk loses them all.",
            hint="Point DATABASE_URL at PostgreSQL: "
                 "postgres://user:password@host:5432/samembed.",
            id="samembed.W003")]
    return []


@register(Tags.security, deploy=True)
def forwarded_allow_ips(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """FORWARDED_ALLOW_IPS=*: every client chooses its own address and scheme."""
    if "*" in settings.FORWARDED_ALLOW_IPS:
        return [CheckWarning(
            "FORWARDED_ALLOW_IPS contains '*': X-Forwarded-For and X-Forwarded-Proto are "
            "believed from any client, which can then choose its address (escaping the "
            "sign-in throttle, reading /metrics) and its scheme.",
            hint="List the proxies in front only: 127.0.0.1,::1 behind nginx on the same "
                 "machine, the ingress controller's pod network on Kubernetes.",
            id="samembed.W004")]
    return []


@register(Tags.caches, deploy=True)
def embed_cache_ttl(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """EMBED_CACHE_TTL=0: every embed view renders and reads the database."""
    if not settings.EMBED_CACHE_TTL:
        return [CheckWarning(
            "EMBED_CACHE_TTL is 0: the response cache is off, so every embed view reads "
            "MongoDB and renders, a fraction of the throughput of a cache hit, and "
            "CDNs get max-age=0.",
            hint="Leave EMBED_CACHE_TTL unset (10 s); edits still show within a second "
                 "through the version watch.",
            id="samembed.W005")]
    return []
