"""Site-level views: the demo page, the loader through Django, health checks."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from samembed import metrics
from samembed.embed.cache import response_cache
from samembed.embed.loader import loader_entry
from samembed.embed.views import entry_response
from samembed.exceptions import DatabaseUnavailable
from samembed.repositories import ping
from samembed.repositories.stories import TEMPLATES


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """A publisher's page: the snippet, and the demo story in every template."""
    origin = request.build_absolute_uri("/").rstrip("/")
    return render(request, "home.html", {"origin": origin, "templates": TEMPLATES})


@require_safe
def loader(request: HttpRequest) -> HttpResponse:
    # Normally answered by the fast path; this keeps /embed.js working without it.
    return entry_response(loader_entry(), request)


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: this process can answer, which it can with the database down
    (last good copies), so the load balancer keeps it. The database's state, as
    this process's read path last saw it, is in the body; /healthz/db asks it."""
    breaker = response_cache().breaker
    database = "ok" if not breaker.failures else (
        "failing" if breaker.state == "closed" else "unavailable")
    response = JsonResponse({"status": "ok", "database": database, "circuit": breaker.state})
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def healthz_db(request: HttpRequest) -> HttpResponse:
    """The database itself, asked now: 503 when it does not answer in time. For
    monitoring and alerts, never for routing (a balancer would pull every instance)."""
    try:
        ping()
        response = JsonResponse({"status": "ok", "database": "ok"})
    except DatabaseUnavailable as e:
        response = JsonResponse({"status": "unavailable", "database": str(e)[:200]}, status=503)
        response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


def metrics_allowed(address: str) -> bool:
    """Whether a client at `address` may read /metrics (METRICS_ALLOW_FROM)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in settings.METRICS_ALLOW_FROM)


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics summed over every worker of this instance, for the scraper's
    networks only: nginx and the Ingress refuse /metrics too, but a route to the
    application that bypasses them must not make it public."""
    if not metrics_allowed(request.META.get("REMOTE_ADDR", "")):
        response = HttpResponse("/metrics is served to the monitoring network only.\n",
                                status=403, content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-store"
        return response
    response = HttpResponse(metrics.exposition(metrics.collect()),
                            content_type="text/plain; version=0.0.4; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
