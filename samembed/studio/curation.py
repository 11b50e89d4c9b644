"""Curation in the studio: the moderation queue, pins, order, captions, manual posts.

Each post write is a compare-and-set on the version the editor's page showed
(`posts.update`), is recorded in the audit trail with the post's id, and bumps
the story's version so every open embed shows it within about a second.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template import engines
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from samembed.media.images import MAX_BYTES, ImageRefused, Normalised, normalise
from samembed.media.signing import STORED_PREFIX
from samembed.repositories import audit
from samembed.repositories import media as media_repo
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.common import atomically
from samembed.repositories.posts import (
    SOURCES,
    STATES,
    TEXT_MAX,
    Author,
    Media,
    Post,
    QueueFilter,
)
from samembed.studio import actions
from samembed.studio.audit import display_name, people
from samembed.studio.forms import parse_page, parse_version
from samembed.studio.health import health_summary
from samembed.studio.views import actor, story_or_404, studio_page
from samembed.text import find_entities

PAGE_SIZE = 50
BULK_MAX = 200
# "Reject all 37 matching": at most this many in one action.
BULK_MATCHING_MAX = 1000
FILTER_MAX = 200
RESTORE_SALT = "samembed.studio.restore"
RESTORE_MAX_AGE = 15 * 60  # seconds an undo of a removal stays possible
# What editors read after each action.
DONE = {"approve": "approved", "reject": "rejected", "hold": "put back in the queue",
        "pin": "pinned", "unpin": "unpinned", "highlight": "highlighted",
        "unhighlight": "no longer highlighted", "remove": "removed", "move": "moved",
        "screens_show": "shown on big screens", "screens_warn": "warned about on big screens"}
TOGGLES = {"pin": "unpin", "unpin": "pin", "highlight": "unhighlight",
           "unhighlight": "highlight", "screens_show": "screens_warn",
           "screens_warn": "screens_show"}
STATE_ACTIONS = {"pending": "hold", "approved": "approve", "rejected": "reject"}
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


def wants_json(request: HttpRequest) -> bool:
    """The desk's script asks for JSON; forms without it get pages and redirects."""
    return request.headers.get("Accept", "").startswith("application/json")


def _card(request: HttpRequest, post: Post, state_view: str) -> str:
    """One post's card in the queue, exactly as the page renders it."""
    template = engines["jinja2"].from_string(
        '{% from "studio/_queue_card.html" import queue_card with context %}'
        '{{ queue_card(p, state) }}')
    return template.render({"p": post, "state": state_view}, request)


def _state_view(request: HttpRequest, post: Post) -> str:
    state = request.POST.get("state_view") or post.state
    return state if state in STATES else post.state


def _post_or_404(post_id: str) -> Post:
    post = posts_repo.get_by_key(post_id)
    if post is None:
        raise Http404("no such post")
    return post


def _write_audited(request: HttpRequest, post: Post, action: str, write: Callable[[], bool],
             changes: dict[str, tuple[Any, Any]]) -> bool:
    """`write` and its audit entry in one transaction, then the story's version bumped;
    False: the write lost its compare-and-set (nothing written)."""
    if not audit.applied(write, post.story_id, actor(request), f"post.{action}", changes,
                         post_id=post.id):
        return False
    stories_repo.bump_version(post.story_id)
    return True


def _write(request: HttpRequest, post: Post, base_version: int | None, action: str,
           write: Callable[[], bool], changes: dict[str, tuple[Any, Any]]
           ) -> HttpResponse | None:
    """One post write as a compare-and-set on the version the editor's page showed:
    None when applied (audited, the story's version bumped), else the conflict page."""
    if base_version != post.version or not _write_audited(request, post, action, write, changes):
        return _post_conflict(request, str(post.id), action)
    return None


