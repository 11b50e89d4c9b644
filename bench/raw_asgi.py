"""The application's ceiling for `make bench`: an ASGI callable that answers every
request with one fixed response and does nothing else.

bench/run.py saves the status, headers and body of a cached `/e/demo` (br) to
the file named by RAW_RESPONSE and serves this module under the same gunicorn
settings and worker class as samembed (`deploy/gunicorn.conf.py`), so what our
fast path costs above gunicorn + uvicorn + the socket is the gap between the two.
Like the fast path, it sends its answer as one prepared message when the worker
offers that extension (samembed.workers), so the ceiling has the same send.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from samembed.workers import offers_prepared, prepared

_saved = json.loads(Path(os.environ["RAW_RESPONSE"]).read_text())
_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in _saved["headers"]]
_body = bytes.fromhex(_saved["body_hex"])
_START = {"type": "http.response.start", "status": _saved["status"], "headers": _headers}
_BODY = {"type": "http.response.body", "body": _body}
_WHOLE = prepared(_saved["status"], _headers, _body)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The saved response for any HTTP request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if _WHOLE is not None and offers_prepared(scope):
        await send(_WHOLE)
        return
    await send(_START)
    await send(_BODY)
