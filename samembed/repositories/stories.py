"""The `stories` collection: what a story is called, how it looks, and its version.

Read path: `get_by_slug()` (current or previous slug, so renamed stories can
redirect). Write path: `insert()` and `update()`, a compare-and-set on `version`
(`update_one({_id, version})`; no document modified means someone else saved
first). Every change bumps `version`, which is what caches key their freshness on.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from samembed.exceptions import SlugTaken
from samembed.repositories.common import collection, reading, session

COLLECTION = "stories"

STATUSES = ("draft", "published", "archived")
TEMPLATES = ("list", "grid", "carousel", "ticker", "screen")
THEME_MODES = ("auto", "light", "dark")
SCREEN_MODES = ("wall", "spotlight")
# Seconds a big screen shows one post (spotlight) or one page of posts (wall).
SCREEN_INTERVAL_MIN = 3
SCREEN_INTERVAL_MAX = 120
CTA_MAX = 120
# The screen fields the story form edits; the others are the producer remote's.
SCREEN_BRANDING = ("mode", "interval", "logo_url", "cta")
SCREEN_CONTROLS = ("mode", "interval", "paused", "spotlight", "advance")
# What open screens are told of (the version answer of `samembed.embed.live`).
SCREEN_PUBLIC = (*SCREEN_CONTROLS, "control_version")
URL_MAX = 2000
FONTS = ("system", "serif", "rounded", "mono")
SLUG_MAX = 120
TITLE_MAX = 200
DESCRIPTION_MAX = 2000
# BCP 47 in the shape stories use: a language, then script, region or variant
# subtags ("pt-BR", "zh-Hant-TW", "sr-Latn"); extensions and private use are refused.
LANGUAGE_TAG = re.compile(
    r"^[a-z]{2,3}(-[a-z]{4})?(-([a-z]{2}|[0-9]{3}))?(-([a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*$",
    re.IGNORECASE)
LANGUAGE_MAX = 35


def normalise_language(tag: str) -> str:
    """The tag in its conventional case ("pt-br" -> "pt-BR"); ValueError when it is not
    a language tag."""
    tag = tag.strip().replace("_", "-")
    if len(tag) > LANGUAGE_MAX or not LANGUAGE_TAG.match(tag):
        raise ValueError(f"{tag[:40]!r} is not a language tag (like fr, pt-BR or ar).")
    parts = tag.split("-")
    out = [parts[0].lower()]
    for p in parts[1:]:
        out.append(p.title() if len(p) == 4 and p.isalpha() else
                   p.upper() if len(p) == 2 else p.lower())
    return "-".join(out)

INDEXES = [
    IndexModel([("slug", ASCENDING)], name="slug_unique", unique=True),
    # Multikey and unique: an old slug belongs to one story for ever, so links to it
    # keep redirecting to the same place.
    IndexModel(
        [("previous_slugs", ASCENDING)],
        name="previous_slugs_unique",
        unique=True,
        partialFilterExpression={"previous_slugs": {"$type": "string"}},
    ),
    IndexModel([("status", ASCENDING), ("updated_at", ASCENDING)], name="status_updated"),
    # The version watch of every web process asks for recent changes about once a second.
    IndexModel([("updated_at", ASCENDING)], name="updated_at"),
]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["slug", "title", "status", "default_template", "theme", "live",
                     "version", "previous_slugs", "created_at", "updated_at"],
        "properties": {
            "slug": {"bsonType": "string", "minLength": 1, "maxLength": SLUG_MAX},
            "previous_slugs": {"bsonType": "array", "items": {"bsonType": "string"}},
            "title": {"bsonType": "string", "minLength": 1, "maxLength": TITLE_MAX},
            "description": {"bsonType": "string", "maxLength": DESCRIPTION_MAX},
            "status": {"enum": list(STATUSES)},
            "default_template": {"enum": list(TEMPLATES)},
            "theme": {
                "bsonType": "object",
                "properties": {
                    "accent": {"bsonType": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                    "background": {"bsonType": ["string", "null"]},
                    "font": {"enum": list(FONTS)},
                    "mode": {"enum": list(THEME_MODES)},
                },
            },
            "live": {"bsonType": "bool"},
            "screen": {
                "bsonType": "object",
                "properties": {
                    "mode": {"enum": list(SCREEN_MODES)},
                    "interval": {"bsonType": ["int", "long"], "minimum": SCREEN_INTERVAL_MIN,
                                 "maximum": SCREEN_INTERVAL_MAX},
                    "logo_url": {"bsonType": ["string", "null"], "maxLength": URL_MAX},
                    "cta": {"bsonType": "string", "maxLength": CTA_MAX},
                    "paused": {"bsonType": "bool"},
                    "spotlight": {"bsonType": ["string", "null"]},
                    "advance": {"bsonType": ["int", "long"], "minimum": 0},
                    "control_version": {"bsonType": ["int", "long"], "minimum": 0},
                },
            },
            "allowed_domains": {"bsonType": "array", "items": {"bsonType": "string"}},
            # A BCP 47 tag; null (or absent): automatic, from the story's posts.
            "language": {"bsonType": ["string", "null"], "maxLength": LANGUAGE_MAX},
            "version": {"bsonType": ["int", "long"], "minimum": 1},
            "created_at": {"bsonType": "date"},
            "updated_at": {"bsonType": "date"},
        },
    }
}


@dataclass(frozen=True)
class Theme:
    accent: str = "#2563eb"
    background: str | None = None
    font: str = "system"
    mode: str = "auto"


@dataclass(frozen=True)
class Screen:
    """How the story runs on a big screen: branding set in the story form, and the
    producer remote's live controls (`paused`, `spotlight`, `advance`, a counter
    each "next" press raises), which every open screen follows."""

    mode: str = "wall"
    interval: int = 8
    logo_url: str | None = None
    cta: str = ""
    paused: bool = False
    spotlight: str | None = None
    advance: int = 0
    # Raised by every remote command: the remote's own compare-and-set, so posts
    # arriving meanwhile (which bump the story's version) do not refuse a "next".
    control_version: int = 0


@dataclass(frozen=True)
class Story:
    id: ObjectId
    slug: str
    title: str
    description: str
    status: str
    default_template: str
    theme: Theme
    live: bool
    version: int
    previous_slugs: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()
    screen: Screen = Screen()
    # The editor's choice of language for the embed's own words; None: automatic
    # (samembed.embed.i18n.language_for picks it from the posts at render time).
    language: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_public(self) -> bool:
        # Archived stories stay readable where they were embedded; drafts do not.
        return self.status in ("published", "archived")

    def in_mode(self, mode: str) -> Story:
        """The story with its colours in `mode` (light, dark, auto), as a publisher's
        page asks with `data-theme`."""
        return replace(self, theme=replace(self.theme, mode=mode))


@dataclass(frozen=True)
class Change:
    """A story's identity and version, as the version watch sees it."""

    id: str
    version: int
    slug: str
    previous_slugs: tuple[str, ...]


