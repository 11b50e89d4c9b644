"""The project as a newcomer meets it: README, settings, CI, module boundaries."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import engines

from samembed.conf import DECLARED, env

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_readme_opens_with_the_two_commands_ci_uses() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make run", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)


def test_every_setting_is_documented_in_the_readme() -> None:
    table = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    for name, setting in DECLARED.items():
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", table, re.M)
        assert row, f"{name} is not in the README's settings table"
        default = row.group(1).strip().strip("`")
        assert default == (setting.default if setting.default is not None else "none"), name


def test_a_bad_setting_stops_the_process_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_CACHE_TTL", "ten")
    with pytest.raises(ImproperlyConfigured, match="EMBED_CACHE_TTL='ten' is invalid"):
        env("EMBED_CACHE_TTL")
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env("DEBUG")


def test_production_settings_refuse_to_start_without_a_secret_key() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import samembed.settings"], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
    )
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_repositories_import_pymongo_and_nothing_imports_secantus() -> None:
    for path in (ROOT / "samembed").rglob("*.py"):
        imports = _imports(path)
        assert "secantus" not in imports, path
        if imports & {"pymongo", "bson"}:
            assert "repositories" in path.parts or path.name == "mongo.py", path


def test_templates_are_compiled_once_and_not_reloaded() -> None:
    jinja = engines["jinja2"].env  # type: ignore[attr-defined]
    assert jinja.auto_reload is False
    assert jinja.bytecode_cache is not None
    first = jinja.get_template("embed/list.html")
    assert jinja.get_template("embed/list.html") is first


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+).*", line)
        if match:
            found[_normalised(match[1])] = match[2]
    return found


def test_every_package_the_code_imports_is_a_pinned_dependency_of_pyproject() -> None:
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _pins(project["dependencies"])
    app = _pins((ROOT / "requirements" / "app.txt").read_text().splitlines())
    imported: set[str] = set()
    for path in (ROOT / "samembed").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    owners = packages_distributions()
    needed = {_normalised(dist) for top in imported - set(sys.stdlib_module_names) - {"samembed"}
              for dist in owners.get(top, [top])}
    # Transitive pins of declared packages (dnspython comes with pymongo, asgiref with
    # Django) need not be declared; everything else imported must be.
    transitive = {"dnspython", "asgiref", "django-stubs-ext", "typing-extensions", "markupsafe"}
    assert sorted(needed - set(declared) - transitive) == []
    assert {name: version for name, version in declared.items() if app.get(name) != version} \
        == {}


def test_no_code_sets_a_private_attribute_of_another_library() -> None:
    # A library's private attributes change without notice (httpx's transport pool
    # did once); the code uses public extension points instead.
    offenders = []
    for path in (ROOT / "samembed").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign | ast.AugAssign) else [])
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr.startswith("_")
                        and not target.attr.startswith("__")
                        and not (isinstance(target.value, ast.Name)
                                 and target.value.id in ("self", "cls"))):
                    offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    assert offenders == []