def _post_conflict(request: HttpRequest, post_id: str, attempted: str) -> HttpResponse:
    current = posts_repo.get_by_key(post_id)
    if current is None:
        if wants_json(request):
            return JsonResponse({"ok": False, "gone": True,
                                 "error": "Not changed: this post was removed meanwhile."},
                                status=409)
        return render(request, "studio/post_gone.html", status=409)
    audit.record(current.story_id, actor(request), f"post.{attempted}", {},
                 outcome="conflict", post_id=current.id)
    if wants_json(request):
        view = _state_view(request, current)
        return JsonResponse({
            "ok": False, "row": _card(request, current, view), "leaves": current.state != view,
            "error": "Not changed: someone changed this post meanwhile; it now shows "
                     "how it is.",
        }, status=409)
    return render(request, "studio/post_conflict.html", {
        "post": current, "attempted": attempted,
        "history": audit.for_story(current.story_id, limit=10, post_id=current.id),
    }, status=409)


def _back(request: HttpRequest, post: Post) -> str:
    state = request.POST.get("state_view") or post.state
    if state not in STATES:
        state = post.state
    return f"/studio/stories/{post.story_id}/posts?state={state}"


class QueueFilterForm(forms.Form):
    """The queue's search and filters, from the URL (so a filtered view can be shared)."""

    q = forms.CharField(max_length=FILTER_MAX, required=False, strip=True)
    author = forms.CharField(max_length=FILTER_MAX, required=False, strip=True)
    source = forms.ChoiceField(choices=[("", "any"), *[(k, k) for k in SOURCES]],
                               required=False)
    lang = forms.RegexField(regex=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length=35,
                            required=False, strip=True,
                            error_messages={"invalid": "Use a language code such as en or pt-BR."})
    has_media = forms.ChoiceField(choices=[("", "any"), ("yes", "with media"),
                                       ("no", "text only")], required=False)
    reason = forms.CharField(max_length=FILTER_MAX, required=False, strip=True)

    def queue_filter(self) -> QueueFilter:
        d = self.cleaned_data
        media = {"yes": True, "no": False}.get(d.get("has_media") or "")
        return QueueFilter(text=d.get("q", ""), author=d.get("author", ""),
                           source=d.get("source", ""), lang=d.get("lang", ""), media=media,
                           reason=d.get("reason", ""))


def _filters(request: HttpRequest) -> tuple[QueueFilterForm, QueueFilter | None]:
    form = QueueFilterForm(request.GET)
    return form, (form.queue_filter() if form.is_valid() else None)


def _filter_query(form: QueueFilterForm) -> str:
    """The filters as a query string, to keep them in links and redirects."""
    if not form.is_valid():
        return ""
    return urlencode({k: v for k, v in form.cleaned_data.items() if v})


