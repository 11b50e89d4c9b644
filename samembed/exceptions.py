"""The exceptions samembed raises, and whether each is worth retrying.

    SamembedError                 base; `permanent` says whether retrying can help
    ├── DatabaseUnavailable       MongoDB unreachable or too slow (transient):
    │                             the read path serves its last good copy, or 503
    ├── Conflict                  a compare-and-set write lost to another writer
    │                             (permanent for that attempt: re-read, re-apply)
    └── SlugTaken                 a slug another story holds, now or in its history

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
