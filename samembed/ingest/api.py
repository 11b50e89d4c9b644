"""`POST /api/v1/stories/<slug>/posts`: the push API, for sources we do not poll.

Authenticated by the story's push token (a Bearer token made in the studio;
only its SHA-256 is stored, compared in constant time). The body is parsed by
`samembed.ingest.push` and stored by the pipeline with the story's moderation
rules; images are copied afterwards by the ingest loop, so a batch is answered
without waiting for image hosts.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from samembed.ingest import pipeline, push
from samembed.repositories import sources, stories
from samembed.repositories.sources import Source
from samembed.repositories.stories import Story


def error(status: int, message: str, **extra: Any) -> JsonResponse:
    """A JSON error of the token-authenticated APIs (401s say how to authenticate)."""
    response = JsonResponse({"error": message, **extra}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="samembed push API"'
    return response


NOT_THIS_STORYS = "wrong push token for this story (a new token replaces the old)"


def authorised(request: HttpRequest, slug: str, wrong: str = NOT_THIS_STORYS
               ) -> tuple[Story, Source] | JsonResponse:
    """The story and its push source when the request carries the story's push token
    (`Authorization: Bearer <token>`), else the 404 or 401 (`wrong`) to answer."""
    story = stories.get_by_slug(slug)
    if story is None:
        return error(404, f"no story {slug!r}")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error(401, "send the story's push token as 'Authorization: Bearer <token>'")
    source = sources.push_source(story.id)
    if source is None or not sources.push_token_matches(source, token.strip()):
        return error(401, wrong)
    return story, source


@csrf_exempt  # token-authenticated, no cookies: CSRF does not apply
@require_POST
def push_posts(request: HttpRequest, slug: str) -> JsonResponse:
    found = authorised(request, slug)
    if isinstance(found, JsonResponse):
        return found
    story, source = found
    if request.content_type != "application/json":
        return error(415, "send Content-Type: application/json")
    length = request.headers.get("Content-Length", "")
    if not length.isdigit() or int(length) > push.MAX_BODY:
        return error(413, f"the body must declare a Content-Length of at most "
                           f"{push.MAX_BODY:,} bytes")
    try:
        batch = push.parse_json(request.body)
    except push.BadBatch as e:
        return error(400, str(e), posts=e.errors)
    report = pipeline.store(story.id, "push", batch, source_id=source.id, copy_now=False)
    return JsonResponse({"received": len(batch), **report.counts()})
