"""Feature flags on the read path: which variant a unit (story, embedding origin,
page view) gets, decided in memory, sticky without cookies.

    flags collection (samembed.repositories.flags)
        -> FlagWatch thread, one per process (after the fork, like the version watch)
        -> Snapshot: immutable, swapped in whole; the last good one stays in force
           while the database is away
        -> variant(key, ...) / enabled(key, ...)            Python and templates
        -> embed_variants + key_suffix                      the response-cache key
           (samembed.asgi.flagged_key on the fast path, the views on a miss)

Bucketing: `bucket = murmur3_32(f"{seed}:{unit}") % 10000`, in basis points, so
a unit is in the rollout when its bucket is below the flag's `rollout`. The hash
is a function of the seed and the unit only: the same unit gets the same answer
on every worker, every instance and after every restart, and raising the
rollout only ever adds units. Variants (A/B/n) are chosen for units in the
rollout by a second, independent hash (`"{seed}/v:{unit}"`) against the weights,
so a ramp does not move a unit from one variant to another either.

The embedding origin reaches us as `o`, which the loader writes into the frame's
URL: FNV-1a 32-bit of `location.origin`, in base 36 (`origin_unit`). The frame's
URL thus differs per origin, so no CDN can serve one origin's variant to another,
while our own cache keys on the variant (`key_suffix`), not on `o`: one entry
per (URL, variant).

The last good snapshot is also kept on local disk (`flags.json` in
EMBED_SNAPSHOT_DIR, next to the stories' last good copies, written whenever a
look finds something new): a process that starts while the database cannot be
read takes it, so it decides as its siblings did rather than with defaults.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

BUCKETS = 10_000
OFF = "off"
ON = "on"
UNITS = ("story", "origin", "pageview")
WATCH_INTERVAL = 0.25
WATCH_BACKOFF_MAX = 8.0
# Buckets remembered per flag and snapshot: the units of a busy minute, bounded.
MEMO_MAX = 50_000

_C1 = 0xCC9E2D51
_C2 = 0x1B873593
_M32 = 0xFFFFFFFF


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit (Austin Appleby's reference), as an unsigned int.

    >>> hex(murmur3_32(b"The quick brown fox jumps over the lazy dog", 0x9747B28C))
    '0x2fa826cd'
    """
    h = seed & _M32
    n = len(data)
    end = n - n % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _C1) & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        k = (k * _C2) & _M32
        h ^= k
        h = ((h << 13) | (h >> 19)) & _M32
        h = (h * 5 + 0xE6546B64) & _M32
    tail = data[end:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * _C1) & _M32
        k = ((k << 15) | (k >> 17)) & _M32
        k = (k * _C2) & _M32
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def bucket(seed: str, unit: str) -> int:
    """The unit's bucket, 0..9999, for a flag's seed."""
    return murmur3_32(f"{seed}:{unit}".encode()) % BUCKETS


def origin_unit(origin: str) -> str:
    """The `o` the loader sends for an origin: FNV-1a 32-bit of its UTF-16 code
    units' low bytes (what `charCodeAt` gives for an ASCII origin), base 36.

    >>> origin_unit("https://example.com")
    'v03177'
    """
    h = 0x811C9DC5
    for ch in origin:
        h = ((h ^ (ord(ch) & 0xFFFF)) * 0x01000193) & _M32
    return _base36(h)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


@dataclass
class Rule:
    """One flag as the read path evaluates it (built from a stored document)."""

    key: str
    rollout: int = 0
    unit: str = "story"
    seed: str = ""
    killed: bool = False
    staff: frozenset[str] = frozenset()
    origins: frozenset[str] = frozenset()  # origin units (`origin_unit`), not origins
    story_ids: frozenset[str] = frozenset()
    stories: frozenset[str] = frozenset()  # by slug: flags saved before ids
    variants: tuple[tuple[str, int], ...] = ((ON, 1),)
    version: int = 0
    # The stored document's id: a flag deleted and created again is another one.
    ident: str = ""
    # A story-unit flag hashes the story's id (stable across renames), or, for
    # flags stored before ids were used, its slug (so their units stay put).
    by_id: bool = False
    _memo: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def inert(self) -> bool:
        """Nobody can get anything but `off`: left out of cache keys."""
        return self.killed or (self.rollout <= 0 and not self.origins and not self.stories
                               and not self.story_ids)

    def _pick(self, unit: str) -> str:
        if len(self.variants) == 1:
            return self.variants[0][0]
        total = sum(w for _, w in self.variants)
        point = murmur3_32(f"{self.seed}/v:{unit}".encode()) % total
        for name, weight in self.variants:
            if point < weight:
                return name
            point -= weight
        return self.variants[-1][0]

    def choose(self, unit: str | None = None, *, story: str | None = None,
               origin: str | None = None, user: str | None = None,
               story_id: str | None = None) -> str:
        """The variant for a request: `off` unless killed is false and an allow-list
        or the rollout lets it in. `unit` overrides the sticky value; `story` is the
        slug, `story_id` the story's id (what the allow-list names)."""
        if self.killed:
            return OFF
        if unit is None:
            if self.unit == "story":
                unit = story_id if self.by_id else story
            elif self.unit == "origin":
                unit = origin
        if user is not None and user in self.staff:
            return self._pick(unit or user)
        if (story_id is not None and story_id in self.story_ids) or (
                origin is not None and origin in self.origins) or (
                story is not None and story in self.stories):
            return self._pick(unit or "")
        if self.rollout <= 0:
            return OFF
        if unit is None:
            if self.unit != "pageview":
                return OFF
            # A page view is its own unit: drawn afresh each time.
            return self._pick(str(random.getrandbits(32))) \
                if random.randrange(BUCKETS) < self.rollout else OFF  # noqa: S311
        found = self._memo.get(unit)
        if found is None:
            found = self._pick(unit) if bucket(self.seed, unit) < self.rollout else OFF
            if len(self._memo) >= MEMO_MAX:
                self._memo.clear()
            self._memo[unit] = found
        return found


