"""The audit trail page (write path, read side): a story's history in sentences.

Every editorial action is appended to the `audit` collection by the code that
did it (`repositories.audit.record`); this page turns those entries into what
a person reads: "Ana approved 12 posts", "Ana changed the title from ‘A’ to
‘B’", "Ana tried to pin ‘Trams on route 4…’ but it had changed meanwhile".
Posts are named by author and a short excerpt (looked up in one query per
page), values are formatted (no ranks, no floats, booleans as words), runs of
the same post action by the same person are grouped, and the trail can be
filtered by person, action and outcome (all in the URL), paged, and exported
as CSV (`?format=csv`, with cells that a spreadsheet would run as formulas
defused).

    GET /studio/stories/<id>/audit?person=ana&action=approve&page=2
    GET /studio/stories/<id>/audit?format=csv&action=screens
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from samembed.media.signing import STORED_PREFIX
from samembed.repositories import audit
from samembed.repositories.audit import AuditEntry, PostSummary
from samembed.repositories.common import Id
from samembed.studio.actions import FIELD_LABELS
from samembed.studio.forms import parse_page
from samembed.studio.views import EDITORS_GROUP, story_or_404, studio_page

PAGE_SIZE = 50
CSV_MAX = 10_000
EXCERPT = 40
VALUE_MAX = 80
# Post actions by one person this close together read as one: "Ana approved 12 posts".
GROUP_WINDOW = timedelta(minutes=2)

# What editors call each field (story settings, rules, screens), in a sentence.
LABELS = {
    **{name: label[0].lower() + label[1:] for name, label in FIELD_LABELS.items()},
    "auto_approve": "automatic approval", "skip_replies": "skip replies",
    "skip_reposts": "skip reposts", "hold_sensitive": "hold sensitive posts",
    "blocked_words": "blocked words", "blocked_accounts": "blocked accounts",
    "allowed_accounts": "allowed accounts", "languages": "languages",
    "daily_cap": "daily cap", "paused": "paused", "mode": "mode", "interval": "seconds per post",
    "spotlight": "spotlight", "state": "state", "pinned": "pinned", "highlighted": "highlighted",
    "caption": "caption", "text": "text", "source": "source", "file": "file",
}
# Fields whose values mean nothing to a person (the order is said in words instead).
HIDDEN_VALUES = {"rank", "advance"}

# action -> (what one did to {post}, what a run did to {n} posts).
POST_VERBS = {
    "post.approve": ("approved {post}", "approved {n} posts"),
    "post.reject": ("rejected {post}", "rejected {n} posts"),
    "post.hold": ("put {post} back for review", "put {n} posts back for review"),
    "post.pin": ("pinned {post}", "pinned {n} posts"),
    "post.unpin": ("unpinned {post}", "unpinned {n} posts"),
    "post.highlight": ("highlighted {post}", "highlighted {n} posts"),
    "post.unhighlight": ("removed the highlight from {post}",
                         "removed the highlight from {n} posts"),
    "post.remove": ("removed {post}", "removed {n} posts"),
    "post.move": ("moved {post}", "moved {n} posts"),
    "post.caption": ("edited the caption of {post}", "edited the captions of {n} posts"),
    "post.add": ("added {post}", "added {n} posts"),
    "post.hide": ("hid {post} on every screen", "hid {n} posts on every screen"),
    "post.unhide": ("brought {post} back to the screens", "brought {n} posts back to the screens"),
    "post.restore": ("brought back {post} after removing it",
                     "brought back {n} removed posts"),
    "post.screens_show": ("let big screens show {post} despite its warning",
                          "let big screens show {n} warned posts"),
    "post.screens_warn": ("made big screens show only the warning of {post}",
                          "made big screens show only the warnings of {n} posts"),
}
# The attempted action, for a conflict: "tried to approve ‘…’".
TRIED = {
    "post.approve": "approve", "post.reject": "reject", "post.hold": "put back for review",
    "post.pin": "pin", "post.unpin": "unpin", "post.highlight": "highlight",
    "post.unhighlight": "remove the highlight from", "post.remove": "remove",
    "post.move": "move", "post.caption": "edit the caption of", "post.add": "add",
    "post.hide": "hide", "post.unhide": "bring back", "post.restore": "bring back",
    "post.screens_show": "show on big screens", "post.screens_warn": "warn about on big screens",
}
OTHER_SENTENCES = {
    "story.create": "created the story",
    "screen.pause": "paused the screens",
    "screen.resume": "resumed the screens",
    "screen.next": "moved the screens on to the next post",
    "screen.clear": "cleared the spotlight",
    "push.token": "made a new push token",
    "push.revoke": "revoked the push token",
    "rules.save": "changed the moderation rules",
}
STATUS_SENTENCES = {
    "published": "published the story", "draft": "moved the story back to draft",
    "archived": "archived the story",
}
MODE_WORDS = {"wall": "the wall", "spotlight": "one post at a time"}
SOURCE_VERBS = {"add": "added", "retry": "retried", "enable": "enabled", "disable": "disabled",
                "remove": "removed"}

# The action filter (`?action=`): a key in the URL, a label, the actions it matches.
ACTION_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "approve": ("Approvals", ("post.approve",)),
    "reject": ("Rejections and hides", ("post.reject", "post.hide", "post.hold")),
    "pin": ("Pins and highlights", ("post.pin", "post.unpin", "post.highlight",
                                    "post.unhighlight")),
    "move": ("Order", ("post.move",)),
    "caption": ("Captions", ("post.caption",)),
    "add": ("Posts added, removed, restored", ("post.add", "post.remove", "post.restore",
                                               "post.unhide")),
    "warnings": ("Content warnings on screens", ("post.screens_show", "post.screens_warn")),
    "story": ("Story settings and status", ("story.create", "story.update", "story.published",
                                           "story.draft", "story.archived")),
    "screens": ("Screens (remote)", ("screen.pause", "screen.resume", "screen.next",
                                     "screen.spotlight", "screen.clear", "screen.mode",
                                     "screen.speed", "post.hide", "post.unhide")),
    "sources": ("Sources, rules and imports", ("source.add", "source.retry", "source.enable",
                                               "source.disable", "source.remove", "rules.save",
                                               "push.token", "push.revoke", "import")),
}


@dataclass
class Line:
    """One row of the trail as a person reads it (possibly several entries grouped)."""

    at: datetime
    actor: str
    action: str
    outcome: str
    sentence: str
    details: list[str] = field(default_factory=list)
    post_id: Id | None = None
    post: PostSummary | None = None
    count: int = 1
    # For a group: its oldest entry's time (the line shows the newest).
    earliest: datetime | None = None

    @property
    def conflict(self) -> bool:
        return self.outcome == "conflict"


def excerpt(text: str, size: int = EXCERPT) -> str:
    """The start of a text on one line, cut at a word with an ellipsis."""
    flat = " ".join(str(text).split())
    if len(flat) <= size:
        return flat
    cut = flat[:size].rsplit(" ", 1)[0] if " " in flat[:size] else flat[:size]
    return cut.rstrip(",.;:") + "…"


def value(name: str, raw: Any) -> str:
    """A stored value as words: booleans as on/off, lists joined, numbers rounded."""
    if raw is None or raw == "" or raw == [] or raw == ():
        return "nothing"
    if isinstance(raw, bool):
        return "on" if raw else "off"
    if isinstance(raw, float):
        return f"{raw:g}" if raw == int(raw) or abs(raw) >= 1 else f"{raw:.2f}"
    if isinstance(raw, (list, tuple)):
        return ", ".join(value(name, item) for item in raw)
    if name in ("interval", "screen_interval") and isinstance(raw, int):
        return f"{raw} s"
    if isinstance(raw, dict):
        return ", ".join(f"{k}: {value(k, v)}" for k, v in raw.items())
    if isinstance(raw, str) and raw.startswith(STORED_PREFIX):
        return "an uploaded image"
    return f"‘{excerpt(str(raw), VALUE_MAX)}’"


def _change(name: str, before: Any, after: Any) -> str:
    label = LABELS.get(name, name.replace("_", " "))
    if isinstance(before, bool) or isinstance(after, bool):
        return f"turned {label} {value(name, after)}"
    if before in (None, "", [], ()):
        return f"set the {label} to {value(name, after)}"
    if after in (None, "", [], ()):
        return f"cleared the {label} (was {value(name, before)})"
    return f"changed the {label} from {value(name, before)} to {value(name, after)}"


def _shown_changes(entry: AuditEntry) -> list[tuple[str, Any, Any]]:
    return [(name, c.get("before"), c.get("after")) for name, c in entry.changes.items()
            if name not in HIDDEN_VALUES and isinstance(c, dict)]


def _post_words(post: PostSummary | None, fallback: str = "") -> str:
    if post is None:
        return f"‘{excerpt(fallback)}’" if fallback else "a post that no longer exists"
    text = f"‘{excerpt(post.text)}’" if post.text.strip() else "a post without text"
    return f"{text} by {post.author}" if post.author else text


def _removed_text(entry: AuditEntry) -> str:
    text = entry.changes.get("text")
    return str(text.get("before") or text.get("after") or "") if isinstance(text, dict) else ""


def _move_words(entry: AuditEntry) -> str:
    position = entry.changes.get("position")
    if isinstance(position, dict) and isinstance(position.get("after"), int):
        return f" to position {position['after']}"
    rank = entry.changes.get("rank")
    if isinstance(rank, dict):
        before, after = rank.get("before"), rank.get("after")
        if isinstance(before, (int, float)) and isinstance(after, (int, float)):
            # Lower ranks come first: a smaller rank is a move up.
            return " up" if after < before else " down"
    return ""


def describe(entry: AuditEntry, name: str, posts: dict[Id, PostSummary]) -> Line:
    """One entry as a sentence, with details for what the sentence leaves out."""
    post = posts.get(entry.post_id) if entry.post_id else None
    line = Line(entry.at, entry.actor, entry.action, entry.outcome, "", post_id=entry.post_id,
                post=post)
    changes = _shown_changes(entry)
    kind, _, verb = entry.action.partition(".")
    fallback = _removed_text(entry)
    conflict = entry.outcome == "conflict"
    if entry.action in POST_VERBS:
        target = _post_words(post, fallback)
        if conflict:
            line.sentence = (f"{name} tried to {TRIED[entry.action]} {target}, but it had "
                             "changed meanwhile: not applied")
        elif entry.action == "post.move":
            line.sentence = f"{name} moved {target}{_move_words(entry)}"
        else:
            line.sentence = f"{name} " + POST_VERBS[entry.action][0].format(post=target)
            if entry.action == "post.caption":
                line.details = [_change("caption", b, a) for n, b, a in changes
                                if n == "caption"]
        return line
    if kind == "story" and entry.action != "story.create":
        fields = [c for c in changes if c[0] != "status"]
        status = next((c for c in changes if c[0] == "status"), None)
        if conflict:
            names = ", ".join(LABELS.get(n, n) for n, _, _ in changes) or "the story"
            line.sentence = (f"{name}'s save conflicted with a colleague's ({names}): "
                             "nothing was overwritten")
            line.details = [f"{LABELS.get(n, n)}: theirs {value(n, b)}, "
                            f"{name}'s {value(n, a)}" for n, b, a in changes]
            return line
        parts = []
        if status is not None and verb in STATUS_SENTENCES:
            parts.append(STATUS_SENTENCES[verb])
        if len(fields) == 1:
            parts.append(_change(*fields[0]))
        elif fields:
            parts.append(f"changed {len(fields)} settings")
            line.details = [_change(*c) for c in fields]
        line.sentence = f"{name} " + (" and ".join(parts) if parts else "saved the story "
                                      "without changes")
        return line
    if entry.action == "story.create":
        title = entry.changes.get("title", {}).get("after") if isinstance(
            entry.changes.get("title"), dict) else None
        line.sentence = f"{name} created the story" + (f" {value('title', title)}"
                                                       if title else "")
        return line
    if entry.action == "screen.spotlight":
        chosen = next((a for n, _, a in changes if n == "spotlight"), None)
        spot = posts.get(Id(chosen)) if isinstance(chosen, str) and \
            Id.is_valid(chosen) else None
        line.post = spot
        line.sentence = f"{name} put {_post_words(spot)} in the spotlight"
    elif entry.action == "screen.mode":
        mode = next((a for n, _, a in changes if n == "mode"), "")
        line.sentence = f"{name} switched the screens to {MODE_WORDS.get(mode, mode)}"
    elif entry.action == "screen.speed":
        seconds = next((a for n, _, a in changes if n == "interval"), "")
        line.sentence = f"{name} set the screens to {seconds} s per post"
    elif kind == "source" and verb in SOURCE_VERBS:
        label = next((b if b is not None else a for n, b, a in changes if n == "source"), "")
        line.sentence = f"{name} {SOURCE_VERBS[verb]} the source {value('source', label)}"
    elif entry.action == "import":
        file = next((a for n, _, a in changes if n == "file"), "")
        line.sentence = f"{name} imported posts from {value('file', file)}"
    elif entry.action in OTHER_SENTENCES:
        line.sentence = f"{name} {OTHER_SENTENCES[entry.action]}"
        if entry.action == "rules.save":
            line.details = [_change(*c) for c in changes]
    else:
        line.sentence = f"{name} did “{entry.action}”"
        line.details = [_change(*c) for c in changes]
    if conflict:
        line.sentence += " (conflict: not applied)"
    return line


def _grouped(lines: list[Line], people: dict[str, str]) -> list[Line]:
    """Runs of one person's same post action, close in time, as one line."""
    out: list[Line] = []
    for line in lines:
        last = out[-1] if out else None
        if (last is not None and line.action in POST_VERBS and line.action == last.action
                and line.actor == last.actor and not line.conflict and not last.conflict
                and line.action not in ("post.move", "post.caption")
                and (last.earliest or last.at) - line.at <= GROUP_WINDOW):
            if last.count == 1:
                last.details = [last.sentence]
            last.count += 1
            last.details.append(line.sentence)
            last.earliest = line.at
            continue
        out.append(line)
    for line in out:
        if line.count > 1:
            name = display_name(line.actor, people)
            line.sentence = f"{name} " + POST_VERBS[line.action][1].format(n=line.count)
            # Each detail repeats the person; in a group it reads better without.
            prefix = f"{name} "
            line.details = [d[len(prefix):] if d.startswith(prefix) else d
                            for d in line.details]
            line.post = None
    return out


