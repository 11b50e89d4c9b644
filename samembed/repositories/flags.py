"""The `flags` collection: rollouts, allow-lists and kill switches (issue 13).

Write path: the studio's flags pages and `manage.py flags` call `create()`,
`update()` (a compare-and-set on `version`: `update_one({_id, version})`, no
document modified means another editor saved first) and `delete()`; each writes
an audit entry (`audit.record_flag`: the audit collection, `story_id` null and
`flag` set). Read path: only the flag watch of `samembed.flags` reads here, a
(key, version) probe twice a second and every document when they differ.

Every value is checked by `clean()` before it is stored; `FlagInvalid` carries
one message per field, for a 400 or a command error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from samembed.exceptions import Conflict, SamembedError
from samembed.repositories import audit
from samembed.repositories import stories as stories_repo
from samembed.repositories.common import collection, reading

COLLECTION = "flags"
UNITS = ("story", "origin", "pageview")
KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
VARIANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
USERNAME = re.compile(r"^[\w.@+-]{1,150}$")
SLUG = re.compile(r"^[^\s/?#$]{1,120}$")
ROLLOUT_MAX = 10_000
# Bounds that keep a snapshot (held by every process) small.
FLAGS_MAX = 500
LIST_MAX = 1000
ORIGIN_MAX = 255
DESCRIPTION_MAX = 500
VARIANTS_MAX = 10
WEIGHT_MAX = 10_000
PLAN_MAX = 20
# The longest wait a step may ask for: 30 days.
WAIT_MAX = 30 * 86400
_WAIT_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

INDEXES = [IndexModel([("key", ASCENDING)], name="key_unique", unique=True)]

VALIDATOR: dict[str, Any] = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["key", "rollout", "unit", "seed", "killed", "version", "updated_at"],
        "properties": {
            "key": {"bsonType": "string", "pattern": KEY.pattern},
            "description": {"bsonType": "string", "maxLength": DESCRIPTION_MAX},
            "owner": {"bsonType": "string", "maxLength": 150},
            "killed": {"bsonType": "bool"},
            "rollout": {"bsonType": ["int", "long"], "minimum": 0, "maximum": ROLLOUT_MAX},
            "unit": {"enum": list(UNITS)},
            "seed": {"bsonType": "string", "minLength": 1, "maxLength": 64},
            "staff": {"bsonType": "array", "maxItems": LIST_MAX,
                      "items": {"bsonType": "string"}},
            "origins": {"bsonType": "array", "maxItems": LIST_MAX,
                        "items": {"bsonType": "string", "maxLength": ORIGIN_MAX}},
            # The allow-list of stories, by id (stable across renames): what the
            # form's slugs are resolved to when it is saved.
            "story_ids": {"bsonType": "array", "maxItems": LIST_MAX,
                          "items": {"bsonType": "string", "maxLength": 24}},
            # By slug: flags saved before ids were used, until they are saved again.
            "stories": {"bsonType": "array", "maxItems": LIST_MAX,
                        "items": {"bsonType": "string"}},
            "variants": {"bsonType": "array", "maxItems": VARIANTS_MAX},
            # The rollout before the last change of it: the step a guardrail goes
            # back to when the new one is worse.
            "previous_rollout": {"bsonType": ["int", "long"], "minimum": 0,
                                 "maximum": ROLLOUT_MAX},
            "guard_reason": {"bsonType": "string", "maxLength": 500},
            # A scheduled ramp: steps of {rollout, after (seconds the step before
            # must have run, healthy)}, taken by the guard (`manage.py flags guard`).
            "plan": {"bsonType": "array", "maxItems": PLAN_MAX},
            # Why the plan is held ("" while it runs): the guard ramped the flag down.
            "plan_hold": {"bsonType": "string", "maxLength": 500},
            # When the rollout last changed: the start of the step the guard judges.
            "stepped_at": {"bsonType": "date"},
            # What a story-unit flag hashes: the story's id (stable across renames;
            # flags created since), or its slug (flags created before).
            "story_unit": {"enum": ["id", "slug"]},
            "version": {"bsonType": ["int", "long"], "minimum": 1},
            "updated_at": {"bsonType": "date"},
        },
    }
}

FIELDS = ("description", "owner", "killed", "rollout", "unit", "seed", "staff", "origins",
          "stories", "variants", "plan")


class FlagInvalid(SamembedError, ValueError):
    """Values a flag cannot hold: `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Flag:
    key: str
    rollout: int = 0
    unit: str = "story"
    seed: str = ""
    killed: bool = False
    description: str = ""
    owner: str = ""
    staff: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    # Allowed stories by id, and (flags saved before ids) by slug.
    story_ids: tuple[str, ...] = ()
    stories: tuple[str, ...] = ()
    variants: tuple[tuple[str, int], ...] = ()
    version: int = 1
    previous_rollout: int = 0
    # Why the guardrail last ramped this flag down ("" when it did not).
    guard_reason: str = ""
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # (rollout, seconds after the step before) for each scheduled step.
    plan: tuple[tuple[int, int], ...] = ()
    plan_hold: str = ""
    stepped_at: datetime | None = None
    story_unit: str = "slug"

    @property
    def step_began(self) -> datetime:
        """When the current step (this rollout) began."""
        when = self.stepped_at or self.updated_at
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    @property
    def next_step(self) -> tuple[int, datetime] | None:
        """The plan's next step above the current rollout and when it is due."""
        for rollout, after in self.plan:
            if rollout > self.rollout:
                return rollout, self.step_began + timedelta(seconds=after)
        return None

    @property
    def plan_text(self) -> str:
        """The plan as people write it ("5@1h 20@1h 100@1d")."""
        return plan_text(self.plan)

    @property
    def percent(self) -> str:
        """The rollout as a percentage, as people write it ("5", "0.25", "100")."""
        return f"{self.rollout / 100:.2f}".rstrip("0").rstrip(".")


def parse_percent(raw: object) -> int:
    """A percentage ("5", "0.25", 12.5) as basis points; ValueError with the reason."""
    text = str(raw).strip().removesuffix("%").strip()
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?", text):
        raise ValueError(f"{str(raw)[:40]!r} is not a percentage from 0 to 100 "
                         "(at most two decimals, like 5 or 0.25).")
    points = round(float(text) * 100)
    if points > ROLLOUT_MAX:
        raise ValueError(f"{text} is more than 100 %.")
    return points


def _wait(text: str) -> int:
    found = re.fullmatch(r"([0-9]{1,7})([smhd]?)", text)
    if not found:
        raise ValueError(f"{text[:20]!r} is not a wait (like 30m, 1h or 2d).")
    seconds = int(found.group(1)) * _WAIT_UNITS[found.group(2) or "s"]
    if seconds > WAIT_MAX:
        raise ValueError(f"{text} is longer than 30 days.")
    return seconds


def _shown_wait(seconds: int) -> str:
    for unit in "dhm":
        if seconds and seconds % _WAIT_UNITS[unit] == 0:
            return f"{seconds // _WAIT_UNITS[unit]}{unit}"
    return f"{seconds}s"


def plan_text(plan: Any) -> str:
    """A plan as people write it: "5@1h 20@1h 100@1d"."""
    steps = [(p["rollout"], p["after"]) if isinstance(p, Mapping) else p for p in plan]
    return " ".join(f"{r / 100:.2f}".rstrip("0").rstrip(".") + f"@{_shown_wait(a)}"
                    for r, a in steps)


def parse_plan(raw: object) -> list[dict[str, int]]:
    """A ramp plan, "5@1h 20@1h 100@1d" (each step: percent @ how long the step
    before must have run, healthy), as [{rollout, after}]; ValueError with the reason."""
    if raw in (None, "", [], ()):
        return []
    if isinstance(raw, str):
        parts = [tuple(p.split("@", 1)) if "@" in p else (p, "0") for p in _strings(raw)]
    elif isinstance(raw, list | tuple):
        parts = [(str(p.get("rollout", "")), str(p.get("after", ""))) if isinstance(p, Mapping)
                 else (str(p), "0") for p in raw]
        parts = [(f"{int(r) / 100}" if r.isdigit() else r, a) for r, a in parts]
    else:
        raise ValueError('a plan is steps like "5@1h 20@1h 100@1d".')
    if len(parts) > PLAN_MAX:
        raise ValueError(f"at most {PLAN_MAX} steps.")
    out: list[dict[str, int]] = []
    for percent, wait in parts:
        try:
            step = {"rollout": parse_percent(percent), "after": _wait(wait.strip())}
        except ValueError as e:
            raise ValueError(f"step {percent[:20]}@{wait[:20]}: {e}") from None
        if out and step["rollout"] <= out[-1]["rollout"]:
            raise ValueError("each step must be a higher percentage than the one before "
                             f"({plan_text(out[-1:])} then {plan_text([step])}).")
        out.append(step)
    return out


def normalise_origin(raw: object) -> str:
    """`https://host[:port]` in lower case, default port dropped; ValueError otherwise."""
    text = str(raw).strip()
    shown = text[:60] + ("…" if len(text) > 60 else "")
    if len(text) > ORIGIN_MAX:
        raise ValueError(f"{shown!r} is longer than an origin can be ({ORIGIN_MAX} characters).")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown!r} is not an origin (like https://news.example).") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown!r} is not an origin: it must start with https:// or "
                         "http:// and name a host.")
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query \
            or parts.fragment or "%" in parts.netloc:
        raise ValueError(f"{shown!r} is not an origin: give only the scheme and host "
                         "(https://news.example), no path, query or user.")
    host = parts.hostname.encode("idna").decode() if not parts.hostname.isascii() \
        else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _strings(raw: object) -> list[str]:
    if isinstance(raw, str):
        raw = re.split(r"[\s,]+", raw)
    if not isinstance(raw, list | tuple):
        raise ValueError("a list is expected.")
    return [str(v).strip() for v in raw if str(v).strip()]