@studio_page
@require_GET
def queue(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    state = request.GET.get("state", "pending")
    if state not in STATES:
        state = "pending"
    page = parse_page(request.GET.get("page"))
    form, filters = _filters(request)
    if filters is None:
        errors = "; ".join(f"{k}: {' '.join(str(e) for e in v)}"
                           for k, v in form.errors.items())
        if wants_json(request):
            return JsonResponse({"ok": False, "error": errors}, status=400)
        return render(request, "studio/posts.html", {
            "story": story, "state": state, "states": STATES, "posts": [], "page": 1,
            "more": False, "counts": posts_repo.count_by_state(story.id), "filter": form,
            "filter_error": errors, "filtered": False, "matching": 0, "query": "",
            "sources": SOURCES,
        }, status=400)
    posts = posts_repo.list_for_studio(story.id, state, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1,
                                       filters)
    counts = posts_repo.count_by_state(story.id)
    matching = posts_repo.count_matching(story.id, state, filters, BULK_MATCHING_MAX) \
        if filters else counts[state]
    if wants_json(request):
        # The open queue's look for new posts: the first page as cards, and counts.
        return JsonResponse({"ok": True, "counts": counts, "matching": matching,
                             "rows": [{"id": str(p.id), "version": p.version,
                                       "collected": p.collected_at.timestamp(),
                                       "html": _card(request, p, state)}
                                      for p in posts[:PAGE_SIZE]]})
    return render(request, "studio/posts.html", {
        "story": story, "state": state, "states": STATES, "posts": posts[:PAGE_SIZE],
        "page": page, "more": len(posts) > PAGE_SIZE, "counts": counts, "filter": form,
        "filtered": bool(filters), "matching": matching, "query": _filter_query(form),
        "sources": SOURCES, "loaded_at": datetime.now(UTC).timestamp(),
        "health": health_summary(story.id),
    })


def _applied(request: HttpRequest, before: Post, action: str,
             undo: dict[str, str] | None) -> HttpResponse:
    """After an applied post action: JSON for the desk, else back to the queue."""
    text = f"Post by {before.author.name} {DONE.get(action, action + 'ed')}."
    if not wants_json(request):
        messages.success(request, text)
        return HttpResponseRedirect(_back(request, before))
    view = _state_view(request, before)
    after = posts_repo.get_by_key(str(before.id)) if action != "remove" else None
    return JsonResponse({
        "ok": True, "message": text, "undo": undo,
        "leaves": after is None or after.state != view,
        "row": _card(request, after, view) if after is not None else None,
        "version": after.version if after is not None else None,
        "counts": posts_repo.count_by_state(before.story_id),
    })


@studio_page
@require_POST
def post_action(request: HttpRequest, post_id: str) -> HttpResponse:
    post = _post_or_404(post_id)
    action = request.POST.get("action", "")
    version = parse_version(request.POST.get("version"))
    if version is None or (action not in ACTIONS and action != "remove"):
        message = (f"Unknown action {action!r} or missing version; valid actions: "
                   f"{', '.join([*ACTIONS, 'remove'])}.")
        if wants_json(request):
            return JsonResponse({"ok": False, "error": message}, status=400)
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    undo: dict[str, str] | None
    if action == "remove":
        snapshot = posts_repo.snapshot(post) if version == post.version else None
        conflict = _write(request, post, version, action, lambda: posts_repo.delete(post),
                          {"text": (post.text[:200], None)})
        undo = {"url": "/studio/posts/restore",
                "token": signing.dumps(snapshot, salt=RESTORE_SALT, compress=True)} \
            if snapshot else None
    else:
        changes = ACTIONS[action]
        conflict = _write(request, post, version, action,
                          lambda: posts_repo.update(post, changes),
                          {k: (getattr(post, k), v) for k, v in changes.items()})
        inverse = TOGGLES.get(action) or STATE_ACTIONS[post.state]
        undo = {"url": f"/studio/posts/{post.id}/action", "action": inverse,
                "version": str(post.version + 1)}
    return conflict or _applied(request, post, action, undo)


@studio_page
@require_POST
def restore(request: HttpRequest) -> HttpResponse:
    """Undo a removal: the post comes back exactly as it was, in its story."""
    try:
        snapshot = signing.loads(request.POST.get("token", ""), salt=RESTORE_SALT,
                                 max_age=RESTORE_MAX_AGE)
    except signing.SignatureExpired:
        return JsonResponse({"ok": False, "error": "Too late to undo: removals can be "
                             "undone for 15 minutes."}, status=400)
    except signing.BadSignature:
        return JsonResponse({"ok": False, "error": "This undo is not valid."}, status=400)
    def restore_audited() -> Post | None:
        restored = posts_repo.restore(snapshot) if isinstance(snapshot, str) else None
        if restored is not None:
            audit.record(restored.story_id, actor(request), "post.restore",
                         {"text": (None, restored.text[:200])}, post_id=restored.id)
        return restored
    post = atomically(restore_audited)
    if post is None:
        return JsonResponse({"ok": False, "error": "Not restored: the post is back already "
                             "(restored, or collected again from its source)."}, status=409)
    stories_repo.bump_version(post.story_id)
    view = request.POST.get("state_view") or post.state
    return JsonResponse({
        "ok": True, "message": f"Post by {post.author.name} restored.",
        "row": _card(request, post, view if view in STATES else post.state),
        "leaves": post.state != view, "version": post.version,
        "counts": posts_repo.count_by_state(post.story_id),
    })


@studio_page
@require_POST
def bulk(request: HttpRequest, story_id: str) -> HttpResponse:
    """Approve, reject or hold the selected posts, or every post matching the
    queue's filters, in one write (each post only if unchanged since it was shown)."""
    story = story_or_404(story_id)
    action = request.POST.get("action", "")
    state = request.POST.get("state_view", "pending")
    state = state if state in STATES else "pending"
    # The "all N matching" buttons say so in their formaction.
    everything = request.GET.get("scope") == "matching"
    refs: list[tuple[Any, int]] = []
    if everything:
        form = QueueFilterForm(request.POST)
        filters = form.queue_filter() if form.is_valid() else None
        if filters is not None:
            refs = posts_repo.refs_matching(story.id, state, filters, BULK_MATCHING_MAX)
    else:
        form = QueueFilterForm(request.POST)
        for ref in request.POST.getlist("post")[:BULK_MAX + 1]:
            key, _, raw_version = ref.partition(":")
            version = parse_version(raw_version)
            post = posts_repo.parse_key(key)
            if post is not None and version is not None:
                refs.append((post, version))
    asked = len(request.POST.getlist("post")) if not everything else len(refs)
    too_many = asked > BULK_MAX and not everything
    if action not in ("approve", "reject", "hold") or not refs or too_many:
        message = (f"Choose approve, reject or hold and 1 to {BULK_MAX} posts "
                   "(or every matching post).")
        if wants_json(request):
            return JsonResponse({"ok": False, "error": message}, status=400)
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    changes = ACTIONS[action]
    def update_audited() -> list[Post]:
        done = posts_repo.update_many(story.id, refs, changes)
        audit.record_many(story.id, actor(request), f"post.{action}",
                          {p.id: {"state": (p.state, changes["state"])} for p in done
                           if p.id is not None})
        return done
    changed = atomically(update_audited)
    # The posts that changed meanwhile: the trail shows the attempt on each.
    done_ids = {p.id for p in changed}
    audit.record_many(story.id, actor(request), f"post.{action}",
                      {key: {} for key, _ in refs if key not in done_ids}, outcome="conflict")
    if changed:
        stories_repo.bump_version(story.id)
    skipped = asked - len(changed)
    noun = "post" if len(changed) == 1 else "posts"
    message = f"{len(changed)} {noun} {DONE[action]}." + (
        f" {skipped} had changed meanwhile and were left as they are." if skipped else "")
    if wants_json(request):
        return JsonResponse({"ok": True, "message": message,
                             "done": [str(p.id) for p in changed],
                             "counts": posts_repo.count_by_state(story.id)})
    messages.success(request, message)
    query = _filter_query(form)
    return HttpResponseRedirect(f"/studio/stories/{story.id}/posts?state={state}"
                                + (f"&{query}" if query else ""))


@studio_page
@require_POST
def move(request: HttpRequest, post_id: str) -> HttpResponse:
    """Put a post between two others (drag and drop), or one step up or down."""
    post = _post_or_404(post_id)
    direction = request.POST.get("direction")
    if direction in ("up", "down"):
        near = posts_repo.neighbours(post, direction)
        if not near:  # already at that end
            if wants_json(request):
                return JsonResponse({"ok": True, "version": post.version,
                                     "message": "Already at the " +
                                     ("top." if direction == "up" else "bottom.")})
            return HttpResponseRedirect(_back(request, post))
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
    # The audit trail says "moved … to position 3": positions, not ranks, are what
    # editors see.
    changes = {"rank": (post.sort_rank, rank),
               "position": (posts_repo.position(post, post.sort_rank),
                            posts_repo.position(post, rank))}
    conflict = _write(request, post, parse_version(request.POST.get("version")), "move",
                      lambda: posts_repo.update(post, {"rank": float(rank)}), changes)
    if conflict:
        return conflict
    if wants_json(request):
        return JsonResponse({"ok": True, "version": post.version + 1,
                             "message": f"Post by {post.author.name} moved."})
    return HttpResponseRedirect(_back(request, post))


class CaptionForm(forms.Form):
    caption = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea,
                              strip=False)


