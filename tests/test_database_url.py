"""DATABASE_URL as the settings read it, in a fresh process like a server's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.servers import ROOT


def databases(url: str) -> tuple[int, dict, str]:
    """DATABASES["default"] of samembed.settings with DATABASE_URL=url."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "samembed.settings", "DATABASE_URL": url,
           "SECRET_KEY": "test-only-secret-key-that-is-long-enough-for-django-checks"}
    done = subprocess.run(
        [sys.executable, "-c", "import json\nfrom django.conf import settings\n"
         "print(json.dumps(settings.DATABASES['default'], default=str))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else {}, \
        done.stderr


def test_postgres_query_options_such_as_sslmode_reach_the_driver() -> None:
    status, config, _ = databases(
        "postgres://app:s%40cret@pg.internal:6432/accounts?sslmode=verify-full"
        "&sslrootcert=/etc/ssl/pg.pem")
    assert status == 0
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"], config["HOST"],
            config["PORT"]) == ("accounts", "app", "s@cret", "pg.internal", "6432")
    assert config["OPTIONS"] == {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/pg.pem"}


@pytest.mark.parametrize(("url", "name"), [
    ("sqlite:///var/accounts.sqlite3", str(ROOT / "var" / "accounts.sqlite3")),
    ("sqlite:////srv/samembed/accounts.sqlite3", "/srv/samembed/accounts.sqlite3"),
])
def test_a_sqlite_path_is_relative_to_the_checkout_unless_absolute(url: str, name: str) -> None:
    status, config, _ = databases(url)
    assert status == 0
    assert (config["ENGINE"], config["NAME"]) == ("django.db.backends.sqlite3", name)


def test_an_unsupported_scheme_says_which_are() -> None:
    status, _, errors = databases("mysql://app@db/accounts")
    assert status != 0
    assert "DATABASE_URL scheme 'mysql' is not supported; use sqlite:/// or postgres://" \
        in errors