def _checked_list(raw: object, check: Any, what: str) -> list[str]:
    values = _strings(raw)
    if len(values) > LIST_MAX:
        raise ValueError(f"at most {LIST_MAX} {what}s.")
    out = []
    for v in values:
        out.append(check(v))
    return list(dict.fromkeys(out))


def _username(v: str) -> str:
    if not USERNAME.match(v):
        raise ValueError(f"{v[:40]!r} is not a user name.")
    return v


def _slug(v: str) -> str:
    if not SLUG.match(v):
        raise ValueError(f"{v[:40]!r} is not a story slug.")
    return v.lower()


def _variants(raw: object) -> list[dict[str, Any]]:
    """"a:50 b:50" (or a list of pairs / dicts) as [{name, weight}]."""
    if raw in (None, "", [], ()):
        return []
    items: list[tuple[str, str]] = []
    if isinstance(raw, str):
        for part in _strings(raw):
            name, _, weight = part.partition(":")
            items.append((name, weight or "1"))
    elif isinstance(raw, list | tuple):
        for item in raw:
            if isinstance(item, Mapping):
                items.append((str(item.get("name", "")), str(item.get("weight", ""))))
            elif isinstance(item, list | tuple) and len(item) == 2:
                items.append((str(item[0]), str(item[1])))
            else:
                raise ValueError(f"{str(item)[:40]!r} is not a variant (name:weight).")
    else:
        raise ValueError("variants are name:weight pairs, like \"a:50 b:50\".")
    if len(items) > VARIANTS_MAX:
        raise ValueError(f"at most {VARIANTS_MAX} variants.")
    out: list[dict[str, Any]] = []
    for name, weight in items:
        if not VARIANT.match(name) or name == "off":
            raise ValueError(f"{name[:40]!r} is not a variant name (lower-case letters, digits,"
                             " - and _; \"off\" is what units outside the rollout get).")
        if not weight.isdigit() or not 0 <= int(weight) <= WEIGHT_MAX:
            raise ValueError(f"the weight of {name!r} must be a whole number from 0 to "
                             f"{WEIGHT_MAX}, not {weight[:20]!r}.")
        out.append({"name": name, "weight": int(weight)})
    if len({v["name"] for v in out}) != len(out):
        raise ValueError("each variant name once.")
    if not sum(v["weight"] for v in out):
        raise ValueError("at least one variant needs a weight above 0.")
    return out