CAPTION_BASE_SALT = "samembed.studio.caption-base"


def _shown(post: Post) -> dict[str, str]:
    """What the embed shows of a post that an editor can change: the caption's text
    and each image's alt text (the merge's values)."""
    return {"caption": post.text, **{f"alt{i}": m.alt for i, m in enumerate(post.media)}}


def _caption_base(raw: str | None, post: Post, version: int | None) -> dict[str, str] | None:
    return actions.read_snapshot(CAPTION_BASE_SALT, raw, str(post.id), version)


def _caption_page(request: HttpRequest, post: Post, values: dict[str, str],
                  source_alts: tuple[str, ...], status: int = 200, message: str = "",
                  conflicts: dict[str, tuple[Any, Any]] | None = None) -> HttpResponse:
    base = actions.sign_snapshot(CAPTION_BASE_SALT, str(post.id), post.version, _shown(post))
    # Who saved the values a conflict shows: the post's newest applied caption edit.
    by = next((e for e in audit.for_story(post.story_id, 20, post_id=post.id)
               if e.action == "post.caption" and e.outcome == "applied"),
              None) if conflicts else None
    return render(request, "studio/caption.html", {
        "post": post, "values": values, "source_alts": source_alts, "message": message,
        "base": base, "conflicts": conflicts or {}, "saved_by": by,
        "saved_by_name": display_name(by.actor, people()) if by else "",
        "errors": [], "caption_max": TEXT_MAX}, status=status)