def display_name(actor: str, people: dict[str, str]) -> str:
    """How a sentence names a person: their first name, else the username, capitalised."""
    name = people.get(actor) or actor or "Someone"
    return name[:1].upper() + name[1:]


def people() -> dict[str, str]:
    """Editors by username -> the name the trail uses (first name, else username)."""
    users = (User.objects.filter(Q(is_superuser=True) | Q(groups__name=EDITORS_GROUP))
             .distinct().order_by("username").only("username", "first_name"))
    return {u.username: (u.first_name or u.username) for u in users}


def lines_for(entries: list[AuditEntry], story_id: Id, people: dict[str, str],
              group: bool = True) -> list[Line]:
    """The entries as sentences, their posts looked up in one query."""
    ids: list[Id] = [e.post_id for e in entries if e.post_id is not None]
    for e in entries:
        spot = e.changes.get("spotlight")
        if e.action == "screen.spotlight" and isinstance(spot, dict):
            after = spot.get("after")
            if isinstance(after, str) and Id.is_valid(after):
                ids.append(Id(after))
    posts = audit.post_summaries(story_id, ids)
    lines = [describe(e, display_name(e.actor, people), posts) for e in entries]
    return _grouped(lines, people) if group else lines


@dataclass(frozen=True)
class Filters:
    person: str
    action: str
    conflicts: bool
    page: int

    def query(self, **override: Any) -> str:
        """This filter's query string, with some values replaced (for links)."""
        values = {"person": self.person, "action": self.action,
                  "conflicts": "1" if self.conflicts else "", "page": str(self.page),
                  **{k: str(v) for k, v in override.items()}}
        if values["page"] == "1":
            values["page"] = ""
        return urlencode({k: v for k, v in values.items() if v})


