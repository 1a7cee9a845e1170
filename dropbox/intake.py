"""Taking in reports: routing, sealing on the no-JS path, checking browser-sealed uploads, storing.

Both paths end in `file_submission`, which commits the rows for envelopes already durable in the
blob store; each path makes the whole submission all or nothing (`seal_and_file` on the no-JS path,
`Uploads.finishing` on the JS path), so a refusal or a crash leaves no orphan blob and no half case.
The report itself is a JSON document (docs/report.md) sealed as envelope 0; every
attachment is its own envelope, so large videos stream and resume independently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import crypto
from crypto import PublicKey, Receipt, RecipientKey

from .blobs import FileBlobStore
from .config import Config
from .models import Case, Category, Desk, Officer, Part, Submission, Upload
from .scrub import Clean

REPORT_FORMAT = "sealdrop-report/1"
UPLOAD_MAX_AGE_HOURS = 24  # an upload nobody wrote to for this long is abandoned; config extra may change it
SWEEP_EVERY = 3600.0  # seconds between sweeps of abandoned uploads in one process
COPY_CHUNK = 64 * 1024
CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class IntakeError(ValueError):
    """A submission we refuse; `code` picks the message the reporter sees."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def recipients(category: Category) -> list[RecipientKey]:
    keys = [PublicKey.parse(o.public_key).recipient for o in category.recipients()]
    if not keys:
        raise IntakeError("no_recipients")
    return keys


