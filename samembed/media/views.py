"""`/img/<signature>/<preset>/<key>.<format>`: stored media at standard sizes only.

A preset that is not in the list is 404 whatever the signature; a wrong
signature is 403. Derived images are made once per instance and kept on local
disk (bounded: the oldest files go first), then served as files with a year of
immutable caching. Failures are cached for a minute at most. Behind nginx,
MEDIA_ACCEL_REDIRECT hands the file to nginx (`X-Accel-Redirect`), so the
worker only checks the signature and never streams image bytes.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from samembed.media.images import OUTPUT_FORMATS, PRESETS, ImageRefused, derive
from samembed.media.signing import verify
from samembed.repositories import media

KEY = re.compile(r"^[0-9a-f]{64}$")
SWEEP_EVERY = 200
_writes = 0
_sweep_lock = threading.Lock()


def _headers(response: HttpResponseBase, max_age: int) -> HttpResponseBase:
    immutable = ", immutable" if max_age > 60 else ""
    response["Cache-Control"] = f"public, max-age={max_age}{immutable}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _refuse(status: int, message: str) -> HttpResponseBase:
    return _headers(HttpResponse(message + "\n", status=status,
                                 content_type="text/plain; charset=utf-8"), 60)


def sweep(root: Path, max_bytes: int) -> int:
    """Delete the oldest derived files until the cache fits; returns files removed."""
    files = [(p.stat().st_mtime, p.stat().st_size, p) for p in root.rglob("*.*") if p.is_file()]
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
    return removed


def _store(path: Path, data: bytes) -> None:
    global _writes
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a concurrent reader never sees half a file.
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)
    with _sweep_lock:
        _writes += 1
        due = _writes % SWEEP_EVERY == 0
    if due:
        sweep(Path(settings.MEDIA_CACHE_DIR), settings.MEDIA_CACHE_MAX_BYTES)


@xframe_options_exempt
@require_safe
def image(request: HttpRequest, signature: str, preset: str, key: str,
          fmt: str) -> HttpResponseBase:
    if preset not in PRESETS or fmt not in OUTPUT_FORMATS or not KEY.match(key):
        return _refuse(404, f"Unknown size or image; sizes: {', '.join(PRESETS)}.")
    if not verify(signature, preset, key, fmt):
        return _refuse(403, "Bad signature.")
    path = Path(settings.MEDIA_CACHE_DIR) / preset / key[:2] / f"{key}.{fmt}"
    if not path.exists():
        original = media.get(key)
        if original is None:
            return _refuse(404, "No such image.")
        try:
            _store(path, derive(original.data, preset, fmt))
        except ImageRefused:
            return _refuse(404, "The image cannot be shown.")
    if settings.MEDIA_ACCEL_REDIRECT:
        handover = HttpResponse(content_type=OUTPUT_FORMATS[fmt])
        handover["X-Accel-Redirect"] = (
            f"{settings.MEDIA_ACCEL_REDIRECT}{path.relative_to(settings.MEDIA_CACHE_DIR)}")
        return _headers(handover, 31_536_000)
    return _headers(FileResponse(path.open("rb"), content_type=OUTPUT_FORMATS[fmt]), 31_536_000)
