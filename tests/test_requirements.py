"""requirements/*.txt against pyproject.toml: every dependency declared there is
pinned, every pin is hashed, the files are exactly what `make lock` writes, and
what production installs resolves from PyPI as wheels with those hashes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
# In install order; a package is pinned in the first file whose group needs it.
FILES = ["app.txt", "embedded-db.txt", "dev.txt"]
GROUP_OF_FILE = {"app.txt": None, "embedded-db.txt": "embedded-db", "dev.txt": "dev"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(filename: str) -> list[tuple[str, str, list[str]]]:
    """(name, version, hashes) of each requirement of a file, continuation lines joined."""
    text = (REQUIREMENTS / filename).read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement, *options = line.split()
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", requirement)
        assert match, f"{filename}: {requirement!r} is not pinned with =="
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        assert len(hashes) == len(options), f"{filename}: {line!r} has options besides hashes"
        found.append((normalise(match.group(1)), match.group(2), hashes))
    return found


def pins() -> dict[str, tuple[str, str]]:
    """Package -> (version, file) over all the files."""
    pinned: dict[str, tuple[str, str]] = {}
    for filename in FILES:
        for name, pinned_version, _ in requirements(filename):
            assert name not in pinned, f"{name} is pinned in {pinned[name][1]} and {filename}"
            pinned[name] = (pinned_version, filename)
    return pinned


def test_every_pin_carries_sha256_hashes_of_its_release() -> None:
    for filename in FILES:
        entries = requirements(filename)
        assert entries, filename
        for name, _, hashes in entries:
            assert hashes, f"{filename}: {name} has no --hash"
            for value in hashes:
                assert re.fullmatch(r"sha256:[0-9a-f]{64}", value), (filename, name, value)


def test_every_dependency_of_pyproject_is_pinned_at_its_version_in_its_group() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = pins()
    for filename in FILES:
        group = GROUP_OF_FILE[filename]
        declared = (project["dependencies"] if group is None
                    else project["optional-dependencies"][group])
        allowed = FILES[: FILES.index(filename) + 1]
        for requirement in declared:
            match = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[([^\]]+)\])?==(\S+)", requirement)
            assert match, f"pyproject.toml: {requirement!r} is not pinned with =="
            name, extras, wanted = normalise(match.group(1)), match.group(2), match.group(3)
            assert name in pinned, f"{requirement} (pyproject.toml) is in no requirements file"
            assert pinned[name][0] == wanted, (requirement, pinned[name])
            assert pinned[name][1] in allowed, (requirement, pinned[name])
            if extras == "binary":
                assert normalise(f"{name}-binary") in pinned, requirement
    # The image installs app.txt only: nothing GPL or test-only may leak into it.
    app = {name for name, _, _ in requirements("app.txt")}
    assert "secantusdb" not in app and "pytest" not in app


def test_the_virtualenv_runs_the_pinned_versions() -> None:
    for name, (pinned_version, filename) in pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name}=={pinned_version} ({filename}) is not installed: run make")
        assert installed == pinned_version, (name, installed, filename, pinned_version)


def test_the_files_are_what_make_lock_generates_from_pyproject(tmp_path: Path) -> None:
    # The lock, run on a copy: it must change nothing (uv keeps the pinned versions).
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "lock.py", tmp_path / "scripts" / "lock.py")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REQUIREMENTS, tmp_path / "requirements")
    result = subprocess.run([sys.executable, "scripts/lock.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for filename in FILES:
        regenerated = (tmp_path / "requirements" / filename).read_text()
        assert regenerated == (REQUIREMENTS / filename).read_text(), (
            f"requirements/{filename} is not what `make lock` generates from pyproject.toml"
        )


def test_production_requirements_resolve_from_pypi_as_hashed_wheels(tmp_path: Path) -> None:
    # What the Containerfile's pip step does, without installing: every pin found,
    # its file's hash among the pinned ones, and a wheel (the slim image has no compiler).
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
         "--require-hashes", "--only-binary=:all:", "--quiet", "--report", str(report),
         "-r", str(REQUIREMENTS / "app.txt")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    installs = json.loads(report.read_text())["install"]
    expected = {name: (v, hashes) for name, v, hashes in requirements("app.txt")}
    resolved = {normalise(i["metadata"]["name"]): i for i in installs}
    assert sorted(resolved) == sorted(expected)
    for name, item in resolved.items():
        pinned_version, hashes = expected[name]
        assert item["metadata"]["version"] == pinned_version, name
        assert item["download_info"]["url"].endswith(".whl"), item["download_info"]["url"]
        digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
        assert f"sha256:{digest}" in hashes, name