def check_key(raw: object) -> str:
    """A flag key, or FlagInvalid saying what a key may hold."""
    key = str(raw).strip()
    if not KEY.match(key):
        raise FlagInvalid({"key": f"{key[:40]!r} is not a flag key: lower-case letters, "
                                  "digits, '.', '-' and '_', up to 64, no spaces or '$'."})
    return key


def clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of the fields in `values`; FlagInvalid with every problem."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    checks: dict[str, Any] = {
        "description": lambda v: _bounded(v, DESCRIPTION_MAX),
        "owner": lambda v: _bounded(v, 150),
        "killed": _bool,
        "rollout": _rollout,
        "percent": parse_percent,
        "unit": _unit,
        "seed": _seed,
        "staff": lambda v: _checked_list(v, _username, "user"),
        "origins": lambda v: _checked_list(v, normalise_origin, "origin"),
        "stories": _stories,
        "variants": _variants,
        "plan": parse_plan,
    }
    for name, value in values.items():
        check = checks.get(name)
        if check is None:
            errors[name] = f"not a flag field (fields: {', '.join(FIELDS)})."
            continue
        try:
            checked = check(value)
        except ValueError as e:
            errors[name] = str(e)
            continue
        if name == "stories":
            # Kept by id, so a story renamed stays allowed; slugs of old are dropped.
            out["story_ids"], out["stories"] = checked, []
        else:
            out["rollout" if name == "percent" else name] = checked
    if errors:
        raise FlagInvalid(errors)
    return out


