"""`/img/<signature>/<preset>/<key>.<format>`: stored media at standard sizes only.

A preset that is not in the list is 404 whatever the signature; a wrong
signature is 403. Derived images are made once per instance and kept on local
disk (bounded: the oldest files go first), then served as files with a year of
immutable caching. Failures are cached for a minute at most. Behind nginx,
MEDIA_ACCEL_REDIRECT hands the file to nginx (`X-Accel-Redirect`), so the
worker only checks the signature and never streams image bytes. Without
nginx, `cached_file()` lets the ASGI fast path answer a derived image already
on disk without Django's request cycle.
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
_FAST = re.compile(r"^/img/([A-Za-z0-9_-]{1,100})/([a-z0-9]{1,20})/([0-9a-f]{64})\.(webp|jpg)$")
YEAR = 31_536_000
SWEEP_EVERY = 200
_writes = 0
_sweep_lock = threading.Lock()


def _header_values(max_age: int) -> dict[str, str]:
    immutable = ", immutable" if max_age > 60 else ""
    return {"Cache-Control": f"public, max-age={max_age}{immutable}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
            "Cross-Origin-Resource-Policy": "cross-origin"}


_FILE_HEADERS = [(k.lower().encode(), v.encode()) for k, v in _header_values(YEAR).items()]


def _headers(response: HttpResponseBase, max_age: int) -> HttpResponseBase:
    for name, value in _header_values(max_age).items():
        response[name] = value
    return response


def _path(preset: str, key: str, fmt: str) -> Path:
    return Path(settings.MEDIA_CACHE_DIR) / preset / key[:2] / f"{key}.{fmt}"


def cached_file(path: str) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
    """Headers and bytes of a signed derived image already on disk, for the fast path.

    None means "let Django answer": misses to derive, refusals, X-Accel-Redirect.
    """
    match = _FAST.match(path)
    if match is None or settings.MEDIA_ACCEL_REDIRECT:
        return None
    signature, preset, key, fmt = match.groups()
    if preset not in PRESETS or not verify(signature, preset, key, fmt):
        return None
    try:
        body = _path(preset, key, fmt).read_bytes()  # small and in the page cache
    except OSError:
        return None
    return [(b"content-type", OUTPUT_FORMATS[fmt].encode()),
            (b"content-length", str(len(body)).encode()), *_FILE_HEADERS], body


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
    path = _path(preset, key, fmt)
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
        return _headers(handover, YEAR)
    return _headers(FileResponse(path.open("rb"), content_type=OUTPUT_FORMATS[fmt]), YEAR)