def rule_from(doc: Mapping[str, Any]) -> Rule:
    """A stored flag document as a Rule (origins turned into origin units)."""
    return Rule(
        key=doc["key"],
        rollout=int(doc.get("rollout", 0)),
        unit=doc.get("unit", "story"),
        seed=doc.get("seed") or doc["key"],
        killed=bool(doc.get("killed", False)),
        staff=frozenset(doc.get("staff", ())),
        origins=frozenset(origin_unit(o) for o in doc.get("origins", ())),
        story_ids=frozenset(doc.get("story_ids", ())),
        stories=frozenset(doc.get("stories", ())),
        variants=tuple((v["name"], int(v["weight"])) for v in doc.get("variants") or ())
        or ((ON, 1),),
        version=int(doc.get("version", 0)),
        ident=str(doc.get("_id", "")),
        by_id=doc.get("story_unit") == "id",
    )


# Flags that change what an embed renders: declared by the code that reads them
# (samembed.embed.render), so other flags never split the response cache.
EMBED_FLAGS: set[str] = set()


def affects_embed(key: str) -> str:
    """Declare that flag `key` changes the embed document (part of its cache key)."""
    EMBED_FLAGS.add(key)
    return key


@dataclass(frozen=True)
class Snapshot:
    rules: Mapping[str, Rule]
    embed: tuple[Rule, ...]
    signature: tuple[tuple[str, int, str], ...]
    loaded: bool
    # Read from the copy on disk, not from the database (yet).
    saved: bool = False
    # Some embed flag is drawn per page view: no answer of this snapshot may be kept.
    drawn: bool = False
    # Names the embed flags' state ("" when none changes the embed): open live
    # embeds see it in /live/ and fetch their document again when it moves.
    epoch: str = ""
    # Some embed flag is sticky on the story's id, or allows stories by id: the
    # fast path needs the id of a slug before it can name the key (`story_id_of`).
    by_story_id: bool = False
    # (slug, origin unit) -> what the fast path needs (samembed.embed.guard.hit_part),
    # kept as long as this snapshot is: a new one starts empty.
    memo: dict[tuple[str, str | None], tuple[str, tuple[str, ...]]] = field(
        default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, docs: Iterable[Mapping[str, Any]], loaded: bool = True,
              saved: bool = False) -> Snapshot:
        rules = {r.key: r for r in map(rule_from, docs)}
        embed = tuple(sorted((r for r in rules.values()
                              if r.key in EMBED_FLAGS and not r.inert), key=lambda r: r.key))
        state = ";".join(f"{r.key}:{r.version}:{r.ident}" for r in embed)
        epoch = _base36(murmur3_32(state.encode())) if embed else ""
        return cls(rules, embed,
                   tuple(sorted((k, r.version, r.ident) for k, r in rules.items())),
                   loaded, saved, drawn=any(r.unit == "pageview" for r in embed), epoch=epoch,
                   by_story_id=any((r.unit == "story" and r.by_id) or r.story_ids
                                   for r in embed))

    @property
    def live_suffix(self) -> str:
        """The cache-key part of `/live/<slug>` for this snapshot ("" when no flag
        changes the embed): a new epoch is a new entry, never a stale one."""
        return f"#flags={self.epoch}" if self.epoch else ""


EMPTY = Snapshot({}, (), (), loaded=False)
_snapshot = EMPTY
_lock = threading.Lock()
_last_attempt = 0.0


def install(snap: Snapshot) -> None:
    """Make `snap` this process's snapshot (one reference swap)."""
    global _snapshot
    _snapshot = snap


