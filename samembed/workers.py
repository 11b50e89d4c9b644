"""The gunicorn worker class: uvicorn's event loop serving `samembed.asgi`.

Chosen by measurement (README, "Performance"): a cache hit answered by the
ASGI fast path under uvicorn is several times faster than any WSGI worker
could serve even a trivial callable on this hardware. Access logs are off
(a log line per embed view costs more than serving it).
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        "proxy_headers": True,
    }
