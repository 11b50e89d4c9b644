"""`make run` (scripts/run.py): starts everything, serves the demo, stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from samembed.embedded_db import free_port, port_open

ROOT = Path(__file__).resolve().parent.parent


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "SECRET_KEY")}
    env.update(
        PORT=str(free_port()), EMBEDDED_DB_PORT=str(free_port()),
        DATABASE_URL=f"sqlite:///{tmp_path}/accounts.sqlite3",
        STATIC_ROOT="var/test-static", JINJA_BYTECODE_DIR="var/test-jinja-cache",
        WEB_CONCURRENCY="1", **extra,
    )
    return env


def test_it_starts_the_database_and_serves_the_demo_then_stops_everything(
    tmp_path: Path, static_files: None
) -> None:
    env = run_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "scripts/run.py", str(tmp_path / "var")], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "Ctrl-C stops" in line or process.poll() is not None:
                break
        text = "".join(output)
        base = f"http://127.0.0.1:{env['PORT']}"
        assert f"{base}/" in text and f"{base}/e/demo" in text, text
        for path in ("/", "/e/demo", "/e/demo-live", "/s/demo", "/api/v1/stories/demo"):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert response.status == 200, path
        # The demo has dozens of posts: a page of 100 shows them all.
        page = base + "/e/demo?template=list&limit=100"
        with urllib.request.urlopen(page, timeout=10) as response:
            assert response.read().count(b'<article class="post') >= 50
        assert (tmp_path / "var" / "db" / "data").is_dir()
        children = children_commands(process.pid)
        assert any("ingest --loop" in c for c in children.values()), children
        ingest_pid = next(pid for pid, c in children.items() if "ingest --loop" in c)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        process.stdout.close()
    assert process.returncode == 0
    assert not port_open(int(env["PORT"])) and not port_open(int(env["EMBEDDED_DB_PORT"]))
    assert not Path(f"/proc/{ingest_pid}").exists()


def children_commands(pid: int) -> dict[int, str]:
    """The command lines of a process's direct children (Linux /proc)."""
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        found[int(child)] = cmdline.decode(errors="replace")
    return found


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    env = run_env(tmp_path, MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/samembed",
                  MONGODB_READ_TIMEOUT_MS="300")
    result = subprocess.run(
        [sys.executable, "scripts/run.py", str(tmp_path / "var")], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "cannot reach MongoDB at" in errors[0], result.stderr
