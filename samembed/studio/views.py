"""The editors' studio (write path): sign-in, stories, publishing, conflicts, audit.

Every story write is a compare-and-set on the version the editor's page was
based on. A lost race is never overwritten: the editor gets a 409 page listing
what was changed meanwhile (from the audit trail) with their own values ready
to apply again on top. Each write is recorded in the audit trail, conflicts
included, and reaches the embeds through the version watch within a second.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from samembed import flags
from samembed.embed import paging
from samembed.embed.render import render_embed
from samembed.exceptions import SlugTaken
from samembed.repositories import audit, signins
from samembed.repositories import posts as posts_repo
from samembed.repositories import sources as sources_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.common import atomically
from samembed.repositories.stories import STATUSES, THEME_MODES, Story
from samembed.studio import actions
from samembed.studio.forms import (
    LoginForm,
    StoryForm,
    fields_values,
    parse_page,
    parse_version,
    story_values,
)
from samembed.studio.health import health_of

EDITORS_GROUP = "editors"
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW = timedelta(minutes=15)
STUDIO_CSP = (
    "default-src 'self'; img-src 'self' https: data:; frame-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
PAGE_SIZE = 50
# The snippet's data-limit bound, which the preview mirrors.


def is_editor(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and (
        getattr(user, "is_superuser", False)
        or user.groups.filter(name=EDITORS_GROUP).exists()  # type: ignore[union-attr,attr-defined]
    ))


def studio_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in editors only; never framed; never cached by anyone."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseRedirect(f"/studio/login?next={request.path}")
        if not is_editor(request.user):
            response = render(request, "studio/denied.html", status=403)
        else:
            response = view(request, *args, **kwargs)
        return protect(response)

    return wrapper


def protect(response: HttpResponse) -> HttpResponse:
    # setdefault: the preview sets its own (framable by the studio only).
    response.headers.setdefault("Content-Security-Policy", STUDIO_CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response["Cache-Control"] = "private, no-store"
    return response


def actor(request: HttpRequest) -> str:
    return request.user.get_username()


def story_or_404(story_id: str) -> Story:
    story = stories_repo.get_by_key(story_id)
    if story is None:
        raise Http404("no such story")
    return story


def _client_address(request: HttpRequest) -> str:
    # The client's own address: uvicorn takes it from X-Forwarded-For only when the
    # peer is one of FORWARDED_ALLOW_IPS (nginx, which resolved it with real_ip).
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 - a key, not a bind


# ---- sign-in ----------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    next_url = request.GET.get("next", "/studio/")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/studio/"
    status, message = 200, ""
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip().lower()
        address = _client_address(request)
        # Reserved before the password is checked: parallel guesses cannot all pass.
        attempt = signins.reserve(username, address, LOGIN_FAILURES_ALLOWED, LOGIN_WINDOW)
        if not attempt.granted:
            wait = attempt.retry_after
            response = render(request, "studio/login.html", {
                "form": form, "next": next_url,
                "message": (f"Too many failed sign-ins for this account from your address. "
                            f"Try again in {wait // 60 + 1} minutes."),
            }, status=429)
            response["Retry-After"] = str(wait)
            return protect(response)
        user = authenticate(request, username=username,
                            password=form.cleaned_data["password"])
        if user is None:
            status, message = 401, "Wrong username or password."
        elif not is_editor(user):
            status, message = 403, "This account has no access to the studio."
        else:
            login(request, user)
            signins.forget(username, address)
            return HttpResponseRedirect(next_url)
    elif request.method == "POST":
        status, message = 400, "Enter a username and a password."
    return protect(render(request, "studio/login.html",
                          {"form": form, "next": next_url, "message": message}, status=status))


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return protect(HttpResponseRedirect("/studio/login"))


# ---- stories ------------------------------------------------------------------------


@studio_page
def story_list(request: HttpRequest) -> HttpResponse:
    page = parse_page(request.GET.get("page"))
    stories = stories_repo.list_recent((page - 1) * PAGE_SIZE, PAGE_SIZE + 1)[:PAGE_SIZE + 1]
    shown = stories[:PAGE_SIZE]
    ids = [s.id for s in shown]
    overview = posts_repo.overview(ids)
    health = {i: health_of(listed) for i, listed in sources_repo.for_stories(ids).items()}
    return render(request, "studio/stories.html", {
        "stories": shown, "page": page, "more": len(stories) > PAGE_SIZE,
        "overview": overview, "health": health,
    })


def _create_audited(request: HttpRequest, fields: dict[str, Any]) -> Story:
    story = stories_repo.insert(status="draft", **fields)
    audit.record(story.id, actor(request), "story.create",
                 {k: (None, v) for k, v in fields_values(fields).items()}, version=story.version)
    return story


@studio_page
@require_http_methods(["GET", "HEAD", "POST"])
def story_new(request: HttpRequest) -> HttpResponse:
    form = StoryForm(request.POST or None, request.FILES or None,
                     initial={"default_template": "grid", "font": "system", "mode": "auto",
                              "accent": "#2563eb", "background_default": True})
    if request.method == "POST" and form.is_valid():
        fields = form.story_fields()
        problem = actions.slug_problem(fields["slug"], None)
        if problem is None:
            try:
                story = atomically(lambda: _create_audited(request, fields))
            except SlugTaken:
                problem = f"The slug {fields['slug']!r} was just taken by another story."
            else:
                return HttpResponseRedirect(f"/studio/stories/{story.id}/")
        form.add_error("slug", problem)
    status = 400 if request.method == "POST" else 200
    return render(request, "studio/story_form.html", {"form": form, "story": None},
                  status=status)


def _done(request: HttpRequest, story: Story, outcome: actions.Outcome) -> HttpResponse:
    if outcome.applied:
        text = "Saved. Open embeds show the change within about a second."
        if outcome.kept:
            names = ", ".join(actions.FIELD_LABELS.get(k, k) for k in outcome.kept)
            text += f" Someone else's changes meanwhile were kept: {names}."
    else:
        text = "Nothing to save: the story already has these values."
    messages.success(request, text)
    return HttpResponseRedirect(f"/studio/stories/{story.id}/")


def _conflict_page(request: HttpRequest, outcome: actions.Outcome,
                   base_version: int | None) -> HttpResponse:
    """The 409 page: what changed meanwhile, and each field both changed, side by side."""
    story = outcome.story
    meanwhile = audit.for_story(story.id, since_version=base_version) if base_version else []
    # Who made each field's other value: the newest save that changed it.
    changed_by = {name: entry for entry in reversed(meanwhile) for name in entry.changes}
    return render(request, "studio/conflict.html", {
        "story": story, "meanwhile": meanwhile, "conflicts": outcome.conflicts,
        "changed_by": changed_by,
        "labels": actions.FIELD_LABELS, "base": actions.sign_base(story),
        "mine": actions.sign_values(story, outcome.proposal),
    }, status=409)


def _save(request: HttpRequest, story: Story, base_version: int, mine: dict[str, Any],
          action: str, form: StoryForm | None) -> HttpResponse:
    """Save an editor's values made from `base_version`, merged with any save since."""
    base = actions.read_base(request.POST.get("base"), story, base_version)
    if base is None and base_version == story.version:
        base = actions.Base(story.version, story_values(story))  # nothing saved since
    outcome = actions.save_story(actor(request), story, base, mine, action)
    if outcome.slug_problem:
        if form is None:
            form = StoryForm(initial=StoryForm.initial_for(outcome.story))
        form.add_error("slug", outcome.slug_problem)
        return _edit_page(request, outcome.story, form, status=400)
    if outcome.conflicts:
        return _conflict_page(request, outcome, base_version)
    return _done(request, outcome.story, outcome)