def installed() -> Snapshot:
    """This process's snapshot as it stands, never loading: for the fast path."""
    return _snapshot


def current() -> Snapshot:
    """This process's snapshot. A process without a watch (a management command,
    the test client) loads it once on first use, retrying at most once a second."""
    global _last_attempt
    snap = _snapshot
    if (snap.loaded and not snap.saved) or _watch is not None:
        return snap
    now = time.monotonic()
    if now - _last_attempt < 1.0:
        return snap
    with _lock:
        _last_attempt = now
        try:
            refresh()
        except Exception as e:  # noqa: BLE001 - the saved copy, else defaults, stay
            logger.warning("flags: could not load: %s", e)
            fall_back()
    return _snapshot


def refresh() -> Snapshot:
    """Read every flag now and install them (the watch does this on each change),
    keeping a copy on disk."""
    from samembed.repositories import flags as repo

    docs = repo.list_all()
    snap = Snapshot.build(docs)
    install(snap)
    save(docs, snap.signature)
    return snap


# ---- the copy on disk ----------------------------------------------------------------

SAVED_NAME = "flags.json"
# What a Rule is built from: nothing else of a document is written.
_SAVED_FIELDS = ("_id", "key", "rollout", "unit", "seed", "killed", "staff", "origins",
                 "story_ids", "stories", "variants", "version", "story_unit")
_saved_signature: tuple[tuple[str, int, str], ...] | None = None


def saved_path() -> Path | None:
    """Where this instance keeps its last good snapshot (None: nowhere)."""
    from django.conf import settings

    where = settings.EMBED_SNAPSHOT_DIR
    return Path(where) / SAVED_NAME if where else None


def save(docs: Iterable[Mapping[str, Any]],
         signature: tuple[tuple[str, int, str], ...]) -> None:
    """Write the snapshot read just now, when it differs from the one last written
    (under a temporary name, then renamed: a reader never sees half a file)."""
    global _saved_signature
    path = saved_path()
    if path is None or signature == _saved_signature:
        return
    data = json.dumps({"flags": [{k: d[k] for k in _SAVED_FIELDS if k in d} for d in docs]},
                      separators=(",", ":"))
    from samembed.embed.snapshots import write_atomically

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data.encode(), prefix=".flags-")
    except OSError as e:
        logger.warning("flags: could not keep the snapshot on disk: %s", e)
        return
    _saved_signature = signature


def load_saved() -> Snapshot | None:
    """The snapshot on disk, if there is a readable one."""
    path = saved_path()
    if path is None:
        return None
    try:
        docs = json.loads(path.read_text())["flags"]
        return Snapshot.build(docs, saved=True)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("flags: the snapshot on disk is unreadable: %s", e)
        return None


def fall_back() -> None:
    """A process that could not read the flags, with none read yet, takes the copy on
    disk: never the defaults while a last good snapshot exists."""
    if _snapshot.loaded:
        return
    saved = load_saved()
    if saved is not None:
        install(saved)
        logger.warning("flags: the database cannot be read; using the snapshot on disk "
                       "(%d flags)", len(saved.rules))


# ---- stories' ids, by slug -------------------------------------------------------
# A story-unit flag is sticky on the story's id, but a request names its slug: the
# ids of the slugs this process has served, bounded. The views fill it (a render
# knows the story; a miss of an unknown slug asks the database once), the fast
# path only reads it, and sends a slug it does not know to Django.
_story_ids: dict[str, str] = {}
# Slugs the database said no story has, and until when (monotonic): asked again
# only after that, so requests for one made-up slug do not each cost a query.
_absent: dict[str, float] = {}
ABSENT_SECONDS = 5.0


def remember_story(slug: str, story_id: str) -> None:
    """Note that `slug` is (now) the slug of story `story_id`."""
    _absent.pop(slug, None)
    if _story_ids.get(slug) != story_id:
        if len(_story_ids) >= MEMO_MAX:
            _story_ids.clear()
        _story_ids[slug] = story_id


def forget_stories() -> None:
    """Forget every slug's id and absence (a test's new stories reuse slugs)."""
    _story_ids.clear()
    _absent.clear()


def story_id_of(slug: str) -> str | None:
    """The id of the story with this slug, if this process has seen it."""
    return _story_ids.get(slug)


