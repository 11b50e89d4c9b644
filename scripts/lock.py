"""`make lock`: regenerate requirements/*.txt, every line hashed, from pyproject.toml.

pyproject.toml is where a dependency is declared; the files under requirements/
are what gets installed (`pip install --require-hashes`: `make` installs all
three, the Containerfile and a VM only app.txt). Three groups, resolved in this
order:

    app.txt           [project] dependencies: production
    embedded-db.txt   the `embedded-db` extra (GPL-2.0, run as its own process, never shipped)
    dev.txt           the `dev` extra: tests, lint, this lock

Each group is resolved with the files before it as constraints, so a package two
groups need has one version, and it is written only to the first group's file.
uv keeps the versions already in a file it rewrites, so re-running changes nothing
until pyproject.toml does; to move a transitive pin, pass it on:

    python scripts/lock.py --upgrade-package certifi

Hashes cover every file PyPI has for each pinned release (all platforms), and
resolution is for CPython 3.11 on Linux, the interpreter of `make` and of the
image.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
# (file, extra of pyproject.toml or None for the base dependencies, what it is for)
GROUPS: list[tuple[str, str | None, str]] = [
    ("app.txt", None,
     "Runtime dependencies: all that production installs (Containerfile, a VM)."),
    ("embedded-db.txt", "embedded-db",
     "The embedded MongoDB of `make run` and the tests (GPL-2.0, run as its own\n"
     "# process, never imported, never shipped). Installed together with app.txt."),
    ("dev.txt", "dev",
     "Tests, lint and `make lock`. Installed together with app.txt and embedded-db.txt."),
]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.M)


def pinned_names(path: Path) -> list[str]:
    """The normalised names of the packages a requirements file pins."""
    return [re.sub(r"[-_.]+", "-", name).lower() for name in PIN.findall(path.read_text())]


def main(extra_args: list[str]) -> int:
    """Compile every group in order; uv's own error and exit code on a conflict."""
    earlier: list[Path] = []
    for filename, extra, purpose in GROUPS:
        output = REQUIREMENTS / filename
        command = [
            sys.executable, "-m", "uv", "pip", "compile", "pyproject.toml",
            "--quiet", "--generate-hashes",
            "--python-version", "3.11", "--python-platform", "linux",
            "--custom-compile-command", "make lock",
            "--output-file", str(output.relative_to(ROOT)),
        ]
        if extra:
            command += ["--extra", extra]
        for path in earlier:
            command += ["--constraints", str(path.relative_to(ROOT))]
            # Installed from that file already; a second copy could only drift.
            for name in pinned_names(path):
                command += ["--no-emit-package", name]
        result = subprocess.run(command + extra_args, cwd=ROOT, check=False)
        if result.returncode:
            return result.returncode
        text = output.read_text()
        if not text.startswith(f"# {purpose}\n"):
            output.write_text(f"# {purpose}\n{text}")
        earlier.append(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
