"""gunicorn settings for samembed, used by `make run`, `make bench` and production.

Every value can be overridden with the environment variables documented in the
README (PORT, WEB_CONCURRENCY, GUNICORN_BIND).
"""

import os
import shutil
import tempfile

# One worker per core: uvicorn workers are single-threaded event loops, so more
# workers than cores only adds context switches (measured in the README).
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "samembed.workers.Worker"
wsgi_app = "samembed.asgi:application"

# A burst of connections must queue, not be refused.
backlog = 2048
# Longer than any load balancer's idle timeout (60 s is common), so the balancer,
# not us, closes idle connections and never sends on a socket we just closed.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = 30
graceful_timeout = 10
# Recycle workers now and then, staggered so they never restart together. A
# recycle closes that worker's keep-alive connections, so it must be rare: at
# ~10,000 cache hits/s per worker, 1,000,000 meant every 100 s (measured: 64
# socket errors in a 60 s bench); 20,000,000 is every half hour at full load.
# Memory is flat without it (make soak); this is only a safety net.
max_requests = 20_000_000
max_requests_jitter = 4_000_000
# Each worker creates its own MongoClient lazily, after the fork.
preload_app = False
# The proxies whose X-Forwarded-For/-Proto are believed (README: FORWARDED_ALLOW_IPS):
# nginx on this machine by default. "*" would let any client choose its address.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "samembed"
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn), which
# two instances on one machine (make run beside the tests) would fight over.
control_socket_disable = True
# The heartbeat file on tmpfs: a container's overlay disk can stall it.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108


def on_starting(server):
    """Give this master's workers one metrics directory (samembed.metrics)."""
    if not os.environ.get("METRICS_DIR"):
        os.environ["METRICS_DIR"] = tempfile.mkdtemp(prefix="samembed-metrics-")
        os.environ["SAMEMBED_METRICS_DIR_OWNED"] = "1"
    else:
        os.makedirs(os.environ["METRICS_DIR"], exist_ok=True)
        # Counters of a previous run would otherwise be summed with this one's.
        for stale in os.scandir(os.environ["METRICS_DIR"]):
            if stale.name.endswith(".json"):
                os.unlink(stale.path)


def on_exit(server):
    if os.environ.pop("SAMEMBED_METRICS_DIR_OWNED", None):
        shutil.rmtree(os.environ["METRICS_DIR"], ignore_errors=True)
