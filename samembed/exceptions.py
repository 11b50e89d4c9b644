"""The exceptions samembed raises, and whether each is worth retrying.

    SamembedError                 base; `permanent` says whether retrying can help
    ├── DatabaseUnavailable       MongoDB unreachable or too slow (transient):
    │                             the read path serves its last good copy, or 503
    ├── Conflict                  a compare-and-set write lost to another writer
    │                             (permanent for that attempt: re-read, re-apply)
    ├── SlugTaken                 a slug another story holds, now or in its history
    ├── Refused                   a URL, address or response we will not fetch
    │                             (permanent: the same input is refused again)
    └── FetchFailed               the other host failed: transient, except a 4xx
                                  answer that says the thing is not there

Third-party errors are translated at the boundary that sees them, with
`raise ... from e`, so callers never catch pymongo's classes.
"""

from __future__ import annotations


class SamembedError(Exception):
    permanent = True


class DatabaseUnavailable(SamembedError):
    permanent = False


class Conflict(SamembedError):
    permanent = True


class SlugTaken(SamembedError):
    """The slug is another story's, now or in its history."""

    permanent = True


class Refused(SamembedError):
    """A URL, address or response we will not fetch; the message is for editors and logs."""

    permanent = True


# Answers that may change if asked again later.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class FetchFailed(SamembedError):
    """The other host failed (network error, timeout, HTTP error status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        # 404, 410, 403…: asking again will not bring the image back.
        self.permanent = status is not None and 400 <= status < 500 \
            and status not in RETRYABLE_STATUSES
