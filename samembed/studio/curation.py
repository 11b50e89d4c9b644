"""Curation in the studio: the moderation queue, pins, order, captions, manual posts.

Each post write is a compare-and-set on the version the editor's page showed
(`posts.update`), is recorded in the audit trail with the post's id, and bumps
the story's version so every open embed shows it within about a second.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from samembed.media.images import MAX_BYTES, ImageRefused, Normalised, normalise
from samembed.media.signing import STORED_PREFIX
from samembed.repositories import audit
from samembed.repositories import media as media_repo
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import STATES, TEXT_MAX, Author, Media, Post
from samembed.studio.forms import parse_page, parse_version
from samembed.studio.views import actor, story_or_404, studio_page
from samembed.text import find_entities

PAGE_SIZE = 50
BULK_MAX = 200
ACTIONS: dict[str, dict[str, Any]] = {
    "approve": {"state": "approved"},
    "reject": {"state": "rejected"},
    "hold": {"state": "pending"},
    "pin": {"pinned": True},
    "unpin": {"pinned": False},
    "highlight": {"highlighted": True},
    "unhighlight": {"highlighted": False},
    # A warned post shows only its warning on big screens unless let through.
    "screens_show": {"show_on_screens": True},
    "screens_warn": {"show_on_screens": False},
}


def _post_or_404(post_id: str) -> Post:
    post = posts_repo.get_by_key(post_id)
    if post is None:
        raise Http404("no such post")
    return post


def _changed(request: HttpRequest, post: Post, action: str,
             changes: dict[str, tuple[Any, Any]]) -> None:
    audit.record(post.story_id, actor(request), f"post.{action}", changes, post_id=post.id)
    stories_repo.bump_version(post.story_id)


def _write(request: HttpRequest, post: Post, base_version: int | None, action: str,
           write: Callable[[], bool], changes: dict[str, tuple[Any, Any]]
           ) -> HttpResponse | None:
    """One post write as a compare-and-set on the version the editor's page showed:
    None when applied (audited, the story's version bumped), else the conflict page."""
    if base_version != post.version or not write():
        return _post_conflict(request, str(post.id), action)
    _changed(request, post, action, changes)
    return None


def _post_conflict(request: HttpRequest, post_id: str, attempted: str) -> HttpResponse:
    current = posts_repo.get_by_key(post_id)
    if current is None:
        return render(request, "studio/post_gone.html", status=409)
    audit.record(current.story_id, actor(request), f"post.{attempted}", {},
                 outcome="conflict", post_id=current.id)
    return render(request, "studio/post_conflict.html", {
        "post": current, "attempted": attempted,
        "history": audit.for_story(current.story_id, limit=10, post_id=current.id),
    }, status=409)


def _back(request: HttpRequest, post: Post) -> str:
    state = request.POST.get("state_view") or post.state
    if state not in STATES:
        state = post.state
    return f"/studio/stories/{post.story_id}/posts?state={state}"


@studio_page
def queue(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    state = request.GET.get("state", "pending")
    if state not in STATES:
        state = "pending"
    page = parse_page(request.GET.get("page"))
    posts = posts_repo.list_for_studio(story.id, state, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
    return render(request, "studio/posts.html", {
        "story": story, "state": state, "states": STATES, "posts": posts[:PAGE_SIZE],
        "page": page, "more": len(posts) > PAGE_SIZE,
        "counts": posts_repo.count_by_state(story.id), "message": request.GET.get("done", ""),
    })


@studio_page
@require_POST
def post_action(request: HttpRequest, post_id: str) -> HttpResponse:
    post = _post_or_404(post_id)
    action = request.POST.get("action", "")
    version = parse_version(request.POST.get("version"))
    if version is None or (action not in ACTIONS and action != "remove"):
        return HttpResponse(f"Unknown action {action!r} or missing version; valid actions: "
                            f"{', '.join([*ACTIONS, 'remove'])}.", status=400,
                            content_type="text/plain; charset=utf-8")
    if action == "remove":
        conflict = _write(request, post, version, action, lambda: posts_repo.delete(post),
                          {"text": (post.text[:200], None)})
    else:
        changes = ACTIONS[action]
        conflict = _write(request, post, version, action,
                          lambda: posts_repo.update(post, changes),
                          {k: (getattr(post, k), v) for k, v in changes.items()})
    return conflict or HttpResponseRedirect(_back(request, post))


@studio_page
@require_POST
def bulk(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    action = request.POST.get("action", "")
    refs = request.POST.getlist("post")
    if action not in ("approve", "reject", "hold") or not refs or len(refs) > BULK_MAX:
        return HttpResponse(f"Choose approve, reject or hold and 1 to {BULK_MAX} posts.",
                            status=400, content_type="text/plain; charset=utf-8")
    done = conflicts = 0
    for ref in refs:
        key, _, raw_version = ref.partition(":")
        post = posts_repo.get_by_key(key)
        version = parse_version(raw_version)
        if post is None or post.story_id != story.id or version is None:
            conflicts += 1
            continue
        changes = ACTIONS[action]
        if version != post.version or not posts_repo.update(post, changes):
            conflicts += 1
            continue
        audit.record(story.id, actor(request), f"post.{action}",
                     {"state": (post.state, changes["state"])}, post_id=post.id)
        done += 1
    if done:
        stories_repo.bump_version(story.id)
    message = f"{done} post(s): {action}d." + (
        f" {conflicts} had changed meanwhile and were left as they are." if conflicts else "")
    state = request.POST.get("state_view", "pending")
    state = state if state in STATES else "pending"
    return HttpResponseRedirect(f"/studio/stories/{story.id}/posts?state={state}&done={message}")


@studio_page
@require_POST
def move(request: HttpRequest, post_id: str) -> HttpResponse:
    """Put a post between two others (drag and drop), or one step up or down."""
    post = _post_or_404(post_id)
    direction = request.POST.get("direction")
    if direction in ("up", "down"):
        near = posts_repo.neighbours(post, direction)
        if not near:
            return HttpResponseRedirect(_back(request, post))  # already at that end
        # Up: between the second and the first post above; down: between the first
        # and the second below.
        second = near[1] if len(near) > 1 else None
        before, after = (second, near[0]) if direction == "up" else (near[0], second)
    else:
        before = posts_repo.get_by_key(request.POST.get("before", ""))
        after = posts_repo.get_by_key(request.POST.get("after", ""))
        if before is None and after is None:
            return HttpResponse("Give the post before and/or after the new place.", status=400,
                                content_type="text/plain; charset=utf-8")
    rank = posts_repo.rank_between(before, after)
    conflict = _write(request, post, parse_version(request.POST.get("version")), "move",
                      lambda: posts_repo.update(post, {"rank": float(rank)}),
                      {"rank": (post.sort_rank, rank)})
    if conflict:
        return conflict
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"ok": True, "version": post.version + 1})
    return HttpResponseRedirect(_back(request, post))


class CaptionForm(forms.Form):
    caption = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea,
                              strip=False)


@studio_page
@require_http_methods(["GET", "HEAD", "POST"])
def edit_caption(request: HttpRequest, post_id: str) -> HttpResponse:
    post = _post_or_404(post_id)
    source_alts = post.original_alts or tuple(m.alt for m in post.media)
    if request.method == "POST":
        version = parse_version(request.POST.get("version"))
        form = CaptionForm(request.POST)
        alts = [request.POST.get(f"alt{i}", "")[:1500] for i in range(len(post.media))]
        if version is None or not form.is_valid():
            return render(request, "studio/caption.html",
                          {"post": post, "form": form, "source_alts": source_alts,
                           "message": "Check the fields below."}, status=400)
        original = post.original_text if post.original_text is not None else post.text
        caption = form.cleaned_data["caption"].strip()
        shown = None if caption in ("", original) else caption
        overrides: list[str | None] = [
            None if alt.strip() == source_alts[i] else alt.strip() for i, alt in enumerate(alts)
        ]
        entities = find_entities(shown or "")
        conflict = _write(request, post, version, "caption",
                          lambda: posts_repo.set_caption(post, shown, entities, overrides),
                          {"caption": (post.text, shown or original)})
        return conflict or HttpResponseRedirect(
            f"/studio/stories/{post.story_id}/posts?state={post.state}")
    form = CaptionForm(initial={"caption": post.text})
    return render(request, "studio/caption.html",
                  {"post": post, "form": form, "source_alts": source_alts})


class ManualPostForm(forms.Form):
    text = forms.CharField(max_length=TEXT_MAX, widget=forms.Textarea, strip=True)
    author_name = forms.CharField(max_length=200)
    author_handle = forms.CharField(max_length=200, required=False)
    link = forms.URLField(max_length=2000, required=False, assume_scheme="https")
    image = forms.FileField(required=False)
    alt = forms.CharField(max_length=1500, required=False,
                          help_text="Describe the image for people who cannot see it.")

    def clean_link(self) -> str:
        link = self.cleaned_data.get("link", "")
        if link and not link.startswith(("https://", "http://")):
            raise forms.ValidationError("Only http and https links.")
        return link

    def clean_image(self) -> Normalised | None:
        upload = self.cleaned_data.get("image")
        if upload is None:
            return None
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"The image is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        try:
            return normalise(upload.read())
        except ImageRefused as e:
            raise forms.ValidationError(str(e)) from e

    def stored_media(self) -> tuple[Media, ...]:
        """The uploaded image, stored (re-encoded, metadata-free) in the media store."""
        image: Normalised | None = self.cleaned_data.get("image")
        if image is None:
            return ()
        key = media_repo.put(image.data, image.content_type)
        return (Media("image", f"{STORED_PREFIX}{key}", image.width, image.height,
                      self.cleaned_data.get("alt", "")),)


@studio_page
@require_http_methods(["GET", "HEAD", "POST"])
def manual_post(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    form = ManualPostForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        post = posts_repo.insert(Post(
            story_id=story.id, source="manual", external_id=uuid.uuid4().hex,
            author=Author(d["author_name"], d["author_handle"] or None),
            text=d["text"], entities=tuple(find_entities(d["text"])), media=form.stored_media(),
            permalink=d["link"] or None, posted_at=datetime.now(UTC), state="approved",
        ))
        _changed(request, post, "add", {"text": (None, post.text[:200])})
        return HttpResponseRedirect(f"/studio/stories/{story.id}/posts?state=approved")
    status = 400 if request.method == "POST" else 200
    return render(request, "studio/manual_post.html", {"story": story, "form": form},
                  status=status)
