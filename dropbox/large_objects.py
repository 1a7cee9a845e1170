"""Blobs as PostgreSQL large objects: the store every instance on every machine reaches (config
`blob_store = "postgresql"`; dropbox/blobs.py has the interface, the file store and `open_store`)."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import Connection, Engine, text

from .blobs import ORPHAN_MIN_DAYS, _sweep_tmp

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

LO_CHUNK = 256 * 1024  # bytes per lo_put / lo_get: what one blob holds in this process at a time
_INV_WRITE = 0x20000


class LargeObjectStore:
    """Blobs as PostgreSQL large objects, for instances on several machines (config `blob_store =
    "postgresql"`). The table blob_objects (migration 0010) names each one: blob id, oid, size, the
    day it arrived; and while it holds an upload's pieces, the upload's id and `touched`, the minute
    they were last written (both NULL once filed). Large objects are transactional: a writer's blob
    and its row appear together when its transaction commits, and a writer killed half way leaves
    nothing behind. Written and read in LO_CHUNK pieces with the server's lo_put and lo_get, never
    whole in memory.

    An upload's pieces go straight into a staged blob, found by its upload id (`write_at`, in the
    transaction that records the upload's new offset), so a piece appended on one instance and the
    next on another continue one upload (dropbox/uploads.py); filing it only clears the upload id
    (`file_staged`), in the report's own transaction."""

    files_by_moving = False

    def __init__(self, engine: Engine, incoming: Path) -> None:
        self.engine = engine
        self.incoming = Path(incoming)
        self.incoming.mkdir(parents=True, exist_ok=True, mode=0o700)

    @contextmanager
    def writer(self, blob_id: str | None = None) -> Iterator[_LargeObjectWriter]:
        """Yield a writer; on a clean exit the blob is committed under `writer.blob_id` (a new random
        id, or `blob_id`: `sealdrop blobs migrate` keeps a blob's name from another store)."""
        with self.engine.begin() as conn:
            oid = conn.scalar(text("SELECT lo_create(0)"))
            w = _LargeObjectWriter(conn, blob_id or secrets.token_hex(16), oid)
            yield w
            w.flush()
            conn.execute(
                text("INSERT INTO blob_objects (blob_id, oid, size, received_day) "
                     "VALUES (:blob_id, :oid, :size, :day)"),
                {"blob_id": w.blob_id, "oid": oid, "size": w.size, "day": _today()},
            )  # fmt: skip

    def open(self, blob_id: str) -> BinaryIO:
        conn = self.engine.connect()
        try:
            row = conn.execute(_ROW, {"blob_id": blob_id}).first()
        except BaseException:
            conn.close()
            raise
        if row is None:
            conn.close()
            raise FileNotFoundError(f"no blob {blob_id}")
        return io.BufferedReader(_LargeObjectReader(conn, row.oid, row.size), LO_CHUNK)

    def blob_ids(self) -> Iterator[str]:
        """Every filed blob's id (an open upload's staged blob is none)."""
        with self.engine.connect() as conn:
            ids = list(conn.scalars(text("SELECT blob_id FROM blob_objects WHERE upload_id IS NULL")))
        yield from ids

    def size(self, blob_id: str) -> int:
        with self.engine.connect() as conn:
            row = conn.execute(_ROW, {"blob_id": blob_id}).first()
        if row is None:
            raise FileNotFoundError(f"no blob {blob_id}")
        return row.size

    def exists(self, blob_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(_ROW, {"blob_id": blob_id}).first() is not None

    def delete(self, blob_id: str) -> None:
        with self.engine.begin() as conn:
            self.delete_in(conn, blob_id)

    def delete_in(self, conn: Connection, blob_id: str) -> None:
        """Delete a blob in the caller's transaction."""
        oid = conn.scalar(text("DELETE FROM blob_objects WHERE blob_id = :b RETURNING oid"), {"b": blob_id})
        if oid is not None:
            conn.execute(_UNLINK, {"oid": oid})

    def sweep_incoming(self, max_age_s: float) -> int:
        """Bundles a crashed desk request left in incoming/. A crashed writer leaves no blob here: its
        large object is rolled back with its transaction."""
        return _sweep_tmp(self.incoming, max_age_s)

    def sweep_orphans(self, referenced: Callable[[], Collection[str]], now: float | None = None) -> int:
        """As FileBlobStore.sweep_orphans: blobs no row names, ORPHAN_MIN_DAYS after their arrival day."""
        now = time.time() if now is None else now
        cutoff = dt.datetime.fromtimestamp(now - ORPHAN_MIN_DAYS * 86400, dt.UTC).date()
        with self.engine.connect() as conn:  # an open upload's staged blob is the uploads sweep's
            old = list(conn.scalars(_OLD, {"d": cutoff}))
        if not old:
            return 0
        named = set(referenced())
        doomed = [blob_id for blob_id in old if blob_id not in named]
        for blob_id in doomed:
            self.delete(blob_id)
        return len(doomed)

    # An upload's staged bytes, in the caller's transaction (dropbox/uploads.py, Uploads).

    def stage(self, session: Session, upload_id: str, blob_id: str) -> None:
        """Make the empty staged blob of a new upload, in the transaction that adds the upload's row,
        under `blob_id` if that name is free, else under a random one (an upload id used again after
        its first upload was filed: that blob is never written to again)."""
        conn = session.connection()
        if conn.scalar(text("SELECT 1 FROM blob_objects WHERE upload_id = :u"), {"u": upload_id}):
            return  # staged already: the same first piece, sent twice at once
        if conn.scalar(text("SELECT 1 FROM blob_objects WHERE blob_id = :b"), {"b": blob_id}):
            blob_id = secrets.token_hex(16)
        conn.execute(
            text("INSERT INTO blob_objects (blob_id, oid, size, received_day, upload_id, touched) "
                 "VALUES (:b, lo_create(0), 0, :day, :u, :minute)"),
            {"b": blob_id, "day": _today(), "u": upload_id, "minute": _this_minute()},
        )  # fmt: skip

    def staged(self, upload_id: str) -> str | None:
        """The blob id an upload's pieces are staged under, if it has any."""
        with self.engine.connect() as conn:
            return conn.scalar(_STAGED, {"u": upload_id})

    def staged_exists(self, upload_id: str) -> bool:
        return self.staged(upload_id) is not None

    def open_staged(self, upload_id: str) -> BinaryIO:
        blob_id = self.staged(upload_id)
        if blob_id is None:
            raise FileNotFoundError(f"no staged blob for upload {upload_id}")  # filed or swept meanwhile
        return self.open(blob_id)

    @contextmanager
    def writing_staged(self, session: Session, upload_id: str) -> Iterator[_LargeObjectPieces]:
        """One writer per upload at a time, across instances: a lock per upload in the database, held
        until the caller's transaction ends; each piece is written in the transaction that records the
        upload's new offset, so the offset and the bytes move together."""
        from . import db

        db.lock_for_writing(session, f"uploads.append:{upload_id}")
        yield _LargeObjectPieces(self, session.connection(), upload_id)

    def write_at(self, conn: Connection, upload_id: str, offset: int, body: BinaryIO, length: int) -> int:
        """Copy `length` bytes of `body` to `offset` of the upload's staged blob, LO_CHUNK at a time, in
        the caller's transaction; the blob ends after them. Returns the bytes copied: fewer than
        `length` if the body ended early (the caller rolls back). FileNotFoundError if the upload has
        no staged blob (swept)."""
        row = conn.execute(
            text("SELECT blob_id, oid FROM blob_objects WHERE upload_id = :u FOR UPDATE"), {"u": upload_id}
        ).first()
        if row is None:
            raise FileNotFoundError(f"no staged blob for upload {upload_id}")
        conn.execute(
            text("SELECT lo_truncate64(lo_open(CAST(:oid AS oid), :mode), :at)"),
            {"oid": row.oid, "mode": _INV_WRITE, "at": offset},
        )
        copied = 0
        while copied < length and (chunk := body.read(min(LO_CHUNK, length - copied))):
            conn.execute(_PUT, {"oid": row.oid, "at": offset + copied, "data": chunk})
            copied += len(chunk)
        conn.execute(
            text("UPDATE blob_objects SET size = :size, touched = :minute WHERE blob_id = :b"),
            {"size": offset + copied, "minute": _this_minute(), "b": row.blob_id},
        )
        return copied

    def file_staged(self, session: Session, upload_id: str, blob_id: str) -> str:
        """An upload's staged blob is filed in the caller's transaction: it keeps only the day, as every
        filed blob does, and its blob id (returned; the name it was staged under) names it alone."""
        blob_id = session.connection().scalar(
            text("UPDATE blob_objects SET upload_id = NULL, touched = NULL, received_day = :day "
                 "WHERE upload_id = :u RETURNING blob_id"),
            {"day": _today(), "u": upload_id},
        )  # fmt: skip
        if blob_id is None:
            raise FileNotFoundError(f"no staged blob for upload {upload_id}")
        return blob_id

    def unfile_staged(self, upload_id: str, blob_id: str) -> None:
        """Nothing to undo: the caller's rollback keeps the blob staged."""

    def discard_staged(self, upload_id: str, session: Session | None = None) -> None:
        """Delete an upload's staged blob (an upload swept or dropped), in the session's transaction
        when given, else in one of its own."""
        if session is not None:
            self._delete_staged(session.connection(), upload_id)
            return
        with self.engine.begin() as conn:
            self._delete_staged(conn, upload_id)

    def _delete_staged(self, conn: Connection, upload_id: str) -> None:
        oid = conn.scalar(
            text("DELETE FROM blob_objects WHERE upload_id = :u RETURNING oid"), {"u": upload_id}
        )
        if oid is not None:
            conn.execute(_UNLINK, {"oid": oid})

    def staged_idle(self, session: Session, now: float) -> dict[str, float]:
        """By upload id: seconds since its staged blob was last written to (to the minute)."""
        written = self.last_written(session.connection())
        return {upload_id: now - touched.timestamp() for upload_id, (_, touched) in written.items()}

    def staged_blob_ids(self, session: Session) -> set[str]:
        return {blob_id for blob_id, _ in self.last_written(session.connection()).values()}

    def last_written(self, conn: Connection) -> dict[str, tuple[str, dt.datetime]]:
        """By upload id: its staged blob and when it was last written to (to the minute, UTC)."""
        rows = conn.execute(
            text("SELECT upload_id, blob_id, touched FROM blob_objects WHERE upload_id IS NOT NULL")
        )
        return {row.upload_id: (row.blob_id, row.touched.replace(tzinfo=dt.UTC)) for row in rows}


_OLD = text(
    "SELECT blob_id FROM blob_objects WHERE received_day <= :d"
    " AND (upload_id IS NULL OR upload_id NOT IN (SELECT id FROM uploads))"
)
_STAGED = text("SELECT blob_id FROM blob_objects WHERE upload_id = :u")
_UNLINK = text("SELECT lo_unlink(CAST(:oid AS oid))")
_ROW = text("SELECT oid, size FROM blob_objects WHERE blob_id = :blob_id")
_PUT = text("SELECT lo_put(CAST(:oid AS oid), CAST(:at AS bigint), :data)")
_GET = text("SELECT lo_get(CAST(:oid AS oid), CAST(:at AS bigint), CAST(:n AS integer))")


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _this_minute() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0, tzinfo=None)