def _stories(v: object) -> list[str]:
    """Story slugs as the ids of their stories; ValueError naming the unknown ones."""
    slugs = _checked_list(v, _slug, "story")
    ids = stories_repo.ids_by_slug(slugs)
    unknown = [s for s in slugs if s not in ids]
    if unknown:
        shown = ", ".join(repr(s[:40]) for s in unknown[:5])
        raise ValueError(f"no story has the slug {shown} (the slug is the story's "
                         "address, as in /e/<slug>).")
    return [ids[s] for s in slugs]


def story_slugs(flag: Flag) -> list[str]:
    """The flag's allowed stories as their current slugs (one read; a story
    deleted since is left out), then any kept by slug from before ids."""
    found = stories_repo.slugs_by_id(flag.story_ids)
    return list(dict.fromkeys([*(found[i] for i in flag.story_ids if i in found),
                               *flag.stories]))


def _bounded(v: object, limit: int) -> str:
    text = str(v).strip()
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters.")
    return text


def _bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if str(v).lower() in ("1", "true", "on", "yes"):
        return True
    if str(v).lower() in ("0", "false", "off", "no", ""):
        return False
    raise ValueError(f"{str(v)[:20]!r} is not true or false.")


def _rollout(v: object) -> int:
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and
                                                          re.fullmatch(r"-?[0-9]{1,6}", v))):
        raise ValueError(f"{str(v)[:40]!r} is not a whole number of basis points "
                         f"(0 to {ROLLOUT_MAX}).")
    points = int(v)
    if not 0 <= points <= ROLLOUT_MAX:
        raise ValueError(f"{points} is outside 0 to {ROLLOUT_MAX} basis points (0 to 100 %).")
    return points


def _unit(v: object) -> str:
    if v not in UNITS:
        raise ValueError(f"{str(v)[:40]!r} is not a unit ({', '.join(UNITS)}).")
    return str(v)


def _seed(v: object) -> str:
    text = str(v).strip()
    if not 1 <= len(text) <= 64 or not text.isprintable():
        raise ValueError("a seed is 1 to 64 printable characters.")
    return text


def _to_flag(doc: Mapping[str, Any]) -> Flag:
    return Flag(
        key=doc["key"], rollout=doc["rollout"], unit=doc["unit"], seed=doc["seed"],
        killed=doc["killed"], description=doc.get("description", ""),
        owner=doc.get("owner", ""), staff=tuple(doc.get("staff", ())),
        origins=tuple(doc.get("origins", ())), stories=tuple(doc.get("stories", ())),
        story_ids=tuple(doc.get("story_ids", ())),
        variants=tuple((v["name"], v["weight"]) for v in doc.get("variants") or ()),
        version=doc["version"], previous_rollout=doc.get("previous_rollout", 0),
        guard_reason=doc.get("guard_reason", ""), updated_at=doc["updated_at"],
        plan=tuple((p["rollout"], p["after"]) for p in doc.get("plan") or ()),
        plan_hold=doc.get("plan_hold", ""), stepped_at=doc.get("stepped_at"),
        story_unit=doc.get("story_unit", "slug"))


