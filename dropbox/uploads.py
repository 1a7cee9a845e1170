"""Resumable uploads of browser-sealed envelopes (the JavaScript path; dropbox/intake.py files them).

Pieces of ciphertext arrive over a slow circuit, are appended in order and resume by offset; caps on
uploads open at once and on stored ciphertext (UploadLimits) are counted in the database, so every
process and instance counts the same uploads.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from crypto import RecipientKey

from . import db
from .blobs import BlobStore, FileBlobStore
from .config import Config
from .intake import IntakeError, check_sealed_to, sweep_form_tokens
from .models import Desk, DeskStorage, Part, Reply, Upload

SWEEP_EVERY = 3600.0  # seconds between sweeps of abandoned uploads in one process
PRESSURE_SWEEP_EVERY = 30.0  # seconds between sweeps on the short clock, in one process


@dataclass(frozen=True)
class UploadLimits:
    """Caps on uploads open at once, by count and by bytes declared, per desk and overall (Config,
    docs/operator-guide.md "Resource budgets"). Declared bytes bound what uploads can hold on disk:
    a piece past its upload's declared size is refused."""

    count_per_desk: int
    count: int
    bytes_per_desk: int
    bytes: int
    pressure: float  # the share of any cap past which abandoned uploads are swept on the short clock
    pressure_idle_s: float
    stored_per_desk: int = 0  # ciphertext held (filed and uploading), per desk and overall; 0: no cap
    stored: int = 0

    @classmethod
    def of(cls, cfg: Config) -> UploadLimits:
        return cls(cfg.max_open_uploads_per_desk, cfg.max_open_uploads, cfg.max_upload_bytes_per_desk,
                   cfg.max_upload_bytes, cfg.upload_pressure, cfg.upload_pressure_idle_s,
                   cfg.max_stored_bytes_per_desk, cfg.max_stored_bytes)  # fmt: skip

    def has_room(self, held: tuple[int, int], size: int) -> bool:
        """`held`: the ciphertext bytes the desk holds (filed and declared by open uploads), then all."""
        caps = (self.stored_per_desk, self.stored)
        return all(not cap or used + size <= cap for used, cap in zip(held, caps, strict=True))

    def caps(self) -> tuple[int, int, int, int]:
        return self.count_per_desk, self.bytes_per_desk, self.count, self.bytes

    def admits(self, open_now: tuple[int, int, int, int], size: int) -> bool:
        """`open_now`: the desk's open uploads and their declared bytes, then everyone's."""
        after = (open_now[0] + 1, open_now[1] + size, open_now[2] + 1, open_now[3] + size)
        return all(used <= cap for used, cap in zip(after, self.caps(), strict=True))

    def pressed(self, open_now: tuple[int, int, int, int]) -> bool:
        return any(used > cap * self.pressure for used, cap in zip(open_now, self.caps(), strict=True))


def _usage(
    session: Session, desk: Desk, *, held: bool = True
) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """In one statement: the open uploads (the desk's count and declared bytes, then everyone's), and
    with `held` the ciphertext the store holds or has promised to open uploads (the desk's, then
    everyone's; else zeros). One statement, not six: a report asks on every call. Run on the session's
    connection, not `session.execute`: a Core select gains nothing from the ORM's execution path, which
    cost 5% of a no-JS report's instructions (callgrind, 7.52 M against 7.16 M a report in the app)."""
    statement = _usage_statement(held)
    row = [int(v) for v in session.connection().execute(statement, {"desk_id": desk.id}).one()]
    open_now = (row[0], row[1], row[2], row[3])
    return open_now, ((row[4] + row[1], row[5] + row[3]) if held else (0, 0))


@functools.cache
def _usage_statement(held: bool) -> Select:
    """_usage's statement, built once (building it per call cost more CPU than running it)."""
    counted, declared = select(func.count(Upload.id)), select(func.coalesce(func.sum(Upload.size), 0))
    filed = select(func.coalesce(func.sum(DeskStorage.stored_bytes), 0))  # a row per desk (add_stored)
    desk_id = bindparam("desk_id")
    mine = Upload.desk_id == desk_id
    sums = [counted.where(mine), declared.where(mine), counted, declared]
    if held:
        sums += [filed.where(DeskStorage.desk_id == desk_id), filed]
    return select(*(q.scalar_subquery() for q in sums))


