"""The producer remote (write path): steer every open big screen of a live story.

Commands: pause, resume, next, spotlight a post (or clear it), mode and speed,
and hide a post everywhere. Control commands are a compare-and-set on the
story's `screen.control_version` (the remote's own version, so posts arriving
meanwhile do not refuse them; another producer's command does, 409), bump the
story's version and are audited. Screens learn of them from `/live/<slug>`
within about LIVE_POLL_INTERVAL + 0.5 s. Hiding a post rejects it with a
compare-and-set on the post's version, as the moderation queue does.

The page is plain forms (it works without JavaScript); `Accept: application/json`
gets JSON answers instead of redirects, for scripts and tests.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from samembed.repositories import audit
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.stories import (
    SCREEN_INTERVAL_MAX,
    SCREEN_INTERVAL_MIN,
    SCREEN_MODES,
    Story,
)
from samembed.studio.forms import parse_version
from samembed.studio.views import actor, is_editor, protect, story_or_404, studio_page

COMMANDS = ("pause", "resume", "next", "spotlight", "clear", "mode", "speed", "hide")
SPEEDS = (4, 6, 8, 12, 20, 30)
POST_LIMIT = 50


def _page(request: HttpRequest, story: Story, message: str = "", error: str = "",
          status: int = 200) -> HttpResponse:
    posts = posts_repo.list_published(story.id, POST_LIMIT)
    return render(request, "studio/remote.html", {
        "story": story, "screen": story.screen, "posts": posts, "speeds": SPEEDS,
        "modes": SCREEN_MODES, "message": message, "error": error,
    }, status=status)


@studio_page
def remote(request: HttpRequest, story_id: str) -> HttpResponse:
    return _page(request, story_or_404(story_id), message=request.GET.get("done", ""))


def _answer(request: HttpRequest, story: Story, status: int, message: str,
            **extra: Any) -> HttpResponse:
    if request.headers.get("Accept") == "application/json":
        response: HttpResponse = JsonResponse(
            {"ok": status < 400, "message": message, **extra}, status=status)
    elif status < 400:
        response = HttpResponseRedirect(f"/studio/stories/{story.id}/remote?done={message}")
    else:
        # The remote as it is now, with the reason: the producer presses again.
        response = _page(request, story_or_404(str(story.id)), error=message, status=status)
    return protect(response)


def _controls(request: HttpRequest, story: Story, command: str) -> dict[str, Any] | str:
    """The controls a command sets, or the message saying why it cannot."""
    screen = story.screen
    if command == "pause":
        return {"paused": True}
    if command == "resume":
        return {"paused": False}
    if command == "next":
        return {"advance": screen.advance + 1, "spotlight": None}
    if command == "clear":
        return {"spotlight": None}
    if command == "spotlight":
        post = posts_repo.get_by_key(request.POST.get("post", ""))
        if post is None or post.story_id != story.id or post.state != "approved":
            return "Choose an approved post of this story to spotlight."
        return {"spotlight": str(post.id)}
    if command == "mode":
        mode = request.POST.get("mode", "")
        if mode not in SCREEN_MODES:
            return f"Unknown mode {mode[:40]!r}; valid modes: {', '.join(SCREEN_MODES)}."
        return {"mode": mode}
    raw = request.POST.get("interval", "")
    interval = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0
    if not SCREEN_INTERVAL_MIN <= interval <= SCREEN_INTERVAL_MAX:
        return (f"The interval must be {SCREEN_INTERVAL_MIN} to {SCREEN_INTERVAL_MAX} "
                f"seconds, not {raw[:40]!r}.")
    return {"interval": interval}


def _hide(request: HttpRequest, story: Story) -> HttpResponse:
    post = posts_repo.get_by_key(request.POST.get("post", ""))
    version = parse_version(request.POST.get("post_version"))
    if post is None or post.story_id != story.id or version is None:
        return _answer(request, story, 400, "Give a post of this story and its version.")
    if post.state != "approved":
        return _answer(request, story, 200, "That post is already hidden.")
    if version != post.version or not posts_repo.update(post, {"state": "rejected"}):
        return _answer(request, story, 409, "That post changed meanwhile; look again.",
                       post_version=post.version)
    audit.record(story.id, actor(request), "post.hide", {"state": (post.state, "rejected")},
                 post_id=post.id)
    stories_repo.bump_version(story.id)
    return _answer(request, story, 200, "Hidden everywhere.")


@require_POST
def command(request: HttpRequest, story_id: str) -> HttpResponse:
    # A remote is driven by scripts too: no redirect to a sign-in page, a plain 403.
    if not is_editor(request.user):
        return protect(HttpResponse("Only editors may steer screens.\n", status=403,
                                    content_type="text/plain; charset=utf-8"))
    story = story_or_404(story_id)
    name = request.POST.get("command", "")
    if name not in COMMANDS:
        return _answer(request, story, 400,
                       f"Unknown command {name[:40]!r}; valid commands: {', '.join(COMMANDS)}.")
    if name == "hide":
        return _hide(request, story)
    base = request.POST.get("control_version", "")
    control_version = int(base) if base.isascii() and base.isdigit() and len(base) < 12 else -1
    if control_version < 0:
        return _answer(request, story, 400, "Give the control_version the remote showed.")
    controls = _controls(request, story, name)
    if isinstance(controls, str):
        return _answer(request, story, 400, controls)
    if not story.live:
        return _answer(request, story, 409, "This story is not live; mark it live first.")
    if control_version != story.screen.control_version or not \
            stories_repo.set_screen_controls(story, control_version, controls):
        current = story_or_404(story_id).screen
        return _answer(request, story, 409,
                       "Another command came first; the remote shows the screens as they "
                       "are now.", control_version=current.control_version)
    audit.record(story.id, actor(request), f"screen.{name}",
                 {k: (getattr(story.screen, k), v) for k, v in controls.items()})
    return _answer(request, story, 200, f"Screens: {name}.",
                   control_version=control_version + 1)