def list_all() -> list[dict[str, Any]]:
    """Every flag document (bounded by FLAGS_MAX), for the snapshot."""
    with reading():
        docs = list(collection(COLLECTION).find({}).limit(FLAGS_MAX))
    for doc in docs:
        doc["_id"] = str(doc["_id"])
    return docs


def versions() -> tuple[tuple[str, int, str], ...]:
    """Every flag's (key, version, id), sorted: what the watch compares. The id
    tells a flag deleted and created again (at version 1 again) from the old one."""
    with reading():
        docs = collection(COLLECTION).find({}, {"key": 1, "version": 1}).limit(FLAGS_MAX)
        return tuple(sorted((d["key"], d["version"], str(d["_id"])) for d in docs))


def all_flags() -> list[Flag]:
    """Every flag, by key, for the studio and `manage.py flags list`."""
    return sorted((_to_flag(d) for d in collection(COLLECTION).find().limit(FLAGS_MAX)),
                  key=lambda f: f.key)


def get(key: str) -> Flag | None:
    doc = collection(COLLECTION).find_one({"key": key})
    return _to_flag(doc) if doc else None


def _audited(flag: Flag | None, values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    before = {} if flag is None else {
        "description": flag.description, "owner": flag.owner, "killed": flag.killed,
        "rollout": flag.rollout, "unit": flag.unit, "seed": flag.seed,
        "staff": list(flag.staff), "origins": list(flag.origins),
        "variants": [{"name": n, "weight": w} for n, w in flag.variants],
        "plan": [{"rollout": r, "after": a} for r, a in flag.plan]}
    values = dict(values)
    if "story_ids" in values:
        # The trail names stories by the slugs they had when the change was made.
        values.pop("stories", None)
        ids = values.pop("story_ids")
        if flag is not None:
            before["stories"] = story_slugs(flag)
        slugs = stories_repo.slugs_by_id(ids)
        values["stories"] = [slugs.get(i, i) for i in ids]
    changes = {k: (before.get(k), v) for k, v in values.items() if before.get(k) != v}
    if "plan" in changes:
        # The trail says it as people write it.
        changes["plan"] = tuple(plan_text(p or ()) for p in changes["plan"])  # type: ignore[assignment]
    return changes


def create(key: str, actor: str, **values: Any) -> Flag:
    """A new flag (off, sticky on the story, seeded by its key, unless `values` say
    otherwise); FlagInvalid for bad values, Conflict when the key exists."""
    key = check_key(key)
    cleaned = clean(values)
    # Bounded by its limit, not a count of the collection.
    if len(list(collection(COLLECTION).find({}, {"_id": 1}).limit(FLAGS_MAX))) >= FLAGS_MAX:
        raise FlagInvalid({"key": f"there are already {FLAGS_MAX} flags; delete old ones."})
    now = datetime.now(UTC)
    doc = {"key": key, "description": "", "owner": actor, "killed": False, "rollout": 0,
           "unit": "story", "seed": key, "staff": [], "origins": [], "stories": [],
           "story_ids": [], "variants": [], "plan": [], "plan_hold": "", **cleaned,
           "version": 1,
           "updated_at": now, "stepped_at": now, "story_unit": "id"}
    try:
        collection(COLLECTION, durable=True).insert_one(dict(doc))
    except DuplicateKeyError as e:
        raise Conflict(f"a flag {key!r} exists already") from e
    audit.record_flag(key, actor, "flag.create",
                      _audited(None, {k: doc[k] for k in (*FIELDS, "story_ids")}), version=1)
    return _to_flag(doc)


def update(flag: Flag, actor: str, *, action: str = "flag.update", resume: bool = False,
           **values: Any) -> Flag:
    """Apply `values` if `flag.version` is still current; Conflict when another
    editor saved first (recorded in the trail too), FlagInvalid for bad values.
    A plan held by the guard runs again when it is changed, or with `resume`.
    Values equal to the flag's change nothing (`flag` is returned as it is)."""
    cleaned = clean(values)
    changes = _audited(flag, cleaned)
    extra: dict[str, Any] = {}
    if "rollout" in cleaned and cleaned["rollout"] != flag.rollout:
        # A person moved the ramp: the guardrail's reason no longer applies, and the
        # step (what the guard judges, what a plan waits from) begins now.
        extra = {"previous_rollout": flag.rollout, "guard_reason": "",
                 "stepped_at": datetime.now(UTC)}
    new_plan = "plan" in cleaned and cleaned["plan"] != [
        {"rollout": r, "after": a} for r, a in flag.plan]
    if flag.plan_hold and (resume or new_plan):
        extra["plan_hold"] = ""
        changes["plan_hold"] = (flag.plan_hold, "")
    if not changes:
        # A save that changes nothing writes nothing: no new version for every
        # worker to load, no new flags' state for open live embeds to fetch again.
        return flag
    result = collection(COLLECTION, durable=True).update_one(
        {"key": flag.key, "version": flag.version},
        {"$set": {**cleaned, **extra, "updated_at": datetime.now(UTC)},
         "$inc": {"version": 1}})
    if result.modified_count != 1:
        audit.record_flag(flag.key, actor, action, changes, outcome="conflict",
                          base_version=flag.version)
        raise Conflict(f"flag {flag.key!r} changed since version {flag.version}; "
                       "reload and apply again")
    audit.record_flag(flag.key, actor, action, changes, base_version=flag.version,
                      version=flag.version + 1)
    updated = get(flag.key)
    assert updated is not None  # noqa: S101 - we just wrote it
    return updated


def ramp_down(flag: Flag, to: int, reason: str, actor: str = "guardrail") -> Flag:
    """The guardrail's step back to `to` basis points, with its reason (shown in the
    studio, kept in the trail); Conflict if the flag changed meanwhile."""
    reason = reason[:500]
    now = datetime.now(UTC)
    # A scheduled ramp stops here until a person saves its plan again.
    hold = {"plan_hold": reason} if flag.plan else {}
    result = collection(COLLECTION, durable=True).update_one(
        {"key": flag.key, "version": flag.version},
        {"$set": {"rollout": to, "previous_rollout": min(to, flag.previous_rollout),
                  "guard_reason": reason, "updated_at": now, "stepped_at": now, **hold},
         "$inc": {"version": 1}})
    if result.modified_count != 1:
        raise Conflict(f"flag {flag.key!r} changed since version {flag.version}")
    audit.record_flag(flag.key, actor, "flag.guard",
                      {"rollout": (flag.rollout, to), "reason": ("", reason)},
                      base_version=flag.version, version=flag.version + 1)
    updated = get(flag.key)
    assert updated is not None  # noqa: S101 - we just wrote it
    return updated


def step(flag: Flag, to: int, reason: str, actor: str = "guardrail") -> Flag:
    """The plan's next step, to `to` basis points, taken by the guard with its reason
    (kept in the trail). A compare-and-set on the version: of two guards that both
    judged it due, one steps and the other gets Conflict."""
    now = datetime.now(UTC)
    result = collection(COLLECTION, durable=True).update_one(
        {"key": flag.key, "version": flag.version},
        {"$set": {"rollout": to, "previous_rollout": flag.rollout, "guard_reason": "",
                  "updated_at": now, "stepped_at": now},
         "$inc": {"version": 1}})
    if result.modified_count != 1:
        raise Conflict(f"flag {flag.key!r} changed since version {flag.version}")
    audit.record_flag(flag.key, actor, "flag.step",
                      {"rollout": (flag.rollout, to), "reason": ("", reason[:500])},
                      base_version=flag.version, version=flag.version + 1)
    updated = get(flag.key)
    assert updated is not None  # noqa: S101 - we just wrote it
    return updated


def delete(flag: Flag, actor: str) -> None:
    """Remove the flag if unchanged since `flag.version` (every unit then gets "off")."""
    result = collection(COLLECTION, durable=True).delete_one(
        {"key": flag.key, "version": flag.version})
    if result.deleted_count != 1:
        audit.record_flag(flag.key, actor, "flag.delete", {}, outcome="conflict",
                          base_version=flag.version)
        raise Conflict(f"flag {flag.key!r} changed since version {flag.version}")
    audit.record_flag(flag.key, actor, "flag.delete", _audited(flag, {"deleted": True}),
                      base_version=flag.version)
