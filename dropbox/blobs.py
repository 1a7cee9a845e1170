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

Several instances on several machines (config `blob_store = "postgresql"`, docs/operator-guide.md)
share one store every one of them reaches: LargeObjectStore (dropbox/large_objects.py) keeps each
blob as a PostgreSQL large object, named in the table blob_objects, written and read in chunks, never
whole in memory. The same rule holds: a blob is committed before the row that names it.
`open_store(cfg)` picks the store; the rest of the service sees only the BlobStore interface.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from sqlalchemy import Engine

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from .config import Config

ORPHAN_MIN_DAYS = 2  # an orphan blob is swept once its arrival day is this many days past
PIECE_CHUNK = 64 * 1024  # bytes of an upload's piece copied at a time into a .part file


class BlobStore(Protocol):
    """What the service asks of a blob store. `writer()` is a context manager: on a clean exit the blob
    is durable under `writer.blob_id`, and only then may a row name it. `open` streams a blob back
    (FileNotFoundError if there is none). `incoming` is a private folder on this machine for
    ciphertext on its way (export and reply bundles while a clerk transfers them)."""

    incoming: Path

    def writer(self, blob_id: str | None = None) -> AbstractContextManager[BlobWriter]: ...
    def blob_ids(self) -> Iterator[str]: ...
    def open(self, blob_id: str) -> BinaryIO: ...
    def size(self, blob_id: str) -> int: ...
    def exists(self, blob_id: str) -> bool: ...
    def delete(self, blob_id: str) -> None: ...
    def sweep_incoming(self, max_age_s: float) -> int: ...
    def sweep_orphans(self, referenced: Callable[[], Collection[str]], now: float | None = None) -> int: ...

    # An upload's pieces until it is filed (dropbox/uploads.py, Uploads). `files_by_moving`: filing
    # moves the staged bytes into the store outside the database's transaction (the file store), so a
    # crash between the move and the commit must be put back; else filing is part of the transaction.
    files_by_moving: bool

    def stage(self, session: Session, upload_id: str, blob_id: str) -> None: ...
    def staged_exists(self, upload_id: str) -> bool: ...
    def open_staged(self, upload_id: str) -> BinaryIO: ...
    def writing_staged(self, session: Session, upload_id: str) -> AbstractContextManager[PieceWriter]: ...
    def file_staged(self, session: Session, upload_id: str, blob_id: str) -> str: ...
    def unfile_staged(self, upload_id: str, blob_id: str) -> None: ...
    def discard_staged(self, upload_id: str, session: Session | None = None) -> None: ...
    def staged_idle(self, session: Session, now: float) -> dict[str, float]: ...
    def staged_blob_ids(self, session: Session) -> set[str]: ...


class PieceWriter(Protocol):
    def write(self, offset: int, body: BinaryIO, length: int) -> int:
        """Copy `length` bytes of `body` to `offset`; the staged bytes end after them. Returns the bytes
        copied: fewer if the body ended early, and then nothing of this piece is kept."""
        ...


class BlobWriter(Protocol):
    blob_id: str

    def write(self, data: bytes | memoryview) -> int: ...


_BLOB_ID = re.compile(r"[0-9a-f]{32}")


