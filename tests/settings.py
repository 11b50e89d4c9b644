"""Settings for the test suite: production settings with test-only secrets."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-django-checks")
os.environ.setdefault("STATIC_ROOT", "var/test-static")
os.environ.setdefault("JINJA_BYTECODE_DIR", "var/test-jinja-cache")
# Generous: a loaded CI machine must not turn slow reads into test failures.
os.environ.setdefault("MONGODB_READ_TIMEOUT_MS", "5000")
# No shared last good copies between tests (and servers they start): a test that
# needs them gives its servers a directory of its own.
os.environ.setdefault("EMBED_SNAPSHOT_DIR", "")
# Revalidations on a loaded machine still finish in the request that started
# them, so an edit followed by a read sees the edit (the fault tests set their own).
os.environ.setdefault("EMBED_REVALIDATE_WAIT", "5")

from samembed.settings import *  # noqa: E402,F403

# WhiteNoise looks at STATIC_ROOT when the app is built; on a fresh clone the
# session fixture has not run collectstatic yet.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