@studio_page
@require_http_methods(["GET", "HEAD", "POST"])
def edit_caption(request: HttpRequest, post_id: str) -> HttpResponse:
    """An editor's caption and alt texts. A save made from an older version of the
    post is merged field by field against the values the form showed (as story
    saves are): only a field both changed differently is shown back for a choice."""
    post = _post_or_404(post_id)
    source_alts = post.original_alts or tuple(m.alt for m in post.media)
    if request.method != "POST":
        return _caption_page(request, post, _shown(post), source_alts)
    version = parse_version(request.POST.get("version"))
    form = CaptionForm(request.POST)
    if version is None or not form.is_valid():
        typed = {"caption": request.POST.get("caption", "")[:TEXT_MAX],
                 **{f"alt{i}": request.POST.get(f"alt{i}", "")[:1500]
                    for i in range(len(post.media))}}
        return _caption_page(request, post, typed, source_alts, 400, "Check the fields below.")
    mine = {"caption": form.cleaned_data["caption"].strip(),
            **{f"alt{i}": request.POST.get(f"alt{i}", "")[:1500].strip()
               for i in range(len(post.media))}}
    original = post.original_text if post.original_text is not None else post.text
    if not mine["caption"]:
        mine["caption"] = original  # an empty caption means the source's words
    base = _caption_base(request.POST.get("base"), post, version)
    if base is None and version == post.version:
        base = _shown(post)
    for _ in range(actions.CAS_ATTEMPTS):
        merged, conflicts = actions.merge(base, _shown(post), mine)
        if conflicts:
            audit.record(post.story_id, actor(request), "post.caption",
                         dict(conflicts), outcome="conflict", post_id=post.id)
            proposal = {**merged, **{k: v for k, (_, v) in conflicts.items()}}
            return _caption_page(
                request, post, proposal, source_alts, 409,
                "Not saved yet: someone changed this post while you were editing. Your "
                "text is below; what they saved is shown beside each field you both "
                "changed. Save again to keep what the form now says.", conflicts)
        original = post.original_text if post.original_text is not None else post.text
        caption = merged["caption"]
        shown = None if caption in ("", original) else caption
        alts = post.original_alts or tuple(m.alt for m in post.media)
        overrides: list[str | None] = [
            None if merged.get(f"alt{i}", alt) == alt else merged[f"alt{i}"]
            for i, alt in enumerate(alts)]
        if _write_audited(request, post, "caption",
                    partial(posts_repo.set_caption, post, shown,
                            find_entities(shown or ""), overrides),
                    {"caption": (post.text, shown or original)}):
            messages.success(request, "Caption saved." if shown else
                             "Caption cleared: the embed shows the source's words.")
            return HttpResponseRedirect(
                f"/studio/stories/{post.story_id}/posts?state={post.state}")
        current = posts_repo.get_by_key(post_id)
        if current is None:
            return render(request, "studio/post_gone.html", status=409)
        post = current  # saved meanwhile: merge against that too
    return _post_conflict(request, post_id, "caption")


