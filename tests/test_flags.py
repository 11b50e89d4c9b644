"""Feature flags: the hash, sticky buckets, ramps, the stored flags and their checks."""

from __future__ import annotations

from typing import Any

import pytest

from samembed import flags
from samembed.exceptions import Conflict
from samembed.flags import Rule, bucket, murmur3_32, origin_unit
from samembed.mongo import database
from samembed.repositories import audit
from samembed.repositories import flags as repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.flags import FlagInvalid
from tests.factories import make_story

# MurmurHash3 x86_32's published vectors (SMHasher's reference implementation;
# the same table is in docs/flags.md).
VECTORS = [
    (b"", 0, 0x00000000),
    (b"", 1, 0x514E28B7),
    (b"", 0xFFFFFFFF, 0x81F16F39),
    (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
    (b"a", 0x9747B28C, 0x7FA09EA6),
    (b"aa", 0x9747B28C, 0x5D211726),
    (b"aaa", 0x9747B28C, 0x283E0130),
    (b"aaaa", 0x9747B28C, 0x5A97808A),
    (b"abc", 0, 0xB3DD93FA),
    (b"abcd", 0x9747B28C, 0xF0478627),
    (b"Hello, world!", 0x9747B28C, 0x24884CBA),
    (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
    (b"The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
]


@pytest.mark.parametrize(("data", "seed", "expected"), VECTORS)
def test_murmur3_matches_the_published_vectors(data: bytes, seed: int, expected: int) -> None:
    assert murmur3_32(data, seed) == expected


def test_each_percentage_is_within_a_third_of_a_percent_over_100000_units() -> None:
    buckets = [bucket("grid-v2", f"unit-{i}") for i in range(100_000)]
    for points in (1, 100, 500, 1000, 2000, 3000, 5000, 9000, 10_000):
        share = sum(b < points for b in buckets) / len(buckets)
        assert abs(share - points / 10_000) <= 0.003, (points, share)


def test_raising_the_rollout_only_adds_units() -> None:
    units = [f"story-{i}" for i in range(20_000)]
    before: set[str] = set()
    for points in (0, 1, 100, 500, 2000, 3000, 4000, 5000, 6000, 10_000):
        rule = Rule("grid-v2", rollout=points, seed="grid-v2")
        now = {u for u in units if rule.choose(u) != "off"}
        assert before <= now, points
        before = now
    assert len(before) == len(units)
    # A ramp back and up again brings back exactly the same units.
    at_40 = {u for u in units if Rule("g", rollout=4000, seed="grid-v2").choose(u) != "off"}
    assert at_40 == {u for u in units if bucket("grid-v2", u) < 4000}


def test_a_unit_keeps_its_variant_as_the_rollout_rises() -> None:
    variants = (("a", 50), ("b", 30), ("c", 20))
    low = Rule("hero", rollout=1000, seed="s", variants=variants)
    high = Rule("hero", rollout=6000, seed="s", variants=variants)
    units = [f"u{i}" for i in range(20_000)]
    seen = {u: low.choose(u) for u in units}
    for u, v in seen.items():
        if v != "off":
            assert high.choose(u) == v
    shares = [sum(high.choose(u) == name for u in units) / len(units) for name, _ in variants]
    assert [round(s, 2) for s in shares] == pytest.approx([0.30, 0.18, 0.12], abs=0.01)


def test_2000_origins_at_5_percent_get_the_new_variant_5_percent_plus_or_minus_1() -> None:
    rule = Rule("grid-v2", rollout=500, unit="origin", seed="grid-v2")
    units = [origin_unit(f"https://site{i}.example") for i in range(2000)]
    on = [u for u in units if rule.choose(origin=u) == "on"]
    assert 0.04 <= len(on) / 2000 <= 0.06
    assert all(rule.choose(origin=u) == "on" for u in on)


def test_allow_lists_and_the_kill_switch() -> None:
    rule = Rule("grid-v2", rollout=0, unit="origin", seed="x", staff=frozenset({"ada"}),
                origins=frozenset({origin_unit("https://beta.example")}),
                stories=frozenset({"demo"}))
    assert rule.choose(user="ada") == "on"
    assert rule.choose(user="grace") == "off"
    assert rule.choose(origin=origin_unit("https://beta.example")) == "on"
    assert rule.choose(origin=origin_unit("https://other.example")) == "off"
    assert rule.choose(story="demo") == "on"
    rule.killed = True
    assert rule.choose(user="ada") == rule.choose(story="demo") == "off"


def test_the_loader_hash_of_an_origin_is_fnv1a_in_base36() -> None:
    # The same value static/embed.js computes (tests/test_flags_browser.py checks it
    # in Chromium).
    assert origin_unit("https://example.com") == "v03177"
    # FNV-1a's published values: the offset basis, "a" and "foobar".
    assert int(origin_unit(""), 36) == 0x811C9DC5
    assert int(origin_unit("a"), 36) == 0xE40C292C
    assert int(origin_unit("foobar"), 36) == 0xBF9CF968


def test_a_warm_unit_is_answered_from_memory_and_the_memory_is_bounded() -> None:
    # What a cache hit costs is measured by bench/flags.py; here, that a unit seen
    # before is not hashed again, and that a flood of units cannot grow memory.
    rule = Rule("grid-v2", rollout=500, unit="origin", seed="grid-v2")
    first = rule.choose(origin="v03177")
    assert rule._memo == {"v03177": first}
    for i in range(flags.MEMO_MAX + 10):
        rule.choose(origin=f"u{i}")
    assert len(rule._memo) <= flags.MEMO_MAX
    assert rule.choose(origin="v03177") == first


# ---- stored flags ------------------------------------------------------------------


@pytest.mark.usefixtures("mongo_db")
class TestStoredFlags:
    def test_a_flag_is_created_off_and_every_change_is_audited(self) -> None:
        flag = repo.create("grid-v2", "ada", description="The new grid")
        assert (flag.rollout, flag.unit, flag.seed, flag.killed, flag.version) == \
            (0, "story", "grid-v2", False, 1)
        flag = repo.update(flag, "ada", percent="5", unit="origin",
                           origins="https://News.Example:443 http://beta.example:8080")
        assert (flag.rollout, flag.origins, flag.version) == \
            (500, ("https://news.example", "http://beta.example:8080"), 2)
        trail = audit.for_flag("grid-v2")
        assert [e.action for e in trail] == ["flag.update", "flag.create"]
        assert trail[0].story_id is None
        assert trail[0].changes["rollout"] == {"before": 0, "after": 500}
        assert (trail[0].base_version, trail[0].version) == (1, 2)

    def test_two_editors_ramping_at_once_one_wins_and_the_other_is_told(self) -> None:
        flag = repo.create("grid-v2", "ada")
        repo.update(flag, "ada", percent="5")
        with pytest.raises(Conflict):
            repo.update(flag, "grace", percent="50")
        stored = repo.get("grid-v2")
        assert stored is not None and (stored.rollout, stored.version) == (500, 2)
        assert [e.outcome for e in audit.for_flag("grid-v2")][:1] == ["conflict"]

    def test_a_duplicate_key_is_a_conflict(self) -> None:
        repo.create("grid-v2", "ada")
        with pytest.raises(Conflict):
            repo.create("grid-v2", "grace")

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("percent", "-1", "not a percentage"),
        ("percent", "100.01", "more than 100"),
        ("percent", "abc", "not a percentage"),
        ("rollout", 10_001, "outside 0 to 10000"),
        ("rollout", -1, "outside 0 to 10000"),
        ("rollout", "abc", "not a whole number"),
        ("origins", "javascript:alert(1)", "not an origin"),
        ("origins", "/just/a/path", "not an origin"),
        ("origins", "https://news.example/page", "no path"),
        ("origins", "https://" + "a" * 5000 + ".example", "longer than an origin"),
        ("unit", "cookie", "not a unit"),
        ("variants", "a:50 off:50", "not a variant name"),
        ("variants", "a:x", "whole number"),
        ("colour", "red", "not a flag field"),
    ])
    def test_bad_values_are_refused_with_the_reason(self, field: str, value: Any,
                                                    message: str) -> None:
        flag = repo.create("grid-v2", "ada")
        with pytest.raises(FlagInvalid) as caught:
            repo.update(flag, "ada", **{field: value})
        assert message in caught.value.errors[field]
        assert len(str(caught.value)) < 400
        stored = repo.get("grid-v2")
        assert stored is not None and stored.version == 1

    @pytest.mark.parametrize("key", ["grid v2", "$where", "grid$v2", "", "Grid", "a" * 65])
    def test_a_key_with_spaces_dollars_or_capitals_is_refused(self, key: str) -> None:
        with pytest.raises(FlagInvalid) as caught:
            repo.create(key, "ada")
        assert "not a flag key" in caught.value.errors["key"]
        assert database()["flags"].find_one({}) is None

    def test_the_snapshot_follows_the_database_and_outlives_it(self) -> None:
        flags.affects_embed("grid-v2")
        make_story("demo")
        flag = repo.create("grid-v2", "ada", unit="story", stories="demo")
        watch = flags.FlagWatch()
        assert watch.poll() is True
        assert flags.variant("grid-v2", story="demo") == "on"
        assert watch.poll() is False
        repo.update(flag, "ada", killed=True)
        assert watch.poll() is True
        assert flags.variant("grid-v2", story="demo") == "off"

    def test_a_flag_deleted_and_created_again_between_two_looks_is_loaded_anew(self) -> None:
        flags.affects_embed("grid-v2")
        flag = repo.create("grid-v2", "ada", unit="origin", origins="https://a.example")
        watch = flags.FlagWatch()
        assert watch.poll() is True
        epoch = flags.current().epoch
        repo.delete(flag, "ada")
        repo.create("grid-v2", "ada", unit="origin", origins="https://b.example")
        # Version 1 again, another flag: the watch tells them apart.
        assert watch.poll() is True
        assert flags.variant("grid-v2", origin=origin_unit("https://b.example")) == "on"
        assert flags.variant("grid-v2", origin=origin_unit("https://a.example")) == "off"
        assert flags.current().epoch != epoch

    def test_a_deleted_flag_is_off_for_everyone(self) -> None:
        make_story("demo")
        flag = repo.create("grid-v2", "ada", percent="100")
        flags.refresh()
        assert flags.enabled("grid-v2", story="demo")
        repo.delete(flag, "ada")
        flags.refresh()
        assert not flags.enabled("grid-v2", story="demo")
        assert flags.variant("no-such-flag", story="demo") == "off"
        assert audit.for_flag("grid-v2")[0].action == "flag.delete"


@pytest.mark.usefixtures("mongo_db")
def test_a_story_allowed_by_slug_stays_allowed_when_it_is_renamed() -> None:
    story = make_story("tonight")
    flag = repo.create("grid-v2", "ada", stories="tonight")
    stored = database()["flags"].find_one({"key": "grid-v2"})
    assert stored is not None and stored["story_ids"] == [str(story.id)] \
        and stored["stories"] == []
    assert audit.for_flag("grid-v2")[0].changes["stories"] == {"before": None,
                                                                "after": ["tonight"]}
    flags.refresh()
    assert flags.variant("grid-v2", story="tonight") == "on"
    assert stories_repo.update(story, {"slug": "tonight-live"})
    flags.forget_stories()  # a process that learns the slug afresh
    assert flags.variant("grid-v2", story="tonight-live") == "on"
    assert flags.variant("grid-v2", story="tonight") == "off"
    # The form and the command show the story under the name it has now.
    assert repo.story_slugs(flag) == ["tonight-live"]
    make_story("other")
    repo.update(flag, "ada", stories="tonight-live other")
    assert audit.for_flag("grid-v2")[0].changes["stories"] == {
        "before": ["tonight-live"], "after": ["tonight-live", "other"]}


@pytest.mark.usefixtures("mongo_db")
def test_a_story_allow_list_naming_no_story_is_refused_with_the_slug() -> None:
    make_story("tonight")
    with pytest.raises(FlagInvalid) as caught:
        repo.create("grid-v2", "ada", stories="tonight tonihgt")
    assert caught.value.errors == {"stories": "no story has the slug 'tonihgt' (the slug is "
                                              "the story's address, as in /e/<slug>)."}
    assert database()["flags"].find_one({}) is None


@pytest.mark.usefixtures("mongo_db")
def test_a_flag_allowing_stories_by_slug_from_before_ids_still_allows_them() -> None:
    make_story("tonight")
    repo.create("grid-v2", "ada")
    database()["flags"].update_one({"key": "grid-v2"},
                                   {"$set": {"stories": ["tonight"]}, "$unset": {"story_ids": ""}})
    flags.refresh()
    assert flags.variant("grid-v2", story="tonight", story_id="x") == "on"
    flag = repo.get("grid-v2")
    assert flag is not None and repo.story_slugs(flag) == ["tonight"]