def changed_since(since: datetime) -> list[Change]:
    """Stories written at or after `since` (an indexed range, not a scan)."""
    with reading():
        cursor = collection(COLLECTION).find(
            {"updated_at": {"$gte": since}},
            {"_id": 1, "version": 1, "slug": 1, "previous_slugs": 1},
        )
        # .get: a document missing a field is the watch's to skip, not a failed look.
        return [Change(str(d["_id"]), d.get("version"), d.get("slug"),
                       tuple(d.get("previous_slugs") or ())) for d in cursor]


def _to_screen(raw: dict[str, Any]) -> Screen:
    known = {f: raw[f] for f in Screen.__dataclass_fields__ if f in raw}
    return Screen(**known)


def _to_story(doc: dict[str, Any]) -> Story:
    theme = doc.get("theme") or {}
    return Story(
        id=doc["_id"],
        slug=doc["slug"],
        title=doc["title"],
        description=doc.get("description", ""),
        status=doc["status"],
        default_template=doc["default_template"],
        theme=Theme(
            accent=theme.get("accent", Theme.accent),
            background=theme.get("background"),
            font=theme.get("font", Theme.font),
            mode=theme.get("mode", Theme.mode),
        ),
        live=doc["live"],
        screen=_to_screen(doc.get("screen") or {}),
        version=doc["version"],
        previous_slugs=tuple(doc.get("previous_slugs", ())),
        allowed_domains=tuple(doc.get("allowed_domains", ())),
        language=doc.get("language"),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _language(tag: str | None) -> str | None:
    # Stored normalised ("pt-BR"), so the cache and the html lang see one spelling.
    return normalise_language(tag) if tag else None


def get_by_slug(slug: str) -> Story | None:
    """The story whose current or previous slug is `slug` (compare `.slug` to redirect)."""
    # Two lookups by unique index rather than one `$or`, which SecantusDB answers
    # with a collection scan: every cold render asks by the current slug, and only
    # an old link (a redirect) needs the second.
    with reading():
        stories = collection(COLLECTION)
        doc = stories.find_one({"slug": slug}) or stories.find_one({"previous_slugs": slug})
    return _to_story(doc) if doc else None


def id_for_slug(slug: str) -> ObjectId | None:
    """The id of the story whose current slug is `slug` (one indexed read)."""
    with reading():
        doc = collection(COLLECTION).find_one({"slug": slug}, {"_id": 1})
    return doc["_id"] if doc else None


def slugs_by_id(ids: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The current slug of each story among `ids` (hex strings) that exists, by id
    (one indexed read; ids that name no story are left out)."""
    wanted = [ObjectId(i) for i in ids if ObjectId.is_valid(i)]
    if not wanted:
        return {}
    with reading():
        docs = collection(COLLECTION).find({"_id": {"$in": wanted}}, {"slug": 1})
        return {str(d["_id"]): d["slug"] for d in docs}


def ids_by_slug(slugs: list[str]) -> dict[str, str]:
    """The id (hex) of each story whose current slug is among `slugs`, by slug."""
    if not slugs:
        return {}
    with reading():
        docs = collection(COLLECTION).find({"slug": {"$in": slugs}}, {"slug": 1})
        return {d["slug"]: str(d["_id"]) for d in docs}


def get(story_id: ObjectId) -> Story | None:
    doc = collection(COLLECTION).find_one({"_id": story_id})
    return _to_story(doc) if doc else None


def get_by_key(key: str) -> Story | None:
    """The story whose id is the hex string `key` (as in studio URLs), if any."""
    try:
        return get(ObjectId(key))
    except (InvalidId, TypeError):
        return None


@dataclass(frozen=True)
class Listed:
    """A published story as the sitemap names it."""

    slug: str
    updated_at: datetime


def list_published(limit: int) -> list[Listed]:
    """Published stories, most recently changed first, at most `limit` (the
    `status_updated` index: a range, no scan)."""
    with reading():
        cursor = (collection(COLLECTION).find({"status": "published"},
                                              {"_id": 0, "slug": 1, "updated_at": 1})
                  .sort([("status", ASCENDING), ("updated_at", DESCENDING)]).limit(limit))
        return [Listed(d["slug"], d["updated_at"]) for d in cursor]


def list_recent(offset: int = 0, limit: int = 50) -> list[Story]:
    """Stories for the studio, most recently changed first (indexed, paginated)."""
    cursor = (collection(COLLECTION).find().sort("updated_at", DESCENDING)
              .skip(offset).limit(limit))
    return [_to_story(doc) for doc in cursor]


def insert(
    *,
    slug: str,
    title: str,
    description: str = "",
    status: str = "draft",
    default_template: str = "list",
    theme: Theme | None = None,
    live: bool = False,
    allowed_domains: tuple[str, ...] = (),
    screen: Screen | None = None,
    language: str | None = None,
) -> Story:
    now = datetime.now(UTC)
    theme = theme or Theme()
    doc = {
        "slug": slug,
        "previous_slugs": [],
        "title": title,
        "description": description,
        "status": status,
        "default_template": default_template,
        "theme": asdict(theme),
        "live": live,
        "allowed_domains": list(allowed_domains),
        "screen": asdict(screen or Screen()),
        "language": _language(language),
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    try:
        result = collection(COLLECTION, durable=True).insert_one(doc, session=session())
    except DuplicateKeyError as e:
        raise SlugTaken(slug) from e
    doc["_id"] = result.inserted_id
    return _to_story(doc)


def update(story: Story, changes: dict[str, Any]) -> bool:
    """Apply `changes` if `story.version` is still current; False means a conflict.

    A changed slug moves the old one to `previous_slugs`, so its URLs redirect.
    """
    changes = dict(changes)
    if "language" in changes:
        changes["language"] = _language(changes["language"])
    update: dict[str, Any] = {
        "$set": {**changes, "updated_at": datetime.now(UTC)},
        "$inc": {"version": 1},
    }
    if "slug" in changes and changes["slug"] != story.slug:
        update["$addToSet"] = {"previous_slugs": story.slug}
    if isinstance(changes.get("theme"), Theme):
        update["$set"]["theme"] = asdict(changes["theme"])
    screen = update["$set"].pop("screen", None)
    if isinstance(screen, Screen):
        # The form sets the screen's look; the remote's controls stay as they are.
        for name in SCREEN_BRANDING:
            update["$set"][f"screen.{name}"] = getattr(screen, name)
    try:
        result = collection(COLLECTION, durable=True).update_one(
            {"_id": story.id, "version": story.version}, update, session=session()
        )
    except DuplicateKeyError as e:
        raise SlugTaken(changes.get("slug", "")) from e
    return result.modified_count == 1


def bump_version(story_id: ObjectId) -> None:
    """Mark the story changed (its posts changed), so caches render it again."""
    collection(COLLECTION, durable=True).update_one(
        {"_id": story_id}, {"$inc": {"version": 1}, "$set": {"updated_at": datetime.now(UTC)}},
        session=session())


def set_screen_controls(story: Story, control_version: int, controls: dict[str, Any]) -> bool:
    """The producer remote's command, a compare-and-set on the remote's own version
    (`screen.control_version`; False: another command came first). Bumps the story's
    version too, so the version watch carries it to every open screen."""
    unknown = set(controls) - set(SCREEN_CONTROLS)
    if unknown:
        raise ValueError(f"not screen controls: {sorted(unknown)}")
    # Stories from before the remote have no control_version yet: it counts as 0.
    current: Any = control_version if control_version else {"$in": [0, None]}
    result = collection(COLLECTION, durable=True).update_one(
        {"_id": story.id, "screen.control_version": current},
        {"$set": {**{f"screen.{k}": v for k, v in controls.items()},
                  "updated_at": datetime.now(UTC)},
         "$inc": {"version": 1, "screen.control_version": 1}},
        session=session(),
    )
    return result.modified_count == 1