def _filters(request: HttpRequest, people: dict[str, str]) -> tuple[Filters, str]:
    person = request.GET.get("person", "")[:150]
    action = request.GET.get("action", "")[:40]
    problem = ""
    if action and action not in ACTION_FILTERS:
        problem = f"Unknown action filter {action!r}; showing every action."
        action = ""
    return Filters(person, action, request.GET.get("conflicts") == "1",
                   parse_page(request.GET.get("page"))), problem


def _entries(story_id: Id, f: Filters, offset: int, limit: int) -> list[AuditEntry]:
    return audit.find(story_id, actor=f.person or None,
                      actions=ACTION_FILTERS[f.action][1] if f.action else None,
                      outcome="conflict" if f.conflicts else None,
                      offset=offset, limit=limit)


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula sign gets a quote."""
    return "'" + text if text.startswith(_FORMULA) else text


def _csv(story_slug: str, lines: list[Line]) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["When (UTC)", "Who", "Action", "What happened", "Details", "Outcome",
                     "Post author", "Post excerpt", "Post id"])
    for line in lines:
        writer.writerow([safe_cell(c) for c in (
            line.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if line.at.tzinfo
            else line.at.strftime("%Y-%m-%d %H:%M:%S"),
            line.actor, line.action, line.sentence, "; ".join(line.details), line.outcome,
            line.post.author if line.post else "",
            excerpt(line.post.text, 200) if line.post else "",
            str(line.post_id or ""))])
    slug = re.sub(r"[^a-z0-9-]+", "-", story_slug.lower()).strip("-")[:60] or "story"
    name = f"audit-{slug}-{datetime.now(UTC):%Y%m%d}.csv"
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@studio_page
def story_audit(request: HttpRequest, story_id: str) -> HttpResponse:
    """The trail of one story: sentences, filters, paging; CSV with `?format=csv`."""
    story = story_or_404(story_id)
    names = people()
    filters, problem = _filters(request, names)
    if request.GET.get("format") == "csv":
        entries = _entries(story.id, filters, 0, CSV_MAX)
        return _csv(story.slug, lines_for(entries, story.id, names, group=False))
    entries = _entries(story.id, filters, (filters.page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
    lines = lines_for(entries[:PAGE_SIZE], story.id, names)
    return render(request, "studio/audit.html", {
        "story": story, "lines": lines, "filters": filters, "people": names,
        "action_filters": ACTION_FILTERS, "more": len(entries) > PAGE_SIZE,
        "problem": problem, "page": filters.page,
    }, status=200)


