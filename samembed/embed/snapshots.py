"""The last good copy of every published story's first page, on local disk.

Read path, failure side only. The response cache (`samembed.embed.cache`) saves
here each fresh render of a published story's first page at its default size
(`/e/demo`, `/e/demo?template=grid`, `/s/demo`, `/api/v1/stories/demo`,
`/screen/demo`, `/live/demo`: no `limit`, no `after`, so the set of files is
bounded by the published stories, not by what a client asks for), and removes
the file when such a key renders anything else (unpublished, renamed, deleted).
It reads a file only when the database fails and memory holds no copy: a worker
that starts during an outage (added, or recycled by `max_requests`) then serves
what its siblings served. The cached hit path never touches it.

Every worker of an instance shares the directory (EMBED_SNAPSHOT_DIR); instances
that mount one shared directory share it too. One file per key, named by the
key's hash, written under a temporary name and renamed, so a reader never sees
half a file: a JSON header line, then the body. An unchanged render rewrites
nothing; it only refreshes the file's time now and then, which is the copy's age.

The directory has a byte bound (EMBED_SNAPSHOT_MAX_BYTES): now and then, after a
write, a worker adds up the files and removes the least recently rendered ones
(oldest file time) until the rest fit, and any temporary file a crash left behind.

Beside the copies, each story's id under its slug (`story_id`), refreshed with
them: while the database is away, a worker that never met a story can still
name the keys of a rollout sticky on the story's id (`samembed.flags.learn_story`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from samembed.embed.cache import Entry

logger = logging.getLogger(__name__)

# An unchanged copy's file time is refreshed at most this often.
TOUCH_INTERVAL = 60.0
# A worker adds up the directory at most this often (it is a listing and a stat
# per file, on the render path): the bound can be overshot by what all workers
# write in that time.
SWEEP_INTERVAL = 30.0
# A sweep leaves the directory this far under its bound, so the next writes do not
# each start one.
SWEEP_TO = 0.9
# A temporary file older than this is a crash's leftover, not a write in progress.
ABANDONED = 600.0


# A story's id by its slug is kept here too (one small file per slug): a story
# sticky on its id in a rollout has its variant in its keys, and a worker that
# starts during an outage needs the id to name them. Kept this long untouched.
IDS_MAX_AGE = 30 * 86400
# The slugs whose id a process remembers having written (to skip rewriting them).
IDS_REMEMBERED = 10_000
_STORY_PATHS = ("/e/", "/s/", "/screen/", "/api/v1/stories/")


def write_atomically(path: Path, data: bytes, prefix: str = ".tmp-") -> None:
    """Write `path` under a temporary name in its directory, then rename it: a
    reader, in this process or another, sees the old file or the new, never half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _first_page(key: str) -> bool:
    return "limit=" not in key and "after=" not in key


def _slug_of(key: str) -> str | None:
    path = key.partition("#")[0].partition("?")[0]
    for prefix in _STORY_PATHS:
        if path.startswith(prefix) and "/" not in path[len(prefix):]:
            return path[len(prefix):] or None
    return None