# The signed note of an image already stored for a manual post whose form came back
# with errors: the editor need not choose the file again.
KEPT_IMAGE_SALT = "samembed.studio.manual-image"
KEPT_IMAGE_MAX_AGE = 24 * 3600


@dataclass(frozen=True)
class KeptImage:
    key: str
    width: int
    height: int
    name: str

    def token(self) -> str:
        return signing.dumps([self.key, self.width, self.height, self.name],
                             salt=KEPT_IMAGE_SALT, compress=True)

    @staticmethod
    def read(token: str) -> KeptImage | None:
        try:
            key, width, height, name = signing.loads(token, salt=KEPT_IMAGE_SALT,
                                                     max_age=KEPT_IMAGE_MAX_AGE)
        except (signing.BadSignature, ValueError, TypeError):
            return None
        return KeptImage(str(key), int(width), int(height), str(name))


class ManualPostForm(forms.Form):
    text = forms.CharField(max_length=TEXT_MAX, widget=forms.Textarea, strip=True)
    author_name = forms.CharField(max_length=200)
    author_handle = forms.CharField(max_length=200, required=False)
    link = forms.URLField(max_length=2000, required=False, assume_scheme="https")
    image = forms.FileField(required=False)
    kept_image = forms.CharField(required=False, max_length=4000)
    alt = forms.CharField(max_length=1500, required=False,
                          help_text="Describe the image for people who cannot see it.")

    kept: KeptImage | None = None

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
            image = normalise(upload.read())
        except ImageRefused as e:
            raise forms.ValidationError(str(e)) from e
        # Stored at once, whatever the other fields say: the form shown again keeps it.
        key = media_repo.put(image.data, image.content_type)
        self.kept = KeptImage(key, image.width, image.height, (upload.name or "image")[:200])
        return image

    def clean_kept_image(self) -> str:
        token = self.cleaned_data.get("kept_image", "")
        # A new image replaces the kept one; a refused new one leaves it kept.
        if token and self.kept is None:
            self.kept = KeptImage.read(token)
            if self.kept is None:
                raise forms.ValidationError(
                    "The image chosen earlier could not be kept; choose it again.")
        return token

    def stored_media(self) -> tuple[Media, ...]:
        """The uploaded (or kept) image, already stored re-encoded and metadata-free."""
        if self.kept is None:
            return ()
        return (Media("image", f"{STORED_PREFIX}{self.kept.key}", self.kept.width,
                      self.kept.height, self.cleaned_data.get("alt", "")),)


@studio_page
@require_http_methods(["GET", "HEAD", "POST"])
def manual_post(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    form = ManualPostForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        def insert_audited() -> Post:
            added = posts_repo.insert(Post(
                story_id=story.id, source="manual", external_id=uuid.uuid4().hex,
                author=Author(d["author_name"], d["author_handle"] or None),
                text=d["text"], entities=tuple(find_entities(d["text"])),
                media=form.stored_media(), permalink=d["link"] or None,
                posted_at=datetime.now(UTC), state="approved",
            ))
            audit.record(story.id, actor(request), "post.add",
                         {"text": (None, added.text[:200])}, post_id=added.id)
            return added
        atomically(insert_audited)
        stories_repo.bump_version(story.id)
        messages.success(request, "Post added. It is approved and shows in the embed now.")
        return HttpResponseRedirect(f"/studio/stories/{story.id}/posts?state=approved")
    status = 400 if request.method == "POST" else 200
    return render(request, "studio/manual_post.html", {"story": story, "form": form},
                  status=status)
