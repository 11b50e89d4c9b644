"""Story saves on the write path: compare-and-set, three-way merge, audit.

Every story form carries the version and the values it was based on (`base`,
signed so a form from another story or a hand-made one is not trusted). A save
whose version is still current is a plain compare-and-set. When someone saved
in between, the editor's values are merged field by field against that base:

    base  theirs  mine     result
    a     b       a        b        only they changed it: theirs is kept
    a     a       c        c        only this editor changed it: applied
    a     b       b        b        both made the same change: no conflict
    a     b       c        ?        both changed it: the editor chooses

so a save never puts back a value it did not change. When fields both changed
remain, nothing is written: they are returned as conflicts, with the merge so
far as a proposal, and the editor's choice is saved against the story as it
then is. Each applied save, and each refused attempt, is in the audit trail.

    outcome = save_story("ada", story, base, mine)
    if outcome.conflicts:  # show both values; then, with each field chosen:
        now = Base(outcome.story.version, story_values(outcome.story))
        save_story("ada", outcome.story, now, {**outcome.proposal, **chosen})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.core import signing

from samembed.exceptions import SlugTaken
from samembed.repositories import audit
from samembed.repositories import stories as stories_repo
from samembed.repositories.stories import Screen, Story, Theme
from samembed.studio.forms import AUDITED, story_values

BASE_SALT = "samembed.studio.story-base"
# Each lost race means another save won, so this bound is only a safety net.
CAS_ATTEMPTS = 64

# What editors call each field, on the conflict page and in the audit trail.
FIELD_LABELS = {
    "title": "Title", "slug": "Slug", "description": "Description",
    "default_template": "Default template", "live": "Live story",
    "allowed_domains": "Allowed domains", "theme_accent": "Accent colour",
    "theme_background": "Background colour", "theme_font": "Font",
    "theme_mode": "Colour scheme", "screen_mode": "Screen mode",
    "screen_interval": "Seconds per post", "screen_logo_url": "Screen logo",
    "screen_cta": "Call to action", "status": "Status", "language": "Language",
}


@dataclass(frozen=True)
class Base:
    """The version a form was based on and the story's values at that version."""

    version: int
    values: dict[str, Any]


@dataclass
class Outcome:
    """What a save did: applied (with what), or the conflicts left to choose."""

    story: Story
    applied: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # Fields both sides changed differently: field -> (theirs, mine).
    conflicts: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # Fields taken from the other save(s) without asking (they alone changed them).
    kept: dict[str, Any] = field(default_factory=dict)
    slug_problem: str | None = None
    # With conflicts: the values a resolution starts from (the merge so far, with
    # this editor's value in each field both changed), against `base`.
    proposal: dict[str, Any] = field(default_factory=dict)


def sign_snapshot(salt: str, owner: str, version: int | None, values: dict[str, Any]) -> str:
    """What a form shows of `owner` (a story, a post, a story's rules) at `version`,
    signed, so that a save made from it can be merged with any save since."""
    return signing.dumps({"owner": owner, "version": version, "values": values},
                         salt=salt, compress=True)


def read_snapshot(salt: str, raw: str | None, owner: str, version: int | None
                  ) -> dict[str, Any] | None:
    """The values a form was made from, or None when they are missing, forged, made
    for another owner or disagree with the form's version."""
    if not raw or len(raw) > 20_000:
        return None
    try:
        data = signing.loads(raw, salt=salt)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("owner") != owner \
            or data.get("version") != version or not isinstance(data.get("values"), dict):
        return None
    return data["values"]


def sign_base(story: Story) -> str:
    """The `base` a form about `story` carries: its version and values, signed."""
    return sign_snapshot(BASE_SALT, str(story.id), story.version, story_values(story))


def read_base(raw: str | None, story: Story, version: int) -> Base | None:
    """The base a story form was made from (see read_snapshot)."""
    values = read_snapshot(BASE_SALT, raw, str(story.id), version)
    return None if values is None else Base(version, values)


def sign_values(story: Story, values: dict[str, Any]) -> str:
    """An editor's values carried through the conflict page unchanged."""
    return signing.dumps({"story": str(story.id), "values": values}, salt=BASE_SALT + ".mine",
                         compress=True)


def read_values(raw: str | None, story: Story) -> dict[str, Any] | None:
    if not raw or len(raw) > 20_000:
        return None
    try:
        data = signing.loads(raw, salt=BASE_SALT + ".mine")
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("story") != str(story.id) \
            or not isinstance(data.get("values"), dict):
        return None
    return data["values"]


