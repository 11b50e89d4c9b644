"""Start and stop the embedded MongoDB (SecantusDB) as its own process.

Used by `make run` (scripts/run.py) and the tests; never by the web workers.
SecantusDB is GPL-2.0 and is only ever run as the `secantusd-py` program, never
imported. It is always given an explicit `--config` (otherwise it would pick up
any secantusd.toml in the working directory) and its own storage path (two
servers cannot share one).

The server cannot outlive whoever started it: on Linux it gets a parent-death
signal (SIGTERM when its parent dies, even by SIGKILL), and everywhere its pid
is kept in `secantusd.pid` under its home, so the next start in the same home
stops an orphan left by a previous run instead of failing on a busy port.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CONFIG = """\
[server]
host = "127.0.0.1"
port = {port}
storage_path = "{storage}"
log_level = "WARNING"

[storage]
cache_size = "{cache_size}"
"""


class EmbeddedDBError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when its parent dies (None
    elsewhere): a parent stopped by SIGKILL has no chance to stop its children."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """Whether any thread of `pid` is still alive (an exited leader whose other
    threads are still closing sockets is; a zombie is not)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            state = (task / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def executable() -> str:
    here = Path(sys.executable).parent / "secantusd-py"
    found = str(here) if here.exists() else shutil.which("secantusd-py")
    if not found:
        raise EmbeddedDBError(
            "secantusd-py is not installed; run `make run` or install requirements/embedded-db.txt"
        )
    return found


@dataclass
class EmbeddedDB:
    """One secantusd-py process with its own config file and data directory."""

    home: Path
    port: int
    cache_size: str = "256M"
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/samembed"

    @property
    def pidfile(self) -> Path:
        return self.home / "secantusd.pid"

    def reclaim_orphan(self, timeout: float = 5.0) -> bool:
        """Stop a server a previous run left in this home (its pidfile names a live
        secantusd-py with this home's config); True if there was one."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return False
        config = str((self.home / "secantusd.toml").resolve())
        if pid <= 0 or not ("secantusd-py" in _cmdline(pid) and config in _cmdline(pid)):
            self.pidfile.unlink(missing_ok=True)  # stale: that pid is someone else now
            return False
        # SIGTERM first (a clean shutdown), SIGKILL if it is not gone in time: a
        # server still starting up can leave SIGTERM unanswered.
        for stop_signal in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, stop_signal)
            deadline = time.monotonic() + timeout
            while _running(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not _running(pid):
                break
        self.pidfile.unlink(missing_ok=True)
        return True

    def start(self, timeout: float = 30.0) -> None:
        self.home = self.home.resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.reclaim_orphan()
        if port_open(self.port):
            raise EmbeddedDBError(f"port {self.port} is already in use")
        storage = self.home / "data"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.home / "secantusd.toml"
        config.write_text(CONFIG.format(port=self.port, storage=storage,
                                        cache_size=self.cache_size))
        with (self.home / "secantusd.log").open("ab") as log:
            # Its own session keeps a terminal's Ctrl-C from reaching it before the
            # parent has stopped the web workers that still use it.
            self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
                [executable(), "--config", str(config)],
                cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl and getppid
            )
        self.pidfile.write_text(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise EmbeddedDBError(
                    f"secantusd-py exited with {self.process.returncode}; "
                    f"see {self.home / 'secantusd.log'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedDBError(f"secantusd-py did not listen on {self.port} in {timeout}s")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.pidfile.unlink(missing_ok=True)