@studio_page
@require_http_methods(["GET", "HEAD", "POST"])
def story_edit(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    if request.method != "POST" and "application/json" in request.headers.get("Accept", ""):
        # What the page's preview polls: one indexed read, to reload its frame when
        # a post or setting changed anywhere (the version moves with both).
        return JsonResponse({"ok": True, "version": story.version, "status": story.status})
    if request.method != "POST":
        form = StoryForm(initial=StoryForm.initial_for(story))
        return _edit_page(request, story, form)
    form = StoryForm(request.POST, request.FILES)
    base_version = parse_version(request.POST.get("version"))
    if base_version is None:
        return _edit_page(request, story, form, "This form has no valid version; reload the "
                                               "story and make your changes again.", 400)
    if not form.is_valid():
        return _edit_page(request, story, form, status=400)
    base = actions.read_base(request.POST.get("base"), story, base_version)
    # The form does not set the status: it stays what this editor saw.
    status = base.values.get("status", story.status) if base else story.status
    mine = {**fields_values(form.story_fields()), "status": status}
    return _save(request, story, base_version, mine, "story.update", form)


@studio_page
@require_POST
def story_resolve(request: HttpRequest, story_id: str) -> HttpResponse:
    """The conflict page's answer: for each field both changed, theirs or mine."""
    story = story_or_404(story_id)
    base_version = parse_version(request.POST.get("version"))
    base = actions.read_base(request.POST.get("base"), story, base_version or 0)
    mine = actions.read_values(request.POST.get("mine"), story)
    if base is None or mine is None:
        form = StoryForm(initial=StoryForm.initial_for(story))
        return _edit_page(request, story, form, "This conflict page is out of date or was "
                          "changed; here is the story as it is now.", 400)
    chosen = dict(mine)
    for key in mine:
        if request.POST.get(f"keep_{key}") == "theirs":
            chosen[key] = base.values.get(key)  # the other save's value at that base
    return _save(request, story, base.version, chosen, "story.update", None)


def _edit_page(request: HttpRequest, story: Story, form: StoryForm, message: str = "",
               status: int = 200) -> HttpResponse:
    origin = request.build_absolute_uri("/").rstrip("/")
    base = actions.sign_base(story)
    # A form shown again with its errors keeps the base it was made from, so its
    # untouched fields cannot overwrite what others saved meanwhile.
    carried = form.is_bound and request.method == "POST"
    return render(request, "studio/story_form.html", {
        "form": form, "story": story, "message": message, "origin": origin,
        "statuses": STATUSES, "templates": stories_repo.TEMPLATES, "base": base,
        "form_version": request.POST.get("version", "") if carried else story.version,
        "form_base": request.POST.get("base", "") if carried else base,
    }, status=status)


@studio_page
@require_POST
def story_status(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    status = request.POST.get("status", "")
    base_version = parse_version(request.POST.get("version"))
    if status not in STATUSES or base_version is None:
        form = StoryForm(initial=StoryForm.initial_for(story))
        return _edit_page(request, story, form,
                          f"Unknown status or version; choose one of {', '.join(STATUSES)}.", 400)
    base = actions.read_base(request.POST.get("base"), story, base_version)
    if base is None and base_version == story.version:
        base = actions.Base(story.version, story_values(story))
    mine = {**(base.values if base else {}), "status": status}
    return _save(request, story, base_version, mine, f"story.{status}", None)


@studio_page
def story_preview(request: HttpRequest, story_id: str) -> HttpResponse:
    """The real embed of a story in any status, for the studio's own frames only."""
    story = story_or_404(story_id)
    template = request.GET.get("template", story.default_template)
    if template not in stories_repo.TEMPLATES:
        raise Http404("no such template")
    # A page as the publisher's snippet shows it: the template's page size by default.
    try:
        limit = paging.parse_limit(request.GET.get("limit") or None,
                                   paging.default_limit(template))
    except paging.BadPage as e:
        return protect(HttpResponse(str(e), status=400,
                                    content_type="text/plain; charset=utf-8"))
    theme = request.GET.get("theme") or None
    if theme is not None:
        if theme not in THEME_MODES:
            return protect(HttpResponse(f"Unknown theme {theme[:40]!r}.", status=400,
                                        content_type="text/plain; charset=utf-8"))
        story = story.in_mode(theme)
    posts = posts_repo.list_published(story.id, limit)
    # Not following live updates: its own URL needs a session the frame cannot send
    # (the studio page polls the version and reloads the frame instead). Any `v`
    # in the query is that reload's cache-buster and is ignored here.
    origin = request.build_absolute_uri("/").rstrip("/")
    # The flags as this editor gets them (staff allow-lists), and any variant asked
    # for with ?variant=KEY[:NAME] (samembed.flags.preview_variants).
    try:
        variants = flags.preview_variants(story.slug, request.user.get_username(),
                                          request.GET.getlist("variant"), str(story.id))
    except ValueError as e:
        return protect(HttpResponse(str(e), status=400,
                                    content_type="text/plain; charset=utf-8"))
    rendered = render_embed(story, posts, template, ancestors="'self'", origin=origin,
                            follow=False, variants=variants, counted=False)
    response = HttpResponse(rendered.body, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = rendered.csp
    response["Cache-Control"] = "private, no-store"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response