def merge(base: dict[str, Any] | None, theirs: dict[str, Any],
          mine: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """Three-way merge of story values; returns (merged, conflicts). Without a base,
    every field where the two differ is a conflict: nothing is overwritten unseen."""
    merged: dict[str, Any] = {}
    conflicts: dict[str, tuple[Any, Any]] = {}
    for key, current in theirs.items():
        if key not in mine:
            merged[key] = current
            continue
        wanted = mine[key]
        before = base.get(key) if base is not None and key in base else object()
        if wanted == current or wanted == before:
            merged[key] = current
        elif current == before:
            merged[key] = wanted
        else:
            merged[key] = current
            conflicts[key] = (current, wanted)
    return merged, conflicts


def story_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The repository's fields for values in the audit trail's shape."""
    fields: dict[str, Any] = {k: values[k] for k in AUDITED}
    fields["allowed_domains"] = tuple(values["allowed_domains"])
    fields["theme"] = Theme(accent=values["theme_accent"],
                            background=values["theme_background"],
                            font=values["theme_font"], mode=values["theme_mode"])
    fields["screen"] = Screen(mode=values["screen_mode"], interval=values["screen_interval"],
                              logo_url=values["screen_logo_url"], cta=values["screen_cta"])
    fields["status"] = values["status"]
    return fields


def slug_problem(slug: str, story: Story | None) -> str | None:
    """Why `slug` cannot be `story`'s (None for a new story), or None when it can."""
    # get_by_slug looks at current and previous slugs alike: both are taken.
    owner = stories_repo.get_by_slug(slug)
    if owner is None or (story is not None and owner.id == story.id):
        return None
    where = "its current slug" if owner.slug == slug else "one of its earlier slugs"
    return f"The slug {slug!r} belongs to the story “{owner.title}” ({where})."


def save_story(actor: str, story: Story, base: Base | None, mine: dict[str, Any],
               action: str = "story.update") -> Outcome:
    """Save an editor's values (the audit trail's shape, status included) made from
    `base`, merging with whatever was saved since; see the module docstring."""
    current = story
    for _ in range(CAS_ATTEMPTS):
        theirs = story_values(current)
        if base is not None and base.version == current.version:
            reference: dict[str, Any] | None = theirs
        else:
            reference = base.values if base is not None else None
        merged, conflicts = merge(reference, theirs, mine)
        if conflicts:
            audit.record(current.id, actor, action,
                         dict(conflicts), outcome="conflict",
                         base_version=base.version if base else None)
            proposal = {**merged, **{k: wanted for k, (_, wanted) in conflicts.items()}}
            return Outcome(current, conflicts=conflicts, proposal=proposal)
        applied = {k: (theirs[k], v) for k, v in merged.items() if theirs[k] != v}
        kept = {k: theirs[k] for k in theirs
                if reference is not None and k in mine and mine[k] == reference.get(k)
                and theirs[k] != reference.get(k)}
        if not applied:
            return Outcome(current, kept=kept)
        if "slug" in applied:
            problem = slug_problem(merged["slug"], current)
            if problem:
                return Outcome(current, slug_problem=problem)
        changes = story_fields(merged)
        changes = {k: v for k, v in changes.items()
                   if k in applied or (k == "theme" and any(a.startswith("theme_")
                                                            for a in applied))
                   or (k == "screen" and any(a.startswith("screen_") for a in applied))}
        try:
            saved = audit.applied(
                partial(stories_repo.update, current, changes), current.id, actor, action,
                applied, base_version=base.version if base else current.version,
                version=current.version + 1)
        except SlugTaken:
            return Outcome(current, slug_problem=(
                f"The slug {merged['slug']!r} was just taken by another story."))
        if saved:
            after = stories_repo.get_by_key(str(current.id)) or current
            return Outcome(after, applied=applied, kept=kept)
        # Someone saved between our read and our write: merge against that too.
        reread = stories_repo.get_by_key(str(current.id))
        if reread is None:
            break
        current = reread
    audit.record(current.id, actor, action, {k: (None, v) for k, v in mine.items()},
                 outcome="conflict", base_version=base.version if base else None)
    now = story_values(current)
    return Outcome(current, conflicts={k: (now.get(k), v) for k, v in mine.items()
                                       if k in now and now[k] != v},
                   proposal={**now, **{k: v for k, v in mine.items() if k in now}})
