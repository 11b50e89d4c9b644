"""Media originals in GridFS (bucket `media`), shared by every instance.

Content-addressed: a file's id is the SHA-256 of its bytes, so storing the same
image twice keeps one copy. Originals are stored only after
`samembed.media.images.normalise` re-encoded them (no metadata survives).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gridfs import GridFSBucket
from gridfs.errors import FileExists, NoFile
from pymongo import WriteConcern
from pymongo.errors import DuplicateKeyError

from samembed.mongo import database

BUCKET = "media"


@dataclass(frozen=True)
class Original:
    key: str
    data: bytes
    content_type: str


def _bucket() -> GridFSBucket:
    return GridFSBucket(database(), BUCKET,
                        write_concern=WriteConcern("majority", j=True))


def put(data: bytes, content_type: str) -> str:
    """Store `data` (idempotent); returns its key."""
    key = hashlib.sha256(data).hexdigest()
    bucket = _bucket()
    if next(iter(bucket.find({"_id": key}).limit(1)), None) is not None:
        return key
    try:
        bucket.upload_from_stream_with_id(key, key, data, metadata={"contentType": content_type})
    except (FileExists, DuplicateKeyError):
        pass  # stored by a concurrent writer: same bytes, same key
    return key


def get(key: str) -> Original | None:
    try:
        stream = _bucket().open_download_stream(key)
    except NoFile:
        return None
    with stream:
        meta = stream.metadata or {}
        return Original(key, stream.read(), meta.get("contentType", "application/octet-stream"))