def new_case_number() -> str:
    raw = "".join(secrets.choice(CASE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def open_case(session: Session, desk: Desk, lookup_id: bytes, reply_public: bytes) -> Case:
    if len(lookup_id) != 32 or len(reply_public) != 32:
        raise IntakeError("bad_request")
    if session.scalar(select(Case.id).where(Case.lookup_id == lookup_id)) is not None:
        raise IntakeError("receipt_in_use")
    for _ in range(5):
        case = Case(desk=desk, number=new_case_number(), lookup_id=lookup_id, reply_public=reply_public)
        session.add(case)
        try:
            session.flush()
            return case
        except IntegrityError:  # the rare repeated case number
            session.rollback()
    raise IntakeError("try_again")


def case_recipients(session: Session, store: FileBlobStore, case: Case) -> list[RecipientKey]:
    """Additions go to the keys the case's first report was sealed to, read from its envelope header
    (the server does not store the category), less any officer removed since. Once retention has
    deleted the first report's ciphertext, the oldest submission still held (sealed to the same keys)."""
    first = next((s.parts[0] for s in case.submissions if s.parts), None)
    if first is None:  # every envelope of the case is gone: nobody left to read the header of
        raise IntakeError("no_recipients")
    with store.open(first.blob_id) as f:
        key_ids = {k.hex() for k in crypto.recipient_key_ids(f)}
    officers = session.scalars(
        select(Officer).where(Officer.desk_id == case.desk_id, Officer.confirmed)
    ).all()
    keys = [PublicKey.parse(o.public_key).recipient for o in officers if o.key_id in key_ids]
    if not keys:
        raise IntakeError("no_recipients")
    return keys


def find_case(session: Session, lookup_id: bytes) -> Case | None:
    return session.scalar(select(Case).where(Case.lookup_id == lookup_id))


@dataclass(frozen=True)
class ReportFields:
    """What the reporter typed, as the no-JS form delivers it (already validated)."""

    language: str
    what: str
    when: str = ""
    where: dict | None = None
    contact: str = ""


def report_document(
    kind: str,
    desk: Desk,
    category: Category | None,
    fields: ReportFields,
    attachments: Sequence[Clean],
    reply_public: bytes | None,
    case_number: str | None = None,
) -> bytes:
    """The plaintext of envelope 0 (docs/report.md)."""
    doc = {
        "format": REPORT_FORMAT,
        "kind": kind,
        "sealed_by": "server",
        "desk": desk.slug,
        "language": fields.language,
        "category": {"slug": category.slug, "name": category.name("en")} if category else None,
        "what": fields.what,
        "when": fields.when,
        "where": fields.where or {"mode": "none"},
        "contact": fields.contact,
        "reply_public": reply_public.hex() if reply_public else None,
        "case_number": case_number,
        "attachments": [
            {
                "name": a.name,
                "type": a.mime,
                "size": len(a.data),
                "sha256": hashlib.sha256(a.data).hexdigest(),
                "metadata": a.metadata,
            }
            for a in attachments
        ],
    }
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def seal_on_server(
    store: FileBlobStore, keys: Sequence[RecipientKey], plaintexts: Sequence[bytes]
) -> list[str]:
    """Seal each plaintext from memory straight into the blob store; returns the blob ids. If one
    fails, the blobs already written are deleted again."""
    blob_ids: list[str] = []
    try:
        for data in plaintexts:
            with store.writer() as w:
                crypto.seal(io.BytesIO(data), w, keys)
            blob_ids.append(w.blob_id)
    except BaseException:
        _delete_blobs(store, blob_ids)
        raise
    return blob_ids


def seal_and_file(
    session: Session,
    store: FileBlobStore,
    case: Case,
    desk: Desk,
    keys: Sequence[RecipientKey],
    plaintexts: Sequence[bytes],
) -> Submission:
    """The no-JS path's last step, all or nothing: seal into the store, then commit the rows. If
    sealing or the commit fails, the session is rolled back (the case it opened with it) and the new
    blobs are deleted, so nothing is half stored."""
    blob_ids: list[str] = []
    try:
        blob_ids = seal_on_server(store, keys, plaintexts)
        return file_submission(session, store, case, desk, blob_ids, "server")
    except BaseException:
        session.rollback()
        _delete_blobs(store, blob_ids)
        raise


def _delete_blobs(store: FileBlobStore, blob_ids: Sequence[str]) -> None:
    for blob_id in blob_ids:
        store.delete(blob_id)


def file_submission(
    session: Session, store: FileBlobStore, case: Case, desk: Desk, blob_ids: Sequence[str], sealed_by: str
) -> Submission:
    """Record blobs that are already durable in the store as one submission, and commit."""
    parts = [Part(position=i, blob_id=b, size=store.size(b)) for i, b in enumerate(blob_ids)]
    sub = Submission(
        case=case, desk_id=desk.id, sealed_by=sealed_by, size=sum(p.size for p in parts), parts=parts
    )
    session.add(sub)
    session.commit()
    return sub


def upload_max_age_s(cfg: Config) -> float:
    """How long an upload may sit untouched before it is abandoned (config extra `upload_max_age_hours`)."""
    return cfg.extra.get("upload_max_age_hours", UPLOAD_MAX_AGE_HOURS) * 3600


def server_receipt() -> Receipt:
    """No-JS path: the server makes the receipt, shows it once and keeps only what it derives."""
    return Receipt.generate()


# --- resumable uploads of browser-sealed envelopes -------------------------------------------


class Uploads:
    """Pieces of ciphertext arriving over a slow circuit, appended in order, resumable by offset."""

    def __init__(self, root: Path, max_size: int) -> None:
        self.root = Path(root) / "uploads"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_size = max_size
        self._sweeping = threading.Lock()
        self._next_sweep = 0.0  # monotonic time; the first new upload of a process sweeps

    def path(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.part"

    def start(self, session: Session, desk: Desk, size: int) -> Upload:
        if not 0 < size <= self.max_size:
            raise IntakeError("too_large")
        upload = Upload(id=secrets.token_hex(16), desk_id=desk.id, size=size)
        self.path(upload.id).touch(mode=0o600)
        session.add(upload)
        session.commit()
        return upload

    def append(self, session: Session, upload: Upload, offset: int, body: BinaryIO, length: int) -> int:
        """Append the `length` bytes `body` holds at `offset`, copying 64 KiB at a time (a piece is never
        held whole); a retried piece we already hold is accepted again, idempotently."""
        if offset != upload.received:
            if offset < upload.received and offset + length <= upload.received:
                return upload.received  # a retry of a piece we already hold
            raise IntakeError("wrong_offset")
        if upload.received + length > upload.size:
            raise IntakeError("too_large")
        with open(self.path(upload.id), "r+b") as f:
            f.seek(offset)
            copied = 0
            while copied < length and (chunk := body.read(min(COPY_CHUNK, length - copied))):
                f.write(chunk)
                copied += len(chunk)
            if copied != length:  # the body ended early: drop what arrived, the client resends
                f.truncate(offset)
                raise IntakeError("short_piece")
            f.truncate()
        upload.received += length
        session.commit()
        return upload.received

    def check(self, upload: Upload, keys: Sequence[RecipientKey]) -> None:
        """Refuse the upload unless it is complete and an envelope to exactly `keys`."""
        if upload.received != upload.size:
            raise IntakeError("incomplete_upload")
        try:
            with open(self.path(upload.id), "rb") as f:
                sealed_to = set(crypto.recipient_key_ids(f))
        except crypto.EnvelopeError:
            raise IntakeError("not_an_envelope") from None
        except FileNotFoundError:  # finished by a concurrent request a moment ago
            raise IntakeError("unknown_upload") from None
        if sealed_to != {k.key_id for k in keys}:
            raise IntakeError("wrong_recipients")

    @contextmanager
    def finishing(
        self, session: Session, store: FileBlobStore, uploads: Sequence[Upload], keys: Sequence[RecipientKey]
    ) -> Iterator[list[str]]:
        """All or nothing: check every upload first, then move them all into the store and yield their
        blob ids for the caller to file and commit. If anything in the block fails (a later step, the
        commit itself), the session is rolled back and the files go back where they were, so the
        upload rows the rollback restores still point at their files and the client can retry."""
        for upload in uploads:
            self.check(upload, keys)
        moved: list[str] = []
        try:
            for upload in uploads:
                moved.append(store.adopt(self.path(upload.id)))
                session.delete(upload)
            yield moved
        except BaseException:
            session.rollback()
            for upload, blob_id in zip(uploads, moved, strict=False):
                store.give_back(blob_id, self.path(upload.id))
            raise

    def sweep_if_due(self, session: Session, store: FileBlobStore, max_age_s: float) -> int:
        """Sweep at most once per SWEEP_EVERY per process, and never in two threads at once."""
        if time.monotonic() < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return 0
        try:
            self._next_sweep = time.monotonic() + SWEEP_EVERY
            return self.sweep_abandoned(session, store, max_age_s)
        finally:
            self._sweeping.release()

    def sweep_abandoned(self, session: Session, store: FileBlobStore, max_age_s: float) -> int:
        """Abandoned uploads (`sweep`) and the temporary files a crashed blob writer left, both."""
        return self.sweep(session, max_age_s) + store.sweep_incoming(max_age_s)

    def sweep(self, session: Session, max_age_s: float, now: float | None = None) -> int:
        """Delete abandoned uploads: a .part file nobody wrote to for `max_age_s` (with its row), and a
        row whose file is gone and that is older than that. Returns how many were deleted. What is
        swept is ciphertext only; the reporter's browser starts a new upload when it comes back."""
        now = time.time() if now is None else now
        rows = {u.id: u for u in session.scalars(select(Upload))}
        removed = 0
        for path in self.root.glob("*.part"):
            try:
                idle = now - path.stat().st_mtime
            except FileNotFoundError:  # finished a moment ago
                continue
            if idle >= max_age_s:
                path.unlink(missing_ok=True)
                removed += 1
                if (row := rows.pop(path.stem, None)) is not None:
                    session.delete(row)
        oldest_kept = dt.datetime.fromtimestamp(now - max_age_s, dt.UTC).date()
        for upload_id, row in rows.items():
            if row.created_day < oldest_kept and not self.path(upload_id).exists():
                session.delete(row)
                removed += 1
        session.commit()
        return removed
