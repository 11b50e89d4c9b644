"""Studio: a story's sources, moderation rules, push token and imports.

Editors add polled sources (each kind's module validates its own settings),
first trying them with "Test" (one fetch through the same module and the
guarded outbound client, nothing stored, the first posts or a plain-language
error shown), see each source's health (last run, what it brought, failures,
the next retry, paused since when and why) and retry a paused one. Rules and
sources are compare-and-set writes like every other studio write. Imports run
the ingest pipeline in the request, with media copies left to the ingest loop.
The push API is documented on the page itself, with the story's real URL.

Other studio pages show a story's source health with `studio.health.health_summary()`:

    health = health_summary(story.id)
    if health.problems:  # "2 sources need attention; next retry 14:05 UTC"
        ...
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from samembed.ingest import pipeline, push, runner
from samembed.ingest.sources import REGISTRY
from samembed.repositories import audit, sources
from samembed.repositories.posts import TEXT_MAX
from samembed.repositories.sources import PAUSE_AFTER_FAILURES, Rules, Source
from samembed.repositories.stories import Story
from samembed.studio.actions import CAS_ATTEMPTS, merge, read_snapshot, sign_snapshot
from samembed.studio.audit import display_name, people
from samembed.studio.forms import parse_version
from samembed.studio.health import health_of
from samembed.studio.views import actor, story_or_404, studio_page

INTERVALS = {"60": "every minute", "120": "every 2 minutes", "300": "every 5 minutes",
             "900": "every 15 minutes", "3600": "every hour"}
LIST_MAX = 500
WORD_MAX = 200
RULE_FLAGS = ("auto_approve", "skip_replies", "skip_reposts", "hold_sensitive")
RULE_LISTS = ("blocked_words", "blocked_accounts", "allowed_accounts", "languages")
SETTING_FIELDS = ("instance", "tag", "account", "token", "actor", "query", "identifier",
                  "app_password", "url")


def push_docs(request: HttpRequest, story: Story) -> dict[str, Any]:
    """What the page says about the push API: the story's own URL and the limits."""
    origin = request.build_absolute_uri("/").rstrip("/")
    return {
        "url": f"{origin}{api_path(story)}",
        "max_posts": push.MAX_POSTS, "max_body": push.MAX_BODY, "max_media": push.MAX_MEDIA,
        "text_max": TEXT_MAX,
    }


def api_path(story: Story) -> str:
    return f"/api/v1/stories/{story.slug}/posts"


def _page(request: HttpRequest, story: Story, status: int = 200, **context: Any) -> HttpResponse:
    listed = sources.for_story(story.id)
    return render(request, "studio/sources.html", {
        "story": story,
        "sources": listed,
        "health": health_of(listed),
        "now": datetime.now(UTC),
        "push_docs": push_docs(request, story),
        "kinds": {kind: module.label for kind, module in REGISTRY.items()},
        "intervals": INTERVALS, "pause_after": PAUSE_AFTER_FAILURES,
        "rules": sources.rules(story.id),
        "rules_base": rules_base(story, context.get("rules_current") or sources.rules(story.id)),
        "rules_theirs": {},
        "push": sources.push_source(story.id),
        "import_max_posts": push.IMPORT_MAX_POSTS,
        "values": {},
        **context,
    }, status=status)


@studio_page
@require_http_methods(["GET", "HEAD"])
def sources_page(request: HttpRequest, story_id: str) -> HttpResponse:
    return _page(request, story_or_404(story_id))


def _back(request: HttpRequest, story: Story, message: str) -> HttpResponseRedirect:
    # The message travels in the session, not the URL: a reload or a shared link
    # does not say "Added…" again.
    messages.success(request, message)
    return HttpResponseRedirect(f"/studio/stories/{story.id}/sources")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _trial_json(result: runner.Trial) -> dict[str, Any]:
    return {
        "ok": result.error is None,
        "message": result.error or _trial_message(result),
        "total": result.total,
        "posts": [{
            "author": p.author_name, "handle": p.author_handle or "",
            "text": p.text[:280], "posted_at": p.posted_at.astimezone(UTC).isoformat(),
            "media": len(p.media), "permalink": p.permalink or "",
        } for p in result.posts],
    }


