"""The producer remote (write path): steer every open big screen of a live story.

Commands: pause, resume, next, spotlight a post (or clear it), mode and speed,
hide a post everywhere and undo that hide. Control commands are a
compare-and-set on the story's `screen.control_version` (the remote's own
version, so posts arriving meanwhile do not refuse them; another producer's
command does, 409), bump the story's version and are audited. Screens learn of
them from `/live/<slug>` within about LIVE_POLL_INTERVAL + 0.5 s. Hiding a post
rejects it with a compare-and-set on the post's version, as the moderation
queue does; for 10 s the remote offers to undo it, which puts the post back
with a compare-and-set on the version the hide left (so a post someone touched
since is not overwritten), audited as `post.unhide`.

The page shows what the screens show now (the spotlight, or the posts the wall
cycles through) and how many screens polled in the last minute
(`samembed.embed.live.connected_screens`), and answers in sentences ("All 3
screens paused"). It is plain forms (it works without JavaScript);
`static/studio/remote.js` sends them with `Accept: application/json`, gets JSON
answers instead of redirects, and redraws the page in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from samembed.embed.live import connected_screens
from samembed.repositories import audit
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Post
from samembed.repositories.stories import (
    SCREEN_INTERVAL_MAX,
    SCREEN_INTERVAL_MIN,
    SCREEN_MODES,
    Story,
)
from samembed.studio.forms import parse_version
from samembed.studio.health import health_summary
from samembed.studio.views import actor, is_editor, protect, story_or_404, studio_page

COMMANDS = ("pause", "resume", "next", "spotlight", "clear", "mode", "speed", "hide", "unhide")
SPEEDS = (4, 6, 8, 12, 20, 30)
POST_LIMIT = 50
# How many of the posts the wall cycles through "now showing" pictures.
SHOWING = 4
UNDO_SECONDS = 10
UNDO_KEY = "samembed.remote.undo"
MODE_LABELS = {"wall": "Wall", "spotlight": "One at a time"}


def post_words(post: Post) -> str:
    """A post as the remote names it: ‘Trams on route 4…’ by Ana."""
    flat = " ".join(post.text.split())
    text = flat if len(flat) <= 40 else flat[:40].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
    return f"‘{text}’ by {post.author.name}" if text else f"a post by {post.author.name}"


def screens_words(count: int) -> str:
    """The screens a command reached: "all 3 screens", "the screen", "no screen"."""
    if count <= 0:
        return "no screen"
    return "the 1 screen" if count == 1 else f"all {count} screens"


def _page(request: HttpRequest, story: Story, error: str = "",
          status: int = 200) -> HttpResponse:
    posts = posts_repo.list_published(story.id, POST_LIMIT)
    screen = story.screen
    spotlit = next((p for p in posts if str(p.id) == screen.spotlight), None)
    if spotlit is None and screen.spotlight:
        found = posts_repo.get_by_key(screen.spotlight)
        spotlit = found if found is not None and found.story_id == story.id \
            and found.state == "approved" else None
    undo = request.session.get(UNDO_KEY)
    if not (isinstance(undo, dict) and undo.get("story") == str(story.id)
            and time.time() - float(undo.get("at", 0)) < UNDO_SECONDS):
        undo = None
    return render(request, "studio/remote.html", {
        "story": story, "screen": screen, "posts": posts, "speeds": SPEEDS,
        "modes": SCREEN_MODES, "mode_labels": MODE_LABELS, "error": error,
        "spotlit": spotlit, "showing": posts[:SHOWING], "connected": connected_screens(story.id),
        "undo": undo, "undo_seconds": UNDO_SECONDS, "post_words": post_words,
        # A source failing during the show is the producer's business too.
        "health": health_summary(story.id),
    }, status=status)


@studio_page
def remote(request: HttpRequest, story_id: str) -> HttpResponse:
    return _page(request, story_or_404(story_id))


def _answer(request: HttpRequest, story: Story, status: int, message: str,
            **extra: Any) -> HttpResponse:
    if "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse(
            {"ok": status < 400, "message": message, **extra}, status=status)
    elif status < 400:
        # In the session, not the URL: a reload does not announce it again.
        messages.success(request, message)
        response = HttpResponseRedirect(f"/studio/stories/{story.id}/remote")
    else:
        # The remote as it is now, with the reason: the producer presses again.
        response = _page(request, story_or_404(str(story.id)), error=message, status=status)
    return protect(response)


Said = Callable[[str], str]


def _controls(request: HttpRequest, story: Story,
              command: str) -> tuple[dict[str, Any], Said] | str:
    """The controls a command sets and what to say once done (given the screens it
    reached, "all 3 screens"), or the message saying why it cannot."""
    screen = story.screen
    if command == "pause":
        return {"paused": True}, lambda screens: f"{screens[:1].upper()}{screens[1:]} paused."
    if command == "resume":
        return {"paused": False}, \
            lambda screens: f"{screens[:1].upper()}{screens[1:]} running again."
    if command == "next":
        return {"advance": screen.advance + 1, "spotlight": None}, \
            lambda screens: f"Next post on {screens}."
    if command == "clear":
        back = MODE_LABELS.get(screen.mode, screen.mode).lower()
        return {"spotlight": None}, \
            lambda screens: f"Spotlight cleared: {screens} back to the {back}."
    if command == "spotlight":
        post = posts_repo.get_by_key(request.POST.get("post", ""))
        if post is None or post.story_id != story.id or post.state != "approved":
            return "Choose an approved post of this story to spotlight."
        words = post_words(post)
        return {"spotlight": str(post.id)}, lambda screens: f"Spotlight: {words}, on {screens}."
    if command == "mode":
        mode = request.POST.get("mode", "")
        if mode not in SCREEN_MODES:
            return f"Unknown mode {mode[:40]!r}; valid modes: {', '.join(SCREEN_MODES)}."
        label = MODE_LABELS.get(mode, mode).lower()
        return {"mode": mode}, lambda screens: f"Mode: {label}, on {screens}."
    raw = request.POST.get("interval", "")
    interval = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0
    if not SCREEN_INTERVAL_MIN <= interval <= SCREEN_INTERVAL_MAX:
        return (f"The interval must be {SCREEN_INTERVAL_MIN} to {SCREEN_INTERVAL_MAX} "
                f"seconds, not {raw[:40]!r}.")
    return {"interval": interval}, \
        lambda screens: f"Speed: {interval} s per post, on {screens}."


def _said(say: Said, count: int) -> str:
    text = say(screens_words(count))
    if count <= 0:
        text += " Screens that open now start this way."
    return text


def _hide(request: HttpRequest, story: Story) -> HttpResponse:
    post = posts_repo.get_by_key(request.POST.get("post", ""))
    version = parse_version(request.POST.get("post_version"))
    if post is None or post.story_id != story.id or version is None:
        return _answer(request, story, 400, "Give a post of this story and its version.")
    if post.state != "approved":
        return _answer(request, story, 200, f"{post_words(post)} is already hidden.")
    if version != post.version or not audit.applied(
            lambda: posts_repo.update(post, {"state": "rejected"}), story.id, actor(request),
            "post.hide", {"state": (post.state, "rejected")}, post_id=post.id):
        audit.record(story.id, actor(request), "post.hide", {}, outcome="conflict",
                     post_id=post.id)
        return _answer(request, story, 409, "That post changed meanwhile; look again.",
                       post_version=post.version)
    stories_repo.bump_version(story.id)
    undo = {"story": str(story.id), "post": str(post.id), "post_version": post.version + 1,
            "words": post_words(post), "at": time.time()}
    request.session[UNDO_KEY] = undo
    count = connected_screens(story.id)
    where = "everywhere" if count <= 0 else f"everywhere ({screens_words(count)})"
    return _answer(request, story, 200, f"Hidden {where}: {post_words(post)}.",
                   undo={"post": undo["post"], "post_version": undo["post_version"],
                         "seconds": UNDO_SECONDS})


def _unhide(request: HttpRequest, story: Story) -> HttpResponse:
    post = posts_repo.get_by_key(request.POST.get("post", ""))
    version = parse_version(request.POST.get("post_version"))
    if post is None or post.story_id != story.id or version is None:
        return _answer(request, story, 400, "Give a post of this story and its version.")
    if post.state == "approved":
        return _answer(request, story, 200, f"{post_words(post)} is already on the screens.")
    # Only the hide itself is undone: a post someone moderated since stays as they left it.
    if post.state != "rejected" or version != post.version or not audit.applied(
            lambda: posts_repo.update(post, {"state": "approved"}), story.id, actor(request),
            "post.unhide", {"state": (post.state, "approved")}, post_id=post.id):
        audit.record(story.id, actor(request), "post.unhide", {}, outcome="conflict",
                     post_id=post.id)
        return _answer(request, story, 409, (
            f"Not undone: {post_words(post)} was changed after it was hidden. "
            "Look for it in the moderation queue."), post_version=post.version)
    stories_repo.bump_version(story.id)
    request.session.pop(UNDO_KEY, None)
    return _answer(request, story, 200, f"Back on the screens: {post_words(post)}.")


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
    if name == "unhide":
        return _unhide(request, story)
    base = request.POST.get("control_version", "")
    control_version = int(base) if base.isascii() and base.isdigit() and len(base) < 12 else -1
    if control_version < 0:
        return _answer(request, story, 400, "Give the control_version the remote showed.")
    controls = _controls(request, story, name)
    if isinstance(controls, str):
        return _answer(request, story, 400, controls)
    changes, said = controls
    if not story.live:
        return _answer(request, story, 409, "This story is not live; mark it live first.")
    wanted = {k: (getattr(story.screen, k), v) for k, v in changes.items()}
    if control_version != story.screen.control_version or not audit.applied(
            lambda: stories_repo.set_screen_controls(story, control_version, changes),
            story.id, actor(request), f"screen.{name}", wanted):
        audit.record(story.id, actor(request), f"screen.{name}",
                     {k: (None, v) for k, v in changes.items()}, outcome="conflict")
        current = story_or_404(story_id).screen
        return _answer(request, story, 409,
                       "Another command came first; the remote shows the screens as they "
                       "are now.", control_version=current.control_version)
    return _answer(request, story, 200, _said(said, connected_screens(story.id)),
                   control_version=control_version + 1)
