"""`make run` (scripts/run.py): starts everything, serves the demo, stops cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from samembed.embedded_db import EmbeddedDB, free_port, port_open

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


def start_run(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """scripts/run.py, read until it says it is running."""
    process = subprocess.Popen(
        [sys.executable, "scripts/run.py", str(tmp_path / "var")], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    output = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        output.append(line)
        if "Ctrl-C stops" in line or process.poll() is not None:
            break
    assert "Ctrl-C stops" in "".join(output), "".join(output)
    return process


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def processes_using(path: Path) -> list[int]:
    """Live processes whose command line names `path` (what this test started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(path) in cmdline:
                found.append(int(entry.name))
    return found


def stick(process: subprocess.Popen[str]) -> int:
    """Stop the ingest loop dead, as a round stuck on a slow host would be: it no
    longer answers SIGTERM, so shutting down waits for it. Its pid."""
    def ingest() -> int | None:
        # Its command line is empty for a moment after the fork.
        found = children_commands(process.pid).items()
        return next((p for p, c in found if "ingest --loop" in c), None)
    assert wait_until(lambda: ingest() is not None, 5), children_commands(process.pid)
    pid = ingest()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    return pid


def test_sigterm_then_sigkill_leaves_nothing_running_and_the_next_start_works(
    tmp_path: Path, static_files: None
) -> None:
    env = run_env(tmp_path)
    db_port = int(env["EMBEDDED_DB_PORT"])
    process = start_run(tmp_path, env)
    stuck = stick(process)
    try:
        # A supervisor's stop: SIGTERM, then SIGKILL if it has not exited meanwhile
        # (2 s here, so run.py is killed in the middle of its shutdown).
        process.send_signal(signal.SIGTERM)
        time.sleep(2)
        process.kill()
        process.wait(10)
        assert process.stdout is not None
        process.stdout.close()
        assert wait_until(lambda: not port_open(db_port), 5), \
            "the embedded database outlived make run"
        assert wait_until(lambda: not processes_using(tmp_path / "var" / "db"), 5)

        again = start_run(tmp_path, env)
        with urllib.request.urlopen(f"http://127.0.0.1:{env['PORT']}/e/demo",
                                    timeout=10) as response:
            assert response.status == 200
        again.send_signal(signal.SIGTERM)
        again.wait(30)
        assert again.stdout is not None
        again.stdout.close()
        assert again.returncode == 0
    finally:
        for pid in [stuck, *processes_using(tmp_path / "var")]:  # only what this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_everything_within_ten_seconds(tmp_path: Path,
                                                     static_files: None) -> None:
    env = run_env(tmp_path)
    process = start_run(tmp_path, env)
    children = children_commands(process.pid)
    stuck = stick(process)
    try:
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        took = time.monotonic() - stopped
        assert process.stdout is not None
        process.stdout.close()
    finally:
        for pid in [stuck, *processes_using(tmp_path / "var")]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert process.returncode == 0 and took < 10, f"shutdown took {took:.1f} s"
    assert not port_open(int(env["PORT"])) and not port_open(int(env["EMBEDDED_DB_PORT"]))
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_a_start_stops_the_orphan_its_pidfile_names_and_ignores_a_stale_one(
        tmp_path: Path) -> None:
    home, port = tmp_path / "db", free_port()
    first = EmbeddedDB(home, port)
    first.start()
    assert first.process is not None
    orphan = first.process  # left running, as after a parent that could not stop it
    second = EmbeddedDB(home, port)
    try:
        second.start()
        assert orphan.wait(10) is not None and port_open(port)
        assert second.pidfile.read_text().strip() == str(second.process.pid)  # type: ignore[union-attr]
    finally:
        second.stop(2)  # a server just started may leave SIGTERM unanswered: kill then
        if orphan.poll() is None:
            orphan.kill()
    assert not port_open(port) and not second.pidfile.exists()

    # A pidfile naming a pid that is now another program is not acted on.
    second.pidfile.write_text(f"{os.getpid()}\n")
    third = EmbeddedDB(home, port)
    try:
        third.start()
        assert port_open(port)
    finally:
        third.stop(2)