class SnapshotStore:
    """A directory of last good copies, one file per cache key."""

    def __init__(self, directory: Path | str, max_bytes: int = 256 * 2**20) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._swept = 0.0  # monotonic time of this process's last sweep
        # key -> (etag, wall time of the last write or touch): skip identical writes.
        self._saved: dict[str, tuple[bytes | None, float]] = {}
        # slug -> the story id this process last wrote for it.
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ready = False

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
                                 + ".snap")

    def _id_path(self, slug: str) -> Path:
        return self.directory / (hashlib.blake2b(b"slug:" + slug.encode(),
                                                 digest_size=16).hexdigest() + ".id")

    def story_id(self, slug: str) -> str | None:
        """The id of the story a copy here was last saved for under `slug`, if any."""
        try:
            found = self._id_path(slug).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return found if len(found) == 24 and all(c in "0123456789abcdef" for c in found) \
            else None

    def _keep_id(self, key: str, story_id: str, now: float) -> None:
        slug = _slug_of(key)
        if slug is None:
            return
        path = self._id_path(slug)
        if self._ids.get(slug) == story_id:
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
                return
        write_atomically(path, story_id.encode())
        if len(self._ids) >= IDS_REMEMBERED:
            self._ids.clear()
        self._ids[slug] = story_id

    def record(self, key: str, entry: Entry) -> None:
        """After a fresh render: keep `entry` if it is a published first page, else
        forget any copy of `key`. Never raises: a full disk must not fail a render."""
        if not _first_page(key):
            return
        try:
            if entry.status == 200 and entry.story_id is not None:
                self._save(key, entry)
            elif key in self._saved or self._path(key).exists():
                with self._lock:
                    self._saved.pop(key, None)
                self._path(key).unlink(missing_ok=True)
        except OSError as e:
            logger.warning("snapshot of %s not written: %s", key, e)

    def _save(self, key: str, entry: Entry) -> None:
        now = time.time()
        path = self._path(key)
        previous = self._saved.get(key)
        if previous is not None and previous[0] == entry.etag and entry.etag is not None:
            if now - previous[1] < TOUCH_INTERVAL:
                return
            try:
                os.utime(path)
                self._saved[key] = (entry.etag, now)
                if entry.story_id is not None:
                    self._keep_id(key, entry.story_id, now)
                return
            except FileNotFoundError:
                pass  # another worker's sweep removed it: write it again
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._ready = True
        header = json.dumps({
            "key": key, "status": entry.status,
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in entry.headers],
            "etag": entry.etag.decode("ascii") if entry.etag else None,
            "story_id": entry.story_id, "version": entry.version, "slug": entry.slug,
        }).encode()
        write_atomically(path, header + b"\n" + entry.body)
        with self._lock:
            self._saved[key] = (entry.etag, now)
        if entry.story_id is not None:
            self._keep_id(key, entry.story_id, now)
        if time.monotonic() - self._swept >= SWEEP_INTERVAL:
            self.sweep()

    def sweep(self) -> int:
        """Remove the least recently rendered copies until the directory fits its
        bound, and abandoned temporary files; the number of bytes removed."""
        self._swept = time.monotonic()
        files: list[tuple[float, int, Path]] = []
        removed = 0
        now = time.time()
        with os.scandir(self.directory) as listing:
            for item in listing:
                try:
                    stat = item.stat()
                except FileNotFoundError:  # another worker removed it meanwhile
                    continue
                if item.name.startswith(".tmp-"):
                    if now - stat.st_mtime > ABANDONED:
                        removed += self._remove(Path(item.path), stat.st_size)
                elif item.name.endswith(".snap"):
                    files.append((stat.st_mtime, stat.st_size, Path(item.path)))
                elif item.name.endswith(".id") and now - stat.st_mtime > IDS_MAX_AGE:
                    removed += self._remove(Path(item.path), stat.st_size)
        total = sum(size for _, size, _ in files)
        if total <= self.max_bytes:
            return removed
        files.sort()
        target = self.max_bytes * SWEEP_TO
        for _, size, path in files:
            if total <= target:
                break
            removed += self._remove(path, size)
            total -= size
        # Whatever this process wrote may be gone: let its next render write again.
        with self._lock:
            self._saved.clear()
        logger.info("snapshots: %d bytes removed to stay within %d", removed, self.max_bytes)
        return removed

    @staticmethod
    def _remove(path: Path, size: int) -> int:
        try:
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def load(self, key: str) -> tuple[Entry, float] | None:
        """The saved copy of `key` and its age in seconds, or None."""
        from samembed.embed.cache import Entry

        path = self._path(key)
        try:
            with path.open("rb") as f:
                age = time.time() - os.fstat(f.fileno()).st_mtime
                header_line = f.readline()
                body = f.read()
            header = json.loads(header_line)
            if header["key"] != key:
                return None
            entry = Entry(
                int(header["status"]),
                [(n.encode("latin-1"), v.encode("latin-1")) for n, v in header["headers"]],
                body,
                etag=header["etag"].encode("ascii") if header["etag"] else None,
                story_id=header["story_id"], version=header["version"], slug=header["slug"],
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            logger.warning("snapshot of %s unreadable: %s", key, e)
            return None
        return entry, max(0.0, age)
