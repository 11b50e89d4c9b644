"""Start and stop the embedded MongoDB (SecantusDB) as its own process.

Used by `make run` (scripts/run.py) and the tests; never by the web workers.
SecantusDB is GPL-2.0 and is only ever run as the `secantusd-py` program, never
imported. It is always given an explicit `--config` (otherwise it would pick up
any secantusd.toml in the working directory) and its own storage path (two
servers cannot share one).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
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

    def start(self, timeout: float = 30.0) -> None:
        if port_open(self.port):
            raise EmbeddedDBError(f"port {self.port} is already in use")
        self.home = self.home.resolve()
        storage = self.home / "data"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.home / "secantusd.toml"
        config.write_text(CONFIG.format(port=self.port, storage=storage,
                                        cache_size=self.cache_size))
        with (self.home / "secantusd.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own fixed command line
                [executable(), "--config", str(config)],
                cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
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
