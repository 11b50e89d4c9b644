"""Copy on collection: a post's images and avatar, fetched once and kept.

The ingest pipeline (and the push API and import, which run it) hands every
media URL of a new or changed post to `copy()`: fetched through the guarded
outbound client (10 MB, 5 s, 3 redirects, public addresses only), decoded and
re-encoded by `images.normalise` (no metadata), stored in GridFS. The post then
refers to `media:<key>`, so it keeps its images after the platform expires or
deletes them, and every template serves them through signed `/img/` URLs.
"""

from __future__ import annotations

from dataclasses import dataclass

from samembed import outbound
from samembed.media import images
from samembed.media.signing import STORED_PREFIX
from samembed.repositories import media

FETCH_DEADLINE = 5.0
MAX_REDIRECTS = 3
ACCEPT = "image/webp,image/jpeg,image/png,image/gif;q=0.9,*/*;q=0.1"

# What `copy` raises: the reason goes to the log and the post keeps no image.
CopyFailed = (outbound.Refused, outbound.FetchFailed, images.ImageRefused)


@dataclass(frozen=True)
class Copied:
    url: str  # "media:<key>"
    width: int
    height: int


def copy(url: str, client: outbound.Fetcher | None = None) -> Copied:
    """Fetch, normalise and store the image at `url`; raises one of CopyFailed."""
    response = (client or outbound.fetcher()).fetch(
        url, max_bytes=images.MAX_BYTES, deadline=FETCH_DEADLINE,
        max_redirects=MAX_REDIRECTS, headers={"Accept": ACCEPT})
    normalised = images.normalise(response.body)
    key = media.put(normalised.data, normalised.content_type)
    return Copied(STORED_PREFIX + key, normalised.width, normalised.height)
