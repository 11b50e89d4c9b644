"""Fixtures shared by the suite.

The embedded MongoDB runs once per test session as its own process, on a free
port with its own storage under a temporary directory; every test starts with
empty collections and an empty response cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client, override_settings
from playwright.sync_api import Browser, Page, sync_playwright

from samembed import flags, mongo, outbound
from samembed.embed.cache import response_cache
from samembed.embedded_db import EmbeddedDB, free_port
from samembed.repositories import ensure_indexes
from tests.factories import using
from tests.image_host import ImageHost, jpeg_with_gps
from tests.servers import ROOT, Gunicorn, PublisherSite, launch_chromium

pytest_plugins = ["tests.fakes.plugin"]


@pytest.fixture(scope="session")
def embedded_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedDB]:
    db = EmbeddedDB(tmp_path_factory.mktemp("secantus"), free_port())
    db.start()
    settings.MONGODB_URI = db.uri
    os.environ["MONGODB_URI"] = db.uri
    mongo.close()
    ensure_indexes()
    yield db
    mongo.close()
    db.stop()


@pytest.fixture(scope="session")
def static_files() -> None:
    # collectstatic hashes and compresses every file each time (about 12 s here):
    # skip it when the manifest is newer than every source file.
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    sources = [p for d in settings.STATICFILES_DIRS for p in Path(d).rglob("*") if p.is_file()]
    if manifest.exists() and manifest.stat().st_mtime > max(p.stat().st_mtime for p in sources):
        return
    call_command("collectstatic", "--noinput", verbosity=0)


def _clean_database() -> None:
    database = mongo.database()
    for name in ("stories", "posts", "sources", "screens", "flags", "flag_counts",
                 "signin_attempts", "stats_hourly", "stats_reach", "stats_salts"):
        database[name].delete_many({})
    # Flags' trail entries name a flag, not a story: a new story never meets the
    # old ones, a flag of the same key would.
    database["audit"].delete_many({"flag": {"$type": "string"}})


@pytest.fixture
def mongo_db(embedded_db: EmbeddedDB, static_files: None) -> Iterator[EmbeddedDB]:
    """A clean database and a clean response cache for one test, left clean after it."""
    _clean_database()
    response_cache().clear()
    # Slugs name other stories (with other ids) in each test.
    flags.forget_stories()
    # As a worker whose watch has looked and found no flags: the read path never
    # asks the database for them; tests that write flags refresh the snapshot.
    flags.install(flags.Snapshot.build([]))
    yield embedded_db
    # Clean after as well: a server a later module starts before its first test's
    # clean-up would load this test's flags, then see them vanish mid-test (a new
    # flags epoch, so new cache keys and renders it never asked for).
    _clean_database()
    response_cache().clear()
    flags.install(flags.Snapshot.build([]))


@pytest.fixture
def own_db(tmp_path: Path, embedded_db: EmbeddedDB) -> Iterator[EmbeddedDB]:
    """A database of this test's own, indexed, which it may stop, kill and start again
    (the suite's, `embedded_db`, must stay up for the tests after it)."""
    db = EmbeddedDB(tmp_path / "db", free_port())
    db.start()
    try:
        with using(db):
            ensure_indexes()
        yield db
    finally:
        db.stop()


@pytest.fixture
def editor(db: None) -> User:
    """Ada, a member of the editors group."""
    user = User.objects.create_user("ada", password="correct horse battery")
    user.groups.add(Group.objects.get(name="editors"))
    return user


@pytest.fixture
def grace() -> Client:
    """A client signed in as Grace, a second editor (for two people at once)."""
    user = User.objects.create_user("grace", password="another long password")
    user.groups.add(Group.objects.get(name="editors"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def image_host() -> Iterator[ImageHost]:
    """The outside world's image host, as images.test: a few photos, and the abusive
    paths of tests/image_host.py."""
    files = {"/kite.jpg": jpeg_with_gps(), "/a.jpg": jpeg_with_gps(),
             "/face.jpg": jpeg_with_gps(200, 200)}
    with ImageHost(files) as host:
        with override_settings(OUTBOUND_RESOLVE={("images.test", 80): ("127.0.0.1", host.port)}):
            outbound.reset()
            yield host
        outbound.reset()


@pytest.fixture
def ada(editor: User) -> Client:
    """A client signed in as Ada."""
    client = Client()
    client.force_login(editor)
    return client


# ---- real browsers and the pages that embed us -------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's), one per test module."""
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def publisher() -> Iterator[PublisherSite]:
    """A publisher's site on another loopback origin, for pages with snippets."""
    site = PublisherSite()
    site.start()
    yield site
    site.stop()




@pytest.fixture(scope="module")
def server(embedded_db: EmbeddedDB, static_files: None) -> Iterator[Gunicorn]:
    """The read path under gunicorn, one per test module (modules that need other
    settings define their own). The TTL is short so each test's stories are seen."""
    gunicorn = Gunicorn(embedded_db.uri, EMBED_CACHE_TTL="0.5")
    gunicorn.start()
    yield gunicorn
    gunicorn.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A 900×800 page whose script errors fail the test."""
    context = browser.new_context(viewport={"width": 900, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == [], errors


@pytest.fixture(scope="module")
def studio_server(embedded_db: EmbeddedDB, static_files: None,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gunicorn, str]]:
    """The studio under gunicorn (two workers), with the development editor's password."""
    home = tmp_path_factory.mktemp("studio")
    env = {"DATABASE_URL": f"sqlite:///{home}/accounts.sqlite3"}
    server = Gunicorn(embedded_db.uri, workers=2, **env)
    for command in (["migrate", "--noinput"], ["create_dev_editor", str(home / "password")]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True,
                       env=server.env, capture_output=True)
    server.start()
    yield server, (home / "password").read_text().strip()
    server.stop()