def _trial_message(result: runner.Trial) -> str:
    if result.total:
        shown = min(result.total, runner.TRIAL_POSTS)
        return (f"It works: this source would collect {result.total} "
                f"post{'s' if result.total != 1 else ''} now. The newest {shown}:")
    if result.wait:
        return (f"The network asks us to wait {max(1, round(result.wait / 60))} min (a rate "
                "limit); the source will collect after that.")
    return "It works, but there is nothing to collect yet: posts will come as they appear."


def _test(request: HttpRequest, story: Story, kind: str, settings: dict[str, Any],
          values: dict[str, str]) -> HttpResponse:
    result = runner.trial(kind, settings)
    if _wants_json(request):
        return JsonResponse(_trial_json(result))
    return _page(request, story, trial=result, trial_message=result.error or
                 _trial_message(result), values={**values, "kind": kind},
                 interval=request.POST.get("interval", "120"))


@studio_page
@require_POST
def source_add(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    kind = request.POST.get("kind", "")
    module = REGISTRY.get(kind)
    values = {k: request.POST.get(k, "").strip()[:2000] for k in SETTING_FIELDS}
    # Each network has its own "what to collect" select; its module reads "mode".
    values["mode"] = request.POST.get(f"{kind}_mode", "").strip()[:20]
    interval = request.POST.get("interval", "120")
    error = None
    if module is None:
        error = f"Choose a kind of source ({', '.join(REGISTRY)})."
    elif interval not in INTERVALS:
        error = "Choose how often to collect."
    if module is None or error:
        if _wants_json(request):
            return JsonResponse({"ok": False, "message": error, "posts": []}, status=400)
        return _page(request, story, 400, error=error, values=values)
    try:
        settings = module.clean_settings(values)
    except ValueError as e:
        if _wants_json(request):
            return JsonResponse({"ok": False, "message": str(e), "posts": []}, status=400)
        return _page(request, story, 400, error=str(e), values={**values, "kind": kind})
    if request.POST.get("test"):
        return _test(request, story, kind, settings, values)
    label = describe(kind, settings)
    source = audit.applied(
        lambda: sources.add(Source(story_id=story.id, kind=kind, settings=settings,
                                   label=label, interval=float(interval))),
        story.id, actor(request), "source.add", {"source": (None, label)})
    return _back(request, story,
                 f"Added {module.label}: {source.label}. Posts arrive within a minute.")


def describe(kind: str, settings: dict[str, Any]) -> str:
    """A source's one-line name in the studio, from its cleaned settings."""
    what = ("#" + str(settings["tag"]) if settings.get("tag") else next(
        (str(settings[k]) for k in ("account", "actor", "query", "url") if settings.get(k)),
        kind))
    where = settings.get("instance")
    return (f"{what} on {where}" if where else what)[:300]


def _source_or_404(story: Story, source_id: str) -> Source:
    source = sources.get(source_id)
    if source is None or source.story_id != story.id:
        raise Http404("no such source")
    return source


@studio_page
@require_POST
def source_action(request: HttpRequest, story_id: str, source_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    source = _source_or_404(story, source_id)
    action = request.POST.get("action", "")
    if parse_version(request.POST.get("version")) != source.version:
        return _page(request, story, 409, error=(
            f"Not done: {source.label} changed since this page was loaded (it may just have "
            "run). Here it is as it is now."))
    write: Callable[[], Source | None]
    if action == "retry":
        write = lambda: runner.retry(source)  # noqa: E731
        message = f"{source.label} will run again within a minute."
    elif action in ("enable", "disable"):
        write = lambda: sources.save(source, enabled=action == "enable")  # noqa: E731
        message = f"{source.label} {'enabled' if action == 'enable' else 'disabled'}."
    elif action == "remove":
        write = lambda: source if sources.remove(source) else None  # noqa: E731
        message = f"Removed {source.label}; the posts it brought stay."
    else:
        return _page(request, story, 400, error="Unknown action.")
    changes = {"source": (source.label, None)}
    if audit.applied(write, story.id, actor(request), f"source.{action}", changes) is None:
        audit.record(story.id, actor(request), f"source.{action}", changes, outcome="conflict")
        return _page(request, story, 409, error=f"Not done: {source.label} changed meanwhile.")
    return _back(request, story, message)


def _rules_from(request: HttpRequest) -> Rules:
    def lines(name: str) -> tuple[str, ...]:
        items = [line.strip()[:WORD_MAX] for line in request.POST.get(name, "").splitlines()]
        found = tuple(dict.fromkeys(i for i in items if i))
        if len(found) > LIST_MAX:
            raise ValueError(f"At most {LIST_MAX} entries per list.")
        return found
    raw_cap = request.POST.get("daily_cap", "0").strip() or "0"
    if not raw_cap.isdigit() or int(raw_cap) > 1_000_000:
        raise ValueError("The daily cap must be a whole number (0: no cap).")
    languages = tuple(code.lower() for code in lines("languages"))
    if any(not (2 <= len(code) <= 8 and code.replace("-", "").isalpha()) for code in languages):
        raise ValueError("Languages are codes such as en, pt or pt-BR, one per line.")
    return Rules(**{flag: request.POST.get(flag) == "on" for flag in RULE_FLAGS},
                 blocked_words=lines("blocked_words"),
                 blocked_accounts=lines("blocked_accounts"),
                 allowed_accounts=lines("allowed_accounts"), languages=languages,
                 daily_cap=int(raw_cap))


RULES_BASE_SALT = "samembed.studio.rules-base"
RULE_LABELS = {"auto_approve": "automatic approval", "skip_replies": "skip replies",
               "skip_reposts": "skip reposts", "hold_sensitive": "hold sensitive posts",
               "daily_cap": "daily cap"}


def rule_values(rules: Rules) -> dict[str, Any]:
    """The rules an editor sets, as plain values (lists for the lists)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in asdict(rules).items() if k != "version"}


def rules_of(values: dict[str, Any], version: int = 0) -> Rules:
    """Rules from plain values (the inverse of rule_values)."""
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in values.items()}
    return Rules(**fields, version=version)


def rules_base(story: Story, rules: Rules) -> str:
    """The signed rules the form shows: a save from them is merged with any save since."""
    return sign_snapshot(RULES_BASE_SALT, str(story.id), rules.version, rule_values(rules))


def merge_rules(base: dict[str, Any], theirs: dict[str, Any], mine: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """Three-way merge of rules: lists merge entry by entry (what each side added or
    removed applies, so two editors blocking words at once keep both); a flag or the
    cap both changed to different values is a conflict (theirs, mine), as in
    actions.merge, with mine in the merged values."""
    lists = {k for k, v in mine.items() if isinstance(v, list)}
    merged, conflicts = merge({k: v for k, v in base.items() if k not in lists},
                              {k: v for k, v in theirs.items() if k not in lists},
                              {k: v for k, v in mine.items() if k not in lists})
    merged.update({k: wanted for k, (_, wanted) in conflicts.items()})
    for key in lists:
        before, wanted = base.get(key) or [], mine[key]
        removed = set(before) - set(wanted)
        kept = [x for x in theirs.get(key) or () if x not in removed]
        merged[key] = kept + [x for x in wanted if x not in before and x not in kept]
    return merged, conflicts


def _rules_conflict(request: HttpRequest, story: Story, current: Rules,
                    proposal: dict[str, Any], conflicts: dict[str, tuple[Any, Any]]
                    ) -> HttpResponse:
    saved = next((e for e in audit.for_story(story.id, 20)
                  if e.action == "rules.save" and e.outcome == "applied"), None)
    who = display_name(saved.actor, people()) if saved else "A colleague"
    names = ", ".join(RULE_LABELS.get(k, k) for k in conflicts)
    shown = rules_of(proposal, current.version)
    return _page(request, story, 409, rules=shown, rules_current=current, error=(
        f"Not saved yet: {who} changed the rules while you were editing, and you both "
        f"changed {names}. The form now holds your value with theirs beside it, and "
        "everything else merged; save again to keep what it says."),
        rules_theirs={k: theirs for k, (theirs, _) in conflicts.items()})


@studio_page
@require_POST
def rules_save(request: HttpRequest, story_id: str) -> HttpResponse:
    """Save the moderation rules; a save made from older rules is merged with what
    was saved since (lists entry by entry); a setting both changed is shown back."""
    story = story_or_404(story_id)
    seen = request.POST.get("version", "")
    if not seen.isdigit() or len(seen) > 15:
        return _page(request, story, 400, error="The form is missing its version; reload it.")
    try:
        new = _rules_from(request)
    except ValueError as e:
        return _page(request, story, 400, error=str(e))
    base = read_snapshot(RULES_BASE_SALT, request.POST.get("base"), str(story.id), int(seen))
    for _ in range(CAS_ATTEMPTS):
        before = sources.rules(story.id)
        if before.version != int(seen):
            if base is None:
                audit.record(story.id, actor(request), "rules.save", {}, outcome="conflict")
                return _page(request, story, 409, error=(
                    "Not saved: someone changed these rules while you were editing. "
                    "These are the current rules; apply your change again."))
            merged, conflicts = merge_rules(base, rule_values(before), rule_values(new))
            if conflicts:
                audit.record(story.id, actor(request), "rules.save", dict(conflicts),
                             outcome="conflict")
                return _rules_conflict(request, story, before, merged, conflicts)
            if any(len(v) > LIST_MAX for v in merged.values() if isinstance(v, list)):
                return _page(request, story, 400, error=(
                    f"Merged with a colleague's save, a list would pass {LIST_MAX} entries."))
            new = rules_of(merged)
        changes = {k: (getattr(before, k), getattr(new, k)) for k in Rules.__dataclass_fields__
                   if k != "version" and getattr(before, k) != getattr(new, k)}
        if audit.applied(partial(sources.save_rules, story.id, new, before.version), story.id,
                         actor(request), "rules.save", changes):
            break
    else:
        audit.record(story.id, actor(request), "rules.save", {}, outcome="conflict")
        return _page(request, story, 409, error=(
            "Not saved: the rules keep changing; these are the current ones."))
    kept = " Changes saved meanwhile by a colleague were kept." if before.version != int(seen) \
        else ""
    return _back(request, story,
                 "Moderation rules saved; they apply to posts collected from now on." + kept)


def _done(write: Callable[..., None], *args: Any) -> bool:
    """A write that always applies, as `audit.applied` expects it (True: done)."""
    write(*args)
    return True


@studio_page
@require_POST
def push_token(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    if request.POST.get("action") == "revoke":
        audit.applied(lambda: _done(sources.revoke_push_token, story.id), story.id,
                      actor(request), "push.revoke", {})
        return _back(request, story,
                     "Push token revoked; pushes are refused until a new one is made.")
    token = secrets.token_urlsafe(32)
    audit.applied(lambda: _done(sources.set_push_token, story.id, token), story.id,
                  actor(request), "push.token", {})
    return _page(request, story, new_token=token)


@studio_page
@require_POST
def import_posts(request: HttpRequest, story_id: str) -> HttpResponse:
    story = story_or_404(story_id)
    upload = request.FILES.get("file")
    if upload is None:
        return _page(request, story, 400, error="Choose a CSV or JSON file to import.")
    if upload.size is None or upload.size > push.IMPORT_MAX_BYTES:
        return _page(request, story, 400, error=(
            f"The file is larger than {push.IMPORT_MAX_BYTES // (1024 * 1024)} MB."))
    name = (upload.name or "").lower()
    try:
        data = upload.read()
        batch = (push.parse_csv(data) if name.endswith(".csv")
                 else push.parse_json(data, push.IMPORT_MAX_POSTS))
    except push.BadBatch as e:
        return _page(request, story, 400, error=f"Nothing imported: {e}.",
                     import_errors=e.errors[:50])
    report = pipeline.store(story.id, "import", batch, copy_now=False)
    audit.record(story.id, actor(request), "import", {"file": (None, upload.name)})
    counts = report.counts()
    return _back(request, story, f"Imported {len(batch)} posts: {counts['new']} new, "
                        f"{counts['updated']} updated, {counts['held']} held for review, "
                        f"{counts['approved']} approved, {counts['rejected']} rejected.")