class FileBlobStore:
    """Blobs as files under one folder, fanned out by the first two characters of their id."""

    files_by_moving = True

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root = str(self.root)  # the hot paths join strings: pathlib cost more than the syscalls
        self.incoming = self.root / "incoming"
        self.incoming.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.uploads = self.root / "uploads"  # open uploads' pieces, a .part file each
        self.uploads.mkdir(exist_ok=True, mode=0o700)

    def path(self, blob_id: str) -> Path:
        return Path(self._file(blob_id))

    def _file(self, blob_id: str) -> str:
        if _BLOB_ID.fullmatch(blob_id) is None:
            raise KeyError("malformed blob id")
        return f"{self._root}/{blob_id[:2]}/{blob_id}"

    @contextmanager
    def writer(self, blob_id: str | None = None) -> Iterator[_FileBlobWriter]:
        """Yield a writer; on a clean exit the blob is durable under `writer.blob_id` (a new random id,
        or `blob_id`, which `sealdrop blobs migrate` gives to keep a blob's name from another store)."""
        blob_id = blob_id or secrets.token_hex(16)
        self._file(blob_id)  # a malformed name is refused before anything is written
        tmp = f"{self._root}/incoming/{blob_id}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                yield _FileBlobWriter(blob_id, f)
                f.flush()
                os.fsync(f.fileno())
            self._place(tmp, blob_id)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def adopt(self, path: Path, blob_id: str | None = None) -> str:
        """Move a finished file (e.g. a completed resumable upload) into the store, under `blob_id`
        when given (a name its owner can find again after a crash, uploads.Uploads.blob_id) and free,
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

    def _place(self, source: Path | str, blob_id: str) -> None:
        """Rename a durable file into place, its times (and its folder's) coarsened to the day."""
        day = received_day_timestamp()
        os.utime(source, (day, day))
        final = self._file(blob_id)
        folder = os.path.dirname(final)
        try:
            os.replace(source, final)
        except FileNotFoundError:  # the fan-out folder's first blob (asking first cost a stat every time)
            if not os.path.exists(source):
                raise
            os.makedirs(folder, mode=0o700, exist_ok=True)
            _fsync_dir(self._root)  # a new fan-out folder must outlast a power cut as its blob does
            os.replace(source, final)
        _fsync_dir(folder)
        os.utime(folder, (day, day))

    def sweep_incoming(self, max_age_s: float) -> int:
        """Delete temporary files a crashed writer left in incoming/ (untouched for `max_age_s`)."""
        return _sweep_tmp(self.incoming, max_age_s)

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
        return open(self._file(blob_id), "rb")

    def blob_ids(self) -> Iterator[str]:
        """Every filed blob's id (an upload's .part file is none)."""
        for path in self.root.glob("??/*"):
            if path.parent.name == path.name[:2]:
                yield path.name

    def size(self, blob_id: str) -> int:
        return os.stat(self._file(blob_id)).st_size

    def delete(self, blob_id: str) -> None:
        self.path(blob_id).unlink(missing_ok=True)

    def exists(self, blob_id: str) -> bool:
        return self.path(blob_id).is_file()

    # An upload's pieces: uploads/<upload id>.part, moved into the store when the upload is filed.

    def staged_path(self, upload_id: str) -> Path:
        return self.uploads / f"{upload_id}.part"

    def stage(self, session: Session, upload_id: str, blob_id: str) -> None:
        self.staged_path(upload_id).touch(mode=0o600)

    def staged_exists(self, upload_id: str) -> bool:
        return self.staged_path(upload_id).exists()

    def open_staged(self, upload_id: str) -> BinaryIO:
        return open(self.staged_path(upload_id), "rb")

    @contextmanager
    def writing_staged(self, session: Session, upload_id: str) -> Iterator[_FilePieces]:
        """One writer per upload at a time, across threads and processes: an exclusive lock on the .part
        file, held to the end of the block, in which the caller commits the new offset. FileNotFoundError
        if the upload has no .part file (finished or swept a moment ago)."""
        with open(self.staged_path(upload_id), "r+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # closing the file releases it
            yield _FilePieces(f)

    def file_staged(self, session: Session, upload_id: str, blob_id: str) -> str:
        return self.adopt(self.staged_path(upload_id), blob_id)

    def unfile_staged(self, upload_id: str, blob_id: str) -> None:
        """Undo `file_staged` (a filing failed, or a crash cut it off before its commit)."""
        path = self.staged_path(upload_id)
        self.give_back(blob_id, path)
        os.utime(path)  # written to just now, as far as the sweep of idle uploads should know

    def discard_staged(self, upload_id: str, session: Session | None = None) -> None:
        self.staged_path(upload_id).unlink(missing_ok=True)

    def staged_idle(self, session: Session, now: float) -> dict[str, float]:
        """By upload id: seconds since its .part file was last written to."""
        idle = {}
        for path in self.uploads.glob("*.part"):
            try:
                idle[path.stem] = now - path.stat().st_mtime
            except FileNotFoundError:  # filed a moment ago
                continue
        return idle

    def staged_blob_ids(self, session: Session) -> set[str]:
        return set()  # a .part file is no blob until it is filed


def received_day_timestamp() -> float:
    """Midnight UTC of today, as a file time: all a blob's times may say is the day it arrived."""
    today = dt.datetime.now(dt.UTC).date()
    return dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC).timestamp()


class _FilePieces:
    def __init__(self, f: BinaryIO) -> None:
        self._f = f

    def write(self, offset: int, body: BinaryIO, length: int) -> int:
        """Copy PIECE_CHUNK at a time (a piece is never held whole)."""
        self._f.seek(offset)
        copied = 0
        while copied < length and (chunk := body.read(min(PIECE_CHUNK, length - copied))):
            self._f.write(chunk)
            copied += len(chunk)
        self._f.truncate(offset if copied != length else None)  # an early end keeps nothing of it
        return copied


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


def _fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sweep_tmp(folder: Path, max_age_s: float) -> int:
    removed = 0
    for tmp in folder.glob("*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime >= max_age_s:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:  # renamed into place or cleaned up meanwhile
            continue
    return removed


def open_store(cfg: Config, engine: Engine | None = None) -> BlobStore:
    """The instance's blob store: files under DIR/blobs (the default), or PostgreSQL large objects in
    the instance's database (`blob_store = "postgresql"`), on `engine` when the caller has one."""
    if cfg.blob_store == "postgresql":
        from . import db
        from .large_objects import LargeObjectStore  # imports this module

        return LargeObjectStore(engine or db.make_engine(cfg.database_url), cfg.blob_dir / "incoming")
    return FileBlobStore(cfg.blob_dir)
