"""503 with Retry-After, instead of a 500, for any view the database fails under.

The embed read path answers its own (it serves a last good copy first); this
middleware is for the rest: the push API, the studio, the story JSON. A
producer's script and an editor's browser can then tell "try again shortly"
from a bug. Only failures of reaching MongoDB in time count; any other error
is still a 500 (and logged as one by Django).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from samembed.repositories.common import is_unavailable

logger = logging.getLogger(__name__)

RETRY_AFTER = 5
MESSAGE = "The story database is unavailable; try again shortly."


class UnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, error: Exception) -> HttpResponse | None:
        if not is_unavailable(error):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path,
                       str(error)[:200])
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"error": MESSAGE, "retry_after": RETRY_AFTER}, status=503)
        else:
            response = HttpResponse(MESSAGE + "\n", status=503,
                                    content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER)
        response["Cache-Control"] = "private, no-store"
        return response
