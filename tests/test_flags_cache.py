"""Flags and the response cache: the variant is in the key (and the frame's URL),
one entry per (URL, variant), and the fast path answers every origin canonically."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import Client, override_settings
from PIL import Image

from samembed import flags
from samembed.asgi import FastPath, flagged_key, hit_key
from samembed.embed.cache import response_cache, split_origin
from samembed.embed.render import render_embed
from samembed.flags import origin_unit
from samembed.media.images import normalise
from samembed.media.signing import STORED_PREFIX
from samembed.mongo import database
from samembed.repositories import flags as repo
from samembed.repositories import media as media_repo
from samembed.repositories import posts as posts_repo
from samembed.repositories import stories as stories_repo
from samembed.repositories.posts import Media
from tests.factories import make_post, make_story
from tests.image_host import jpeg_with_gps
from tests.test_fastpath import Downstream, call
from tests.test_live import queries_served

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

NEW = b'data-template-version="2"'


def test_the_origin_unit_is_split_off_the_query_canonically() -> None:
    assert split_origin(b"template=grid&o=v03177") == (b"template=grid", "v03177")
    assert split_origin(b"o=v03177") == (b"", "v03177")
    assert split_origin(b"template=grid") == (b"template=grid", None)
    # Not last, upper case or too long: not the loader's; Django judges it.
    assert split_origin(b"o=v03177&template=grid")[1] is None
    assert split_origin(b"template=grid&o=V03177")[1] is None
    assert split_origin(b"template=grid&o=12345678")[1] is None
    assert flagged_key("/e/demo", b"template=grid&o=v03177") == "/e/demo?template=grid"


def test_2000_origins_at_5_percent_share_two_cache_entries_and_keep_their_variant() -> None:
    make_story("demo", posts=3, status="published")
    repo.create("grid-v2", "ada", unit="origin", percent="5")
    flags.refresh()
    client = Client()
    units = [origin_unit(f"https://site{i}.example") for i in range(2000)]
    seen = {}
    for u in units:
        response = client.get(f"/e/demo?template=grid&o={u}")
        assert response.status_code == 200
        assert response["Cache-Control"].startswith("public")
        assert "Set-Cookie" not in response
        seen[u] = NEW in response.content
    share = sum(seen.values()) / len(units)
    assert 0.04 <= share <= 0.06, share
    keys = sorted(k for k in response_cache()._entries if k.startswith("/e/demo"))
    assert keys == ["/e/demo?template=grid", "/e/demo?template=grid#grid-v2=on"]
    # The fast path finds the same entries for every origin, without Django.
    django = Downstream()
    app = FastPath(django, response_cache())
    for u in units[:500]:
        status, _, body = call(app, "/e/demo", f"template=grid&o={u}".encode())
        assert status == 200 and (NEW in body) == seen[u]
    assert django.paths == []


def test_the_kill_switch_changes_the_key_at_once_and_the_old_variant_comes_back() -> None:
    make_story("demo", posts=2, status="published")
    flag = repo.create("grid-v2", "ada", unit="origin", percent="100")
    flags.refresh()
    client = Client()
    u = origin_unit("https://news.example")
    assert NEW in client.get(f"/e/demo?template=grid&o={u}").content
    repo.update(flag, "ada", killed=True)
    flags.refresh()
    assert flagged_key("/e/demo", f"template=grid&o={u}".encode()) == "/e/demo?template=grid"
    assert NEW not in client.get(f"/e/demo?template=grid&o={u}").content


def test_the_kill_switch_reaches_a_request_the_fast_path_answered_from_memory() -> None:
    make_story("demo", posts=2, status="published")
    flag = repo.create("grid-v2", "ada", unit="origin", percent="100")
    flags.refresh()
    query = f"template=grid&o={origin_unit('https://news.example')}".encode()
    app = FastPath(ASGIHandler(), response_cache())
    for _ in range(3):  # the first renders, the others are the fast path's own
        assert NEW in call(app, "/e/demo", query)[2]
    assert NEW not in Client().get("/e/demo?template=grid").content  # the old variant

    repo.update(flag, "ada", killed=True)
    flags.refresh()

    django = Downstream()
    status, _, body = call(FastPath(django, response_cache()), "/e/demo", query)
    assert status == 200 and NEW not in body and django.paths == []


def test_a_story_sticky_flag_needs_no_origin_and_links_keep_the_origin() -> None:
    make_story("demo", posts=30, status="published")
    repo.create("grid-v2", "ada", unit="story", stories="demo")
    flags.refresh()
    response = Client().get("/e/demo?template=grid&o=abc")
    assert NEW in response.content
    # The "Show more" link of the next page carries the origin unit, last.
    assert b'&amp;o=abc"' in response.content
    assert NEW in Client().get("/e/demo?template=grid").content
    assert NEW not in Client().get("/e/demo?template=list").content


@pytest.mark.parametrize("value", ["ABC", "12345678", "a-b", "", "javascript:x"])
def test_a_bad_origin_unit_is_a_400_saying_what_it_is(value: str) -> None:
    make_story("demo", posts=1, status="published")
    response = Client().get("/e/demo", {"o": value})
    assert response.status_code == 400
    assert response["Cache-Control"] == "no-store"
    assert b"embedding page's origin" in response.content


def test_the_xlarge_image_preset_ships_behind_its_flag_and_is_served(tmp_path: Path) -> None:
    story = make_story("photos")
    key = media_repo.put(normalise(jpeg_with_gps(2400, 1600)).data, "image/jpeg")
    make_post(story, 1, media=(Media("image", STORED_PREFIX + key, 2400, 1600, "A kite"),))
    client = Client()
    assert b"1920w" not in client.get("/e/photos").content
    repo.create("img-xlarge", "ada", unit="story", percent="100")
    flags.refresh()
    body = client.get("/e/photos").content.decode()
    assert " 1920w" in body and "/xlarge/" in body
    url = next(part.split()[0] for part in body.split('srcset="')[1].split('"')[0].split(", ")
               if part.endswith(" 1920w"))
    with override_settings(MEDIA_CACHE_DIR=tmp_path / "derived"):
        response = client.get(url)
        assert response.status_code == 200
        image = Image.open(io.BytesIO(b"".join(response)))  # type: ignore[arg-type]
        assert image.width == 1920
    # The other variant still has its own entry, under the key without the flag.
    assert {"/e/photos", "/e/photos#img-xlarge=on"} <= set(response_cache()._entries)


def test_a_renamed_story_keeps_its_variant_because_the_story_unit_is_its_id() -> None:
    # Two names on opposite sides of a 50 % rollout if the slug were the unit.
    names = [f"tonight-{i}" for i in range(200)]
    old = next(n for n in names if flags.bucket("grid-v2", n) < 5000)
    new = next(n for n in names if flags.bucket("grid-v2", n) >= 5000)
    story = make_story(old, posts=2)
    repo.create("grid-v2", "ada", unit="story", percent="50")
    flags.refresh()
    expected = flags.bucket("grid-v2", str(story.id)) < 5000
    client = Client()
    assert (NEW in client.get(f"/e/{old}?template=grid").content) == expected
    assert stories_repo.update(story, {"slug": new})
    response_cache().clear()  # what the version watch does within a second
    assert client.get(f"/e/{old}?template=grid").status_code == 301
    response = client.get(f"/e/{new}?template=grid")
    assert response.status_code == 200 and (NEW in response.content) == expected
    # The fast path, which knows the new slug's id now, finds that same entry.
    django = Downstream()
    status, _, body = call(FastPath(django, response_cache()), f"/e/{new}", b"template=grid")
    assert status == 200 and (NEW in body) == expected and django.paths == []
    # A slug this process has not seen yet goes to Django, which learns its id.
    fresh = make_story("elsewhere", posts=1)
    status, _, _ = call(FastPath(django, response_cache()), "/e/elsewhere", b"template=grid")
    assert django.paths == ["/e/elsewhere"]
    client.get("/e/elsewhere?template=grid")
    assert flags.story_id_of("elsewhere") == str(fresh.id)


def test_requests_for_a_made_up_slug_do_not_each_ask_the_database_for_its_id() -> None:
    # A flag sticky on the story's id makes an unknown slug Django's to look up;
    # a flood of one made-up slug must not cost a query each.
    make_story("demo", posts=1)
    repo.create("grid-v2", "ada", unit="story", percent="50")
    flags.refresh()
    assert flags.current().by_story_id
    client = Client()
    response = client.get("/e/nope?template=grid")
    assert response.status_code == 404
    assert queries_served(client, "/e/nope?template=grid", 20) == 0
    # A story made at that slug is found once it is rendered, absence or not.
    story = make_story("nope", posts=1)
    response_cache().clear()
    assert client.get("/e/nope?template=grid").status_code == 200
    assert flags.story_id_of("nope") == str(story.id)


def test_a_story_flag_stored_before_ids_keeps_its_units_on_the_slug() -> None:
    make_story("demo", posts=2)
    repo.create("grid-v2", "ada", unit="story", percent="50")
    database()["flags"].update_one({"key": "grid-v2"}, {"$unset": {"story_unit": ""}})
    flags.refresh()
    names = [f"s{i}" for i in range(400)]
    expected = {n: flags.bucket("grid-v2", n) < 5000 for n in names}
    assert {n: flags.variant("grid-v2", story=n, story_id="x") == "on" for n in names} \
        == expected
    # And origins were never anything but their `o`.
    repo.create("hero", "ada", unit="origin", percent="50")
    flags.refresh()
    assert all((flags.variant("hero", origin=f"u{i}") == "on")
               == (flags.bucket("hero", f"u{i}") < 5000) for i in range(400))


def test_a_live_embed_asking_for_a_flags_state_this_process_has_not_seen_gets_a_409() -> None:
    make_story("demo", posts=2)
    repo.create("grid-v2", "ada", unit="origin", percent="50")
    flags.refresh()
    epoch = flags.current().epoch
    assert epoch
    response = Client().get(f"/e/demo?template=grid&o=abc&f={epoch}&v=1")
    assert response.status_code == 200 and response["Cache-Control"].startswith("public")
    response = Client().get("/e/demo?template=grid&o=abc&f=zzz9&v=1")
    assert response.status_code == 409 and response["Cache-Control"] == "no-store"
    assert b"has not seen the flags' state 'zzz9' yet" in response.content
    # /live/ names the state its embeds compare with, and keys its entry on it.
    live = Client().get("/live/demo")
    assert live.json()["flags"] == epoch
    assert f"/live/demo#flags={epoch}" in response_cache()._entries


def test_a_document_names_the_flags_of_the_snapshot_its_variants_were_chosen_in() -> None:
    # A request chooses its variants (its cache key) in one snapshot; the watch may
    # install the next while the story is read. The document it stores must still
    # say the first: an open live embed copies its data-flags into the error
    # reports, and a flag killed since would otherwise go on being named.
    story = make_story("demo", posts=2, live=True)
    before = flags.current()
    repo.create("grid-v2", "ada", unit="origin", percent="100")
    flags.refresh()
    assert flags.current().epoch != before.epoch
    variants = flags.embed_variants("demo", "abc", snap=before)
    assert variants == {}
    html = render_embed(story, posts_repo.list_published(story.id, 50), "grid", variants=variants,
                        snap=before).body.decode()
    assert "data-flags=" not in html
    assert 'data-flags-epoch=""' in html
    now = render_embed(story, posts_repo.list_published(story.id, 50), "grid",
                       variants=flags.embed_variants("demo", "abc")).body.decode()
    assert 'data-flags="grid-v2=on"' in now
    assert f'data-flags-epoch="{flags.current().epoch}"' in now


def test_the_fast_paths_remembered_key_is_the_flagged_key_for_embeds_and_live_polls() -> None:
    story = make_story("demo", posts=3, status="published")
    repo.create("grid-v2", "ada", unit="story", percent="100")
    flags.refresh()
    # Sticky on the story's id: until this process knows it, the request is Django's.
    flags.forget_stories()
    assert hit_key("/e/demo", b"template=grid") == (None, ())
    flags.remember_story("demo", str(story.id))
    for path, query in [("/e/demo", b"template=grid"), ("/live/demo", b""),
                        ("/e/demo", b"template=grid&o=v03177")]:
        for _ in range(2):  # worked out, then remembered
            assert hit_key(path, query)[0] == flagged_key(path, query), (path, query)
    # Live polls carry the flags' epoch in their key, embeds the variant.
    assert hit_key("/live/demo", b"")[0] != "/live/demo"
    assert hit_key("/e/demo", b"")[0] != "/e/demo"
