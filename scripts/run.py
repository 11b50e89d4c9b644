"""`make run`: the embedded database, set-up commands and gunicorn, as one unit.

Starts SecantusDB under var/db (unless MONGODB_URI is set), creates indexes,
loads the demo stories, collects static files, then serves with gunicorn and
deploy/gunicorn.conf.py on 127.0.0.1:$PORT, with `manage.py ingest --loop`
collecting the stories' sources beside it (its own process, as in
production). Ctrl-C or SIGTERM stops everything it started within
STOP_WITHIN seconds (under the 10 s most supervisors allow before SIGKILL), and
every child gets a parent-death signal, so even a SIGKILL leaves nothing
running. Problems are reported in one line, not a traceback.

    python scripts/run.py [VAR_DIR]    # VAR_DIR defaults to ./var (tests use their own)
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from samembed.embedded_db import (  # noqa: E402
    EmbeddedDB,
    EmbeddedDBError,
    die_with_parent,
    port_open,
)

PYTHON = sys.executable
VAR = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "var"
# Children are stopped together: gunicorn's graceful timeout and the ingest round in
# flight get most of it, the database the rest.
STOP_WITHIN = 8.0
CHILDREN_WITHIN = 5.5


def fail(message: str) -> None:
    print(f"make run: {message}", file=sys.stderr)
    sys.exit(1)


def secret_key() -> str:
    path = VAR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def manage(*args: str) -> str:
    result = subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        fail(f"manage.py {args[0]} failed: {lines[-1] if lines else result.returncode}")
    return result.stdout


def main() -> None:
    VAR.mkdir(exist_ok=True)
    os.environ.setdefault("SECRET_KEY", secret_key())
    port = int(os.environ.get("PORT", "8000"))
    if port_open(port):
        fail(f"port {port} is already in use; set PORT to another port")

    db = None
    if os.environ.get("MONGODB_URI"):
        print(f"Using the database at MONGODB_URI ({os.environ['MONGODB_URI'].split('@')[-1]})")
    else:
        db = EmbeddedDB(VAR / "db", int(os.environ.get("EMBEDDED_DB_PORT", "27018")))
        try:
            db.start()
        except EmbeddedDBError as e:
            fail(f"cannot start the embedded MongoDB: {e}")
        os.environ["MONGODB_URI"] = db.uri
        print(f"Embedded MongoDB (SecantusDB) on 127.0.0.1:{db.port}, data in var/db/")

    web: subprocess.Popen[bytes] | None = None
    ingest: subprocess.Popen[bytes] | None = None

    def stop(*_: object) -> None:
        started = time.monotonic()
        children = [p for p in (ingest, web) if p is not None and p.poll() is None]
        for process in children:
            process.terminate()
        for process in children:
            try:
                process.wait(max(0.0, CHILDREN_WITHIN - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if db is not None:
            db.stop(max(0.5, STOP_WITHIN - (time.monotonic() - started)))

    def on_signal(signum: int, _frame: object) -> None:
        # Only unwind here: the main thread may be inside web.wait(), and stopping
        # from a signal handler would wait on the same process again.
        raise SystemExit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        manage("ensure_indexes")
        manage("migrate", "--noinput")
        manage("load_demo")
        editor = manage("create_dev_editor", str(VAR / "dev-editor-password")).split()
        manage("collectstatic", "--noinput")
        web = subprocess.Popen(
            [str(Path(PYTHON).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py"], cwd=ROOT,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - only prctl and getppid
        )
        deadline = time.monotonic() + 30
        while not port_open(port):
            if web.poll() is not None or time.monotonic() > deadline:
                fail("gunicorn did not start; see the messages above")
            time.sleep(0.1)
        ingest = subprocess.Popen([PYTHON, str(ROOT / "manage.py"), "ingest", "--loop"],
                                  cwd=ROOT, preexec_fn=die_with_parent())  # noqa: PLW1509
        base = f"http://127.0.0.1:{port}"
        print(
            f"\nsamembed is running.\n"
            f"  demo page (publisher view): {base}/\n"
            f"  demo embed:                 {base}/e/demo\n"
            f"  live demo on a big screen:  {base}/screen/demo-live\n"
            f"  story page:                 {base}/s/demo\n"
            f"  story JSON:                 {base}/api/v1/stories/demo\n"
            f"  studio:                     {base}/studio/  "
            f"(user {editor[0]}, password {editor[1]})\n"
            f"Sources added in the studio are collected by the ingest loop.\n"
            f"Ctrl-C stops the server, the ingest loop and the database.\n",
            flush=True,
        )
        web.wait()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop()


if __name__ == "__main__":
    main()
