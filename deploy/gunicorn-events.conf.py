"""gunicorn settings for the events workers: the embed frames' beacons (events path).

The same application and settings as deploy/gunicorn.conf.py, in a gunicorn of
its own that nginx (deploy/nginx/samembed.conf) sends `POST /api/v1/events` to. Its workers run
at the lowest CPU priority: a beacon costs more than a cached embed (a POST
with a body, then validated and counted), and the reader waits for the embed,
never for the beacon, so when the cores are busy the embeds get them and the
beacons wait. The web workers still answer beacons themselves (`make run`, or
nginx's fallback while this is down).

    EVENTS_BIND (127.0.0.1:8001), EVENTS_CONCURRENCY (2), EVENTS_NICE (19),
    EVENTS_SCHED_IDLE (1: the workers under Linux's SCHED_IDLE policy),
    EVENTS_METRICS_DIR (a directory of its own, made at start and removed at exit)

Its /metrics (on its own port) sums its own workers only: METRICS_DIR, which the
web workers may share with nothing else (they clear it when they start), is not
read here.
"""

import os
import runpy

# Everything of the web workers' settings (keep-alive, forwarded_allow_ips,
# metrics directory hooks), then what differs.
globals().update({name: value for name, value in runpy.run_path(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "gunicorn.conf.py")).items()
    if not name.startswith("__")})

bind = os.environ.get("EVENTS_BIND", "127.0.0.1:8001")
workers = int(os.environ.get("EVENTS_CONCURRENCY", "2"))
proc_name = "samembed-events"
NICE = int(os.environ.get("EVENTS_NICE", "19"))
IDLE = os.environ.get("EVENTS_SCHED_IDLE", "1") == "1"
_web_on_starting = on_starting  # noqa: F821 - defined by gunicorn.conf.py above


def on_starting(server):
    """Give the events workers a metrics directory apart from the web workers' one."""
    os.environ["METRICS_DIR"] = os.environ.get("EVENTS_METRICS_DIR", "")
    _web_on_starting(server)


def post_fork(server, worker):
    """Lower this worker's CPU priority (an unprivileged process may lower its own)."""
    os.nice(NICE - os.nice(0))
    if IDLE and hasattr(os, "sched_setscheduler"):
        # A nice value is a share: a busy niced worker still holds a core for a
        # while when an embed's worker wakes. Under SCHED_IDLE any other task that
        # wakes takes the core at once, so beacons only use what embeds leave.
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError as error:  # a sandbox refusing it: the nice value still holds
            server.log.warning("events worker %s stays at nice %s: %s", worker.pid, NICE, error)