class Uploads:
    """Pieces of ciphertext arriving over a slow circuit, appended in order, resumable by offset.

    The pieces are staged where the instance's blob store keeps blobs (the BlobStore staging methods,
    dropbox/blobs.py): a .part file each in the file store, written under an exclusive lock on it, and
    moved into the store when the upload is filed; or a staged large object in the shared PostgreSQL
    store, written under a lock per upload in the database in the transaction that records the new
    offset, so a piece sent to one instance and the next to another continue one upload, and filed in
    the report's own transaction (nothing moves, a crash leaves nothing to put back)."""

    def __init__(
        self, store: BlobStore, max_size: int, limits: UploadLimits | None = None, *, blob_key: bytes
    ) -> None:
        self.store = store
        self._blob_key = blob_key  # the instance secret (Config.secret_key): see blob_id
        self.max_size = max_size
        self.limits = limits  # None: no caps but the size of one upload (the CLI's sweeps)
        self._admitting = threading.Lock()  # counting open uploads and adding one: one step
        self._sweeping = threading.Lock()
        self._next_sweep = 0.0  # monotonic time; the first new upload of a process sweeps
        self._next_pressure_sweep = 0.0

    def path(self, upload_id: str) -> Path:
        """The .part file of an upload (the file store only)."""
        assert isinstance(self.store, FileBlobStore)
        return self.store.staged_path(upload_id)

    def discard(self, upload_id: str) -> None:
        """Drop the pieces of an upload that will never be filed (its row goes with the caller)."""
        self.store.discard_staged(upload_id)

    def blob_id(self, upload_id: str) -> str:
        """The name a finished upload gets in the blob store: one its row leads back to after a crash
        (`put_back_moved`), keyed with the instance secret so that the browser, which chose the upload
        id, cannot choose or predict a blob's name."""
        mac = hmac.new(self._blob_key, b"sealdrop upload blob\x00" + upload_id.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def start(self, session: Session, desk: Desk, size: int, upload_id: str | None = None) -> Upload:
        """A new upload of `size` bytes (under `upload_id` when the browser chose it), or IntakeError
        "too_large" (one upload) or "uploads_full" (past a cap: the client tries again later). An
        IntegrityError from the commit means an upload with this id exists already."""
        if not 0 < size <= self.max_size:
            raise IntakeError("too_large")
        with self._admitting:
            self._admit(session, desk, size)
            upload = Upload(id=upload_id or secrets.token_hex(16), desk_id=desk.id, size=size)
            self.store.stage(session, upload.id, self.blob_id(upload.id))
            session.add(upload)
            session.commit()
        return upload

    def _admit(self, session: Session, desk: Desk, size: int) -> None:
        """Refuse past a cap, counting under a lock every process's starts take (db.lock_for_writing),
        held until the caller commits the new upload: two starts never both take the last place."""
        if self.limits is None:
            return
        self._sweep_if_pressed(session, desk, self.limits)
        db.lock_for_writing(session, "uploads.start")
        open_now, held = _usage(session, desk)
        if not self.limits.admits(open_now, size):
            session.rollback()  # lets the next start in at once
            raise IntakeError("uploads_full")
        if not self.limits.has_room(held, size):
            session.rollback()
            raise IntakeError("store_full")

    def check_room(self, session: Session, desk: Desk, size: int) -> None:
        """IntakeError "store_full" if `size` more bytes of ciphertext would take the desk's (or the
        instance's) store past its budget: the no-JS path asks before it seals."""
        if self.limits is not None and not self.limits.has_room(_usage(session, desk)[1], size):
            raise IntakeError("store_full")

    def _sweep_if_pressed(self, session: Session, desk: Desk, limits: UploadLimits) -> None:
        """Past `limits.pressure` of a cap, abandoned uploads go after `pressure_idle_s` already."""
        if time.monotonic() < self._next_pressure_sweep or not limits.pressed(self.open_now(session, desk)):
            return
        every = min(PRESSURE_SWEEP_EVERY, limits.pressure_idle_s)  # no use sweeping sooner
        self._next_pressure_sweep = time.monotonic() + every
        self.sweep(session, limits.pressure_idle_s)

    def open_now(self, session: Session, desk: Desk) -> tuple[int, int, int, int]:
        """The desk's open uploads and the bytes they declare, then everyone's."""
        return _usage(session, desk, held=False)[0]

    def append(self, session: Session, upload: Upload, offset: int, body: BinaryIO, length: int) -> int:
        """Append the `length` bytes `body` holds at `offset`, copied a chunk at a time (a piece is never
        held whole); a retried piece we already hold is accepted again, idempotently. One writer per
        upload at a time, across threads, processes and instances (the store's `writing_staged`): the
        offset is checked against the row read under that hold, and the new offset committed before it
        is let go. On any refusal the session is rolled back, which lets the hold go."""
        try:
            with self.store.writing_staged(session, upload.id) as pieces:
                _reread(session, upload)
                if offset != upload.received:
                    if offset < upload.received and offset + length <= upload.received:
                        received = upload.received
                        session.rollback()
                        return received  # a retry of a piece we already hold
                    raise IntakeError("wrong_offset")
                if upload.received + length > upload.size:
                    raise IntakeError("too_large")
                if pieces.write(offset, body, length) != length:
                    raise IntakeError("short_piece")  # nothing of it is kept: the client resends
                upload.received += length
                session.commit()
                return upload.received
        except FileNotFoundError:  # finished or swept a moment ago
            session.rollback()
            raise IntakeError("unknown_upload") from None
        except BaseException:
            session.rollback()
            raise

    def check(self, upload: Upload, keys: Sequence[RecipientKey]) -> None:
        """Refuse the upload unless it is complete and an envelope to exactly `keys`."""
        if upload.received != upload.size:
            raise IntakeError("incomplete_upload")
        try:
            with self.store.open_staged(upload.id) as f:
                check_sealed_to(f, keys)
        except FileNotFoundError:  # finished by a concurrent request a moment ago
            raise IntakeError("unknown_upload") from None

    @contextmanager
    def finishing(
        self, session: Session, store: BlobStore, uploads: Sequence[Upload], keys: Sequence[RecipientKey]
    ) -> Iterator[list[str]]:
        """All or nothing: check every upload first, then file them all in the store (`store` is this
        instance's, the one the uploads are staged in) and yield their blob ids for the caller to file
        and commit. If anything in the block fails (a later step, the commit itself), the session is
        rolled back and the staged bytes go back where they were, so the upload rows the rollback
        restores still lead to them and the client can retry."""
        self.put_back_moved(session, store, uploads)
        _lock_all(session, uploads)  # a crashed finishing is put back only when none is on its way
        for upload in uploads:
            if not self.store.files_by_moving:  # else a twin request's filing took the staged file along
                _reread(session, upload)  # filed by a twin request meanwhile: unknown_upload
            self.check(upload, keys)
        filed: list[str] = []
        try:
            for upload in uploads:
                filed.append(self.store.file_staged(session, upload.id, self.blob_id(upload.id)))
                session.delete(upload)
            yield filed
        except BaseException as error:
            session.rollback()
            if db.committed(error):  # the parts that name the filed blobs stand; the uploads are gone
                raise
            for upload, blob_id in zip(uploads, filed, strict=False):
                self.store.unfile_staged(upload.id, blob_id)
            raise

    def put_back_moved(self, session: Session, store: BlobStore, uploads: Sequence[Upload]) -> None:
        """Undo the moves of a `finishing` that a crash (kill -9, power cut) cut off before its commit,
        in a store that files by moving (the file store; in the large-object store filing is part of
        the commit): an upload whose row still exists was never filed, so if its staged file is gone
        but a blob of its name (`blob_id`) is in the store and no part names it, that blob is its file,
        and it goes back. The report call then goes on: the upload resumes instead of being sent anew.
        Decided under the locks `finishing` holds until its commit, so a finishing still on its way (a
        twin request) is waited for, never undone; IntakeError "unknown_upload" if it filed the upload."""
        if not self.store.files_by_moving or all(self.store.staged_exists(u.id) for u in uploads):
            return
        _lock_all(session, uploads)
        for upload in uploads:
            _reread(session, upload)
            blob_id = self.blob_id(upload.id)
            if (
                self.store.staged_exists(upload.id)
                or not self.store.exists(blob_id)
                or _named_by_a_part(session, blob_id)
            ):
                continue  # whole, or truly gone (swept): `check` says unknown_upload
            self.store.unfile_staged(upload.id, blob_id)

    def sweep_if_due(self, session: Session, store: BlobStore, max_age_s: float) -> int:
        """Sweep at most once per SWEEP_EVERY per process, and never in two threads at once."""
        if time.monotonic() < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return 0
        try:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            return self.sweep_abandoned(session, store, max_age_s)
        finally:
            self._sweeping.release()

    def sweep_abandoned(self, session: Session, store: BlobStore, max_age_s: float) -> int:
        """Abandoned uploads (`sweep`), the temporary files a crashed blob writer left, the blobs a crash
        left without a row (once two days old), and old filed forms' tokens. Returns how many of
        these it deleted."""
        swept = self.sweep(session, max_age_s) + store.sweep_incoming(max_age_s)
        swept += store.sweep_orphans(lambda: self.named_blob_ids(session))
        return swept + sweep_form_tokens(session)

    def named_blob_ids(self, session: Session) -> set[str]:
        """Every blob a row leads to: submissions' parts, replies, the staged blobs of open uploads, and
        the blob each open upload's name would have, which a finishing cut off by a crash left behind
        and `put_back_moved` takes back when the reporter returns (it becomes an orphan once the sweep
        deletes its upload row)."""
        filed = select(Part.blob_id).union(select(Reply.blob_id))
        named = set(session.scalars(filed)) | self.store.staged_blob_ids(session)
        named.update(self.blob_id(upload_id) for upload_id in session.scalars(select(Upload.id)))
        return named

    def sweep(self, session: Session, max_age_s: float, now: float | None = None) -> int:
        """Delete abandoned uploads: staged bytes nobody wrote to for `max_age_s` (with their row), and
        a row without staged bytes that is older than that. Returns how many were deleted. What is
        swept is ciphertext only; the reporter's browser starts a new upload when it comes back.
        Instances sweep one at a time, each seeing what the last left."""
        now = time.time() if now is None else now
        db.lock_for_writing(session, "uploads.sweep")
        idle = self.store.staged_idle(session, now)
        rows = {u.id: u for u in session.scalars(select(Upload))}
        removed = 0
        for upload_id, idle_s in idle.items():
            row = rows.pop(upload_id, None)
            if idle_s >= max_age_s:
                self.store.discard_staged(upload_id, session)
                removed += 1
                if row is not None:
                    session.delete(row)
        oldest_kept = dt.datetime.fromtimestamp(now - max_age_s, dt.UTC).date()
        for row in rows.values():  # no staged bytes: gone, or a start still committing
            if row.created_day < oldest_kept:
                session.delete(row)
                removed += 1
        session.commit()
        return removed


def uploads_for(cfg: Config, store: BlobStore, limits: UploadLimits | None = None) -> Uploads:
    """The uploads of an instance, staged where its blob store keeps blobs."""
    return Uploads(store, cfg.max_envelope_bytes, limits, blob_key=cfg.secret_key)


def _lock_all(session: Session, uploads: Sequence[Upload]) -> None:
    """Take the finishing lock of every upload, in one order for every caller (no deadlock between
    two calls naming the same uploads); held until the session's transaction ends."""
    for upload_id in sorted(u.id for u in uploads):
        db.lock_for_writing(session, f"uploads.finish:{upload_id}")


def _named_by_a_part(session: Session, blob_id: str) -> bool:
    """Whether a filed part names this blob: an upload id used again after its upload was filed
    leads to the blob of the first, which is not its to take back."""
    return session.scalar(select(Part.id).where(Part.blob_id == blob_id).limit(1)) is not None


def _reread(session: Session, upload: Upload) -> None:
    """The row as another writer may just have left it (read under the file's lock)."""
    try:
        session.refresh(upload)
    except InvalidRequestError:  # deleted: the upload was finished or swept meanwhile
        raise IntakeError("unknown_upload") from None
