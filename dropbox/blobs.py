"""Where ciphertext lives. Only sealed envelopes are ever written here.

The file store writes a temporary file, fsyncs it, renames it into place and fsyncs the folder;
only then may the caller commit the database row that points at it. Intake undoes its own blobs
when a submission fails (dropbox.intake); a crash (the process killed between rename and commit)
can still leave an orphan blob, never a row without its blob. `sweep_orphans` deletes such blobs once
they are two days old, given the ids the database names; a crashed writer's `incoming/*.tmp` files
are swept by `sweep_incoming`, run with the uploads sweep.

Invariant 2 (the received day, not the second): a blob's mtime and atime are set to midnight UTC of
the day it arrived, and so is its folder's. Its ctime cannot be set from user space; it still records
the second, which is why the blob folder must not be readable by anyone but the service.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

ORPHAN_MIN_DAYS = 2  # an orphan blob is swept once its arrival day is this many days past


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...
    def open(self, blob_id: str) -> BinaryIO: ...
    def size(self, blob_id: str) -> int: ...
    def delete(self, blob_id: str) -> None: ...


class BlobWriter(Protocol):
    blob_id: str

    def write(self, data: bytes | memoryview) -> int: ...


class FileBlobStore:
    """Blobs as files under one folder, fanned out by the first two characters of their id."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.incoming = self.root / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, blob_id: str) -> Path:
        if not (len(blob_id) == 32 and all(c in "0123456789abcdef" for c in blob_id)):
            raise KeyError("malformed blob id")
        return self.root / blob_id[:2] / blob_id

    @contextmanager
    def writer(self) -> Iterator[_FileBlobWriter]:
        """Yield a writer; on a clean exit the blob is durable under `writer.blob_id`."""
        blob_id = secrets.token_hex(16)
        tmp = self.incoming / f"{blob_id}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                yield _FileBlobWriter(blob_id, f)
                f.flush()
                os.fsync(f.fileno())
            self._place(tmp, blob_id)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def adopt(self, path: Path, blob_id: str | None = None) -> str:
        """Move a finished file (e.g. a completed resumable upload) into the store, under `blob_id`
        when given (a name its owner can find again after a crash, intake.Uploads.blob_id) and free,
        else under a random one: a name already taken is never overwritten."""
        if blob_id is None or self.exists(blob_id):
            blob_id = secrets.token_hex(16)
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        self._place(path, blob_id)
        return blob_id

    def give_back(self, blob_id: str, path: Path) -> None:
        """Undo `adopt`: move the blob back to where it came from (a submission failed after it).
        Both folders are synced: a give-back lost in a power cut would leave the upload's row
        without its file and the blob an orphan."""
        final = self.path(blob_id)
        os.replace(final, path)
        _fsync_dir(Path(path).parent)
        _fsync_dir(final.parent)

    def _place(self, source: Path, blob_id: str) -> None:
        """Rename a durable file into place, its times (and its folder's) coarsened to the day."""
        day = received_day_timestamp()
        os.utime(source, (day, day))
        final = self.path(blob_id)
        if not final.parent.is_dir():
            final.parent.mkdir(exist_ok=True, mode=0o700)
            _fsync_dir(self.root)  # a new fan-out folder must outlast a power cut as its blob does
        os.replace(source, final)
        _fsync_dir(final.parent)
        os.utime(final.parent, (day, day))

    def sweep_incoming(self, max_age_s: float) -> int:
        """Delete temporary files a crashed writer left in incoming/ (untouched for `max_age_s`)."""
        removed = 0
        for tmp in self.incoming.glob("*.tmp"):
            try:
                if time.time() - tmp.stat().st_mtime >= max_age_s:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:  # renamed into place or cleaned up meanwhile
                continue
        return removed

    def sweep_orphans(self, referenced: Callable[[], Collection[str]], now: float | None = None) -> int:
        """Delete blobs no row names (a process killed between placing a blob and committing its row)
        that arrived at least ORPHAN_MIN_DAYS days ago. A blob's mtime is its arrival day's midnight,
        so a blob of today or yesterday is never touched: a submission still on its way between its
        rename and its commit is seconds old. `referenced` is read after the listing, so a blob
        committed in between counts as named."""
        now = time.time() if now is None else now
        old = [p for p in self.root.glob("??/*") if _stale(p, now - ORPHAN_MIN_DAYS * 86400)]
        if not old:
            return 0
        named = set(referenced())
        removed = 0
        for path in old:
            if path.name not in named:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def open(self, blob_id: str) -> BinaryIO:
        return open(self.path(blob_id), "rb")

    def size(self, blob_id: str) -> int:
        return self.path(blob_id).stat().st_size

    def delete(self, blob_id: str) -> None:
        self.path(blob_id).unlink(missing_ok=True)

    def exists(self, blob_id: str) -> bool:
        return self.path(blob_id).is_file()


def received_day_timestamp() -> float:
    """Midnight UTC of today, as a file time: all a blob's times may say is the day it arrived."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC).timestamp()


class _FileBlobWriter:
    def __init__(self, blob_id: str, f: BinaryIO) -> None:
        self.blob_id = blob_id
        self._f = f

    def write(self, data: bytes | memoryview) -> int:
        return self._f.write(data)


def _stale(path: Path, before: float) -> bool:
    try:
        return path.stat().st_mtime <= before
    except FileNotFoundError:  # deleted meanwhile (retention, a failed submission)
        return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