def learn_story(slug: str) -> str | None:
    """The id of the story at `slug`: remembered, else asked once (not on the fast
    path), else, while the database is away, the one this instance's last good
    copies were saved for; None for no such story (flags that need the id are
    then off for it), which is not asked again for ABSENT_SECONDS."""
    known = _story_ids.get(slug)
    if known is None:
        if _absent.get(slug, 0.0) > time.monotonic():
            return None
        from samembed.embed.cache import response_cache
        from samembed.exceptions import DatabaseUnavailable
        from samembed.repositories import stories

        found: str | None
        try:
            stored = stories.id_for_slug(slug)
            found = None if stored is None else str(stored)
            if found is None:
                if len(_absent) >= MEMO_MAX:
                    _absent.clear()
                _absent[slug] = time.monotonic() + ABSENT_SECONDS
        except DatabaseUnavailable:
            # What this instance's workers last saved it under (embed.snapshots).
            store = response_cache().snapshots
            found = store.story_id(slug) if store is not None else None
        if found is not None:
            remember_story(slug, known := found)
    return known


def variant(key: str, unit: str | None = None, *, story: str | None = None,
            origin: str | None = None, user: str | None = None,
            story_id: str | None = None) -> str:
    """The variant of flag `key` ("off" when unknown, killed or out of the rollout);
    a story-unit flag is sticky on `story_id`, and story allow-lists name ids (when
    not given, looked up from the slug `story`: remembered, else asked once).

    >>> variant("grid-v2", story="demo", story_id="66f0…")  # doctest: +SKIP
    'on'
    """
    rule = current().rules.get(key)
    if rule is None:
        return OFF
    if story_id is None and story is not None:
        story_id = learn_story(story) if rule.by_id or rule.story_ids \
            else _story_ids.get(story)
    return rule.choose(unit, story=story, origin=origin, user=user, story_id=story_id)


def enabled(key: str, unit: str | None = None, **context: str | None) -> bool:
    """Whether flag `key` is on (any variant but "off") for this unit."""
    return variant(key, unit, **context) != OFF


def embed_variants(slug: str, origin: str | None, story_id: str | None = None,
                   snap: Snapshot | None = None) -> dict[str, str]:
    """The embed-affecting flags that are not "off" for this story and origin, in
    `snap` (by default the current snapshot)."""
    found = {}
    if story_id is None:
        story_id = _story_ids.get(slug)
    for rule in (snap or current()).embed:
        chosen = rule.choose(story=slug, origin=origin, story_id=story_id)
        if chosen != OFF:
            found[rule.key] = chosen
    return found


def preview_variants(slug: str, user: str, asked: Iterable[str],
                     story_id: str | None = None) -> dict[str, str]:
    """What a studio preview shows: the embed flags as this staff member gets them,
    with `?variant=KEY[:NAME]` choices on top ("grid-v2", "hero:b", "grid-v2:off").
    ValueError names an unknown flag or variant."""
    rules = current().rules
    found = {}
    for key in sorted(EMBED_FLAGS):
        rule = rules.get(key)
        chosen = rule.choose(story=slug, user=user, story_id=story_id) if rule else OFF
        if chosen != OFF:
            found[key] = chosen
    for choice in asked:
        key, _, name = choice.partition(":")
        rule = rules.get(key)
        if rule is None or key not in EMBED_FLAGS:
            raise ValueError(f"{key[:40]!r} is not a flag that changes the embed "
                             f"(flags: {', '.join(sorted(EMBED_FLAGS)) or 'none'}).")
        names = [n for n, _ in rule.variants]
        name = name or names[0]
        if name not in (*names, OFF):
            raise ValueError(f"{key} has no variant {name[:40]!r} ({', '.join(names)}, off).")
        found[key] = name
    return {k: v for k, v in found.items() if v != OFF}


def key_suffix(variants: Mapping[str, str]) -> str:
    """The cache-key part for `variants` ("" when none): after a '#', which no
    request's query can contain, so it never collides with a URL's key."""
    if not variants:
        return ""
    return "#" + "&".join(f"{k}={v}" for k, v in sorted(variants.items()))


# ---- the watch ---------------------------------------------------------------------


class FlagWatch:
    """One thread per process: asks for every flag's (key, version) each interval
    (the collection is small and bounded) and reloads when they differ, so a
    change, a kill or a deletion reaches every worker within about a second."""

    def __init__(self, interval: float = WATCH_INTERVAL) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Look once; True when a new snapshot was installed."""
        from samembed.repositories import flags as repo

        if _snapshot.loaded and not _snapshot.saved and repo.versions() == _snapshot.signature:
            return False
        refresh()
        return True

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - the last good snapshot stays in force
                logger.warning("flag watch: look failed: %s", e)
                pause = min(pause * 2, WATCH_BACKOFF_MAX)
            else:
                pause = self.interval

    def start(self) -> FlagWatch:
        if self._thread is None:
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - started anyway; it keeps asking
                logger.warning("flag watch: first look failed: %s", e)
                fall_back()
            self._thread = threading.Thread(target=self._run, name="flag-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


_watch: FlagWatch | None = None


def start_watch() -> FlagWatch:
    """Start this process's flag watch (idempotent)."""
    global _watch
    if _watch is None:
        _watch = FlagWatch().start()
    return _watch