class _LargeObjectPieces:
    def __init__(self, store: LargeObjectStore, conn: Connection, upload_id: str) -> None:
        self._store, self._conn, self._upload_id = store, conn, upload_id

    def write(self, offset: int, body: BinaryIO, length: int) -> int:
        """An early end keeps nothing of the piece once the caller rolls back."""
        return self._store.write_at(self._conn, self._upload_id, offset, body, length)


class _LargeObjectWriter:
    """Collects writes into LO_CHUNK pieces, each put into the large object as it fills."""

    def __init__(self, conn: Connection, blob_id: str, oid: int) -> None:
        self.blob_id = blob_id
        self.size = 0
        self._conn = conn
        self._oid = oid
        self._pending = bytearray()

    def write(self, data: bytes | memoryview) -> int:
        self._pending += data
        while len(self._pending) >= LO_CHUNK:
            self._put(bytes(self._pending[:LO_CHUNK]))
            del self._pending[:LO_CHUNK]
        return len(data)

    def flush(self) -> None:
        if self._pending:
            self._put(bytes(self._pending))
            self._pending.clear()

    def _put(self, chunk: bytes) -> None:
        self._conn.execute(_PUT, {"oid": self._oid, "at": self.size, "data": chunk})
        self.size += len(chunk)


class _LargeObjectReader(io.RawIOBase):
    """A large object read LO_CHUNK at a time on a connection of its own, given back on close."""

    def __init__(self, conn: Connection, oid: int, size: int) -> None:
        self._conn, self._oid, self._size, self._at = conn, oid, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        want = min(len(b), LO_CHUNK, self._size - self._at)
        if want <= 0:
            return 0
        data = self._conn.scalar(_GET, {"oid": self._oid, "at": self._at, "n": want})
        b[: len(data)] = data
        self._at += len(data)
        return len(data)

    def readall(self) -> bytes:
        out = bytearray()
        while chunk := self.read(LO_CHUNK):
            out += chunk
        return bytes(out)

    def close(self) -> None:
        if not self.closed:
            self._conn.close()
        super().close()
